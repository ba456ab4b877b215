"""`python -m gemma4_audio_embed`: the `gemma4-embed` console script (launch a job, or `verify`)."""

from gemma4_audio_embed.pipeline.cli import entry_point

if __name__ == "__main__":
    entry_point()
