"""What both fine-tuning examples share: their flags, the embedding job, the corpus's transcripts and the loss line.

The loss line, `step <n> loss <value>`, is what tests/training/test_finetune_examples.py reads.
"""

import argparse
import json
import pathlib
import tempfile

from gemma4_audio_embed.pipeline.cli import run

EXAMPLES = pathlib.Path(__file__).resolve().parent
DEFAULT_CORPUS = EXAMPLES / "transcripts.jsonl"  # the example clips with their transcripts


def parser(description: str, model_help: str) -> argparse.ArgumentParser:
    flags = argparse.ArgumentParser(description=description)
    flags.add_argument("--model", default=None, help=model_help)
    flags.add_argument(
        "--corpus", default=str(DEFAULT_CORPUS), help="a JSONL manifest with `text` (default: the examples)"
    )
    flags.add_argument("--output", default=None, help="where the records go (default: a temporary folder)")
    flags.add_argument("--steps", type=int, default=10, help="optimizer steps")
    flags.add_argument("--learning_rate", type=float, default=3e-3)
    flags.add_argument("--max_tokens", type=int, default=16384, help="padded tokens per batch")
    flags.add_argument("--seed", type=int, default=0)
    return flags


def work_folder(output: str) -> pathlib.Path:
    return pathlib.Path(output) if output else pathlib.Path(tempfile.mkdtemp(prefix="gemma4_finetune_"))


def transcripts(manifest: str) -> list[str]:
    """The `text` of every entry of a JSONL manifest (the tiny tokenizers learn their pieces from them)."""
    with open(manifest) as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def embed(manifest: str, folder: pathlib.Path, *model_flags: str) -> str:
    """Runs the embedding job on `manifest` into ArrayRecord files under `folder`; returns the --output prefix."""
    prefix = str(folder / "records" / "embeddings")
    run(["--input", manifest, "--output", prefix, "--output_format", "array_record", *model_flags])
    return prefix


def print_loss(step: int, loss: float) -> None:
    print(f"step {step} loss {loss:.4f}", flush=True)
