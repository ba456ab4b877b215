"""Sizes of the index and of ArrayRecord against TFRecord, and the time `verify` takes, on the bench corpus.

Makes bench/pipeline.py's corpus (same seed, same length mix), then runs the pipeline twice,
`--output_format tfrecord` and `array_record`, and times `pipeline.verify.verify` on each
output. The sizes depend only on the clips and the embedding width, not on the weights, so the
encoder is a one-layer narrow one with E2B's output width (1536, `--output_dim`): its records are
exactly as large as E2B's at the same `--output_dtype`, and the runs take minutes, not hours,
on a CPU. Also times the launch fingerprint of the default-size encoder (seeded random
weights), the cost the stamp adds to a launch. Usage:

    python bench/outputs.py --num_files 40 --keras_backend jax

Prints one JSON object; bench/RESULTS.md records runs with their dates.
"""

import argparse
import importlib.util
import json
import logging
import os
import pathlib
import sys
import tempfile
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def _bytes(paths) -> int:
    return sum(path.stat().st_size for path in paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num_files", type=int, default=40)
    parser.add_argument("--long_fraction", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keras_backend", default=os.environ.get("KERAS_BACKEND", "jax"))
    parser.add_argument("--output_dim", type=int, default=1536, help="Embedding width D (E2B 1536, E4B 2560).")
    parser.add_argument("--output_dtype", default="float32")
    parser.add_argument("--skip_launch_fingerprint", action="store_true")
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.keras_backend
    logging.getLogger().setLevel(logging.WARNING)

    from apache_beam.options.pipeline_options import PipelineOptions

    from gemma4_audio_embed import encoder
    from gemma4_audio_embed.pipeline import verify
    from gemma4_audio_embed.pipeline.cli import run
    from gemma4_audio_embed.pipeline.options import EmbedOptions
    from gemma4_audio_embed.pipeline.stamp import launch_fingerprint

    spec = importlib.util.spec_from_file_location("bench_pipeline", REPO_ROOT / "bench" / "pipeline.py")
    bench_pipeline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_pipeline)
    make_corpus = bench_pipeline.make_corpus

    folder = pathlib.Path(tempfile.mkdtemp(prefix="gemma4_bench_outputs_"))
    (folder / "corpus").mkdir()
    audio_seconds = make_corpus(folder / "corpus", args.num_files, args.seed, args.long_fraction)
    weights = folder / "narrow.keras"
    narrow = {"hidden_size": 32, "num_heads": 2, "num_layers": 1, "sscp_conv_channels": (8, 4), "output_proj_dims": 48}
    encoder.default_encoder(seed=0, output_dim=args.output_dim, **narrow).save(weights)
    results = {"audio_hours": audio_seconds / 3600, "num_files": args.num_files, "embedding_dim": args.output_dim}
    for output_format, suffix in [("tfrecord", ".tfrecord"), ("array_record", ".array_record")]:
        output = folder / output_format / "emb"
        run(
            [
                "--input", str(folder / "corpus" / "*"), "--output", str(output), "--weights", str(weights),
                "--runner", "FnApiRunner", "--output_format", output_format, "--output_dtype", args.output_dtype,
            ]
        )  # fmt: skip
        start = time.monotonic()
        table, violations = verify.verify(str(output))
        verify_seconds = time.monotonic() - start
        summary = json.loads((output.parent / "emb-summary.json").read_text())
        record_files = sorted(output.parent.glob(f"emb-*-of-*{suffix}"))
        index_files = sorted(output.parent.glob("emb-index-*.parquet"))
        results[output_format] = {
            "records": summary["records"],
            "record_files": len(record_files),
            "record_bytes": _bytes(record_files),
            "index_bytes": _bytes(index_files),
            "index_bytes_per_row": _bytes(index_files) / max(summary["records"], 1),
            "verify_seconds": verify_seconds,
            "verify_violations": violations,
        }
    tfrecord, array_record = results["tfrecord"], results["array_record"]
    results["array_record_over_tfrecord"] = array_record["record_bytes"] / tfrecord["record_bytes"]
    results["index_over_records"] = tfrecord["index_bytes"] / tfrecord["record_bytes"]
    if not args.skip_launch_fingerprint:
        options = PipelineOptions(["--keras_backend", args.keras_backend]).view_as(EmbedOptions)
        start = time.monotonic()
        launch_fingerprint(options)
        results["launch_fingerprint_seconds_default_encoder_random_weights"] = time.monotonic() - start
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
