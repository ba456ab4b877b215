"""`python -m gemma4_audio_embed`: the `gemma4-embed` console script (launch a job, or `verify`)."""

from gemma4_audio_embed.pipeline.cli import main

if __name__ == "__main__":
    main()
