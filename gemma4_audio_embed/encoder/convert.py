"""Bake a Hugging Face Gemma 4 checkpoint's audio encoder into one `.keras` file.

    python -m gemma4_audio_embed.encoder.convert --hf_checkpoint DIR --output FILE.keras [--dtype float32]

The file loads with `keras.saving.load_model(FILE)` on any backend, without the checkpoint.
"""

import argparse
import sys

from gemma4_audio_embed.encoder.hf_checkpoint import load_hf_checkpoint
from gemma4_audio_embed.encoder.inference import weights_digest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hf_checkpoint", required=True, help="HF Gemma 4 checkpoint folder.")
    parser.add_argument("--output", required=True, help="Path of the .keras file to write.")
    parser.add_argument("--dtype", default="float32", help="Dtype policy of the saved model.")
    args = parser.parse_args(argv)
    if not args.output.endswith(".keras"):
        parser.error(f"--output must end with .keras; got {args.output!r}.")
    model = load_hf_checkpoint(args.hf_checkpoint, dtype=args.dtype)
    model.save(args.output)
    print(f"Wrote {args.output} (weights digest {weights_digest(model)[:16]}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
