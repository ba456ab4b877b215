"""`python -m pipeline`: sets up logging and runs the embedding job."""

import logging

from pipeline.main import run

if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    run()
