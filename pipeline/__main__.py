"""`python -m pipeline`: the `gemma4-embed` console script (logging, launch errors, `run`)."""

from pipeline.main import main

if __name__ == "__main__":
    main()
