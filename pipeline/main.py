"""The job's entry point: parse flags, build the graph, run it, and report a summary."""

import json
import logging
import os
import sys
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import StandardOptions

from pipeline.graph import build_graph
from pipeline.graph import index_pattern
from pipeline.graph import record_suffix
from pipeline.graph import records_pattern
from pipeline.options import EmbedOptions
from pipeline.options import check_embed_options
from pipeline.options import check_inputs_exist
from pipeline.options import keras_backend
from pipeline.stamp import check_and_write_stamp
from pipeline.stamp import launch_fingerprint
from pipeline.stamp import output_stamp
from pipeline.summary import counter_values
from pipeline.summary import run_summary
from pipeline.summary import write_summary
from transforms.encoder_model_handler import RANDOM_WEIGHTS_WARNING

DEFAULT_RUNNER = "FnApiRunner"  # Beam's local runner, run directly: no Prism download, no network


def _model_source(options: EmbedOptions) -> str:
    if options.hf_checkpoint:
        return f"hf_checkpoint {options.hf_checkpoint}"
    if options.weights:
        return f"weights {options.weights}"
    return f"random weights, seed {options.seed} (meaningless embeddings)"


def run(argv=None, test_pipeline=None) -> beam.runners.runner.PipelineResult:
    """Stamps the output (`pipeline.stamp`), runs the embedding job and writes `<output>-summary.json`.

    Args:
        argv: list of str. Command-line flags (`EmbedOptions` and any Beam flags); None reads
            `sys.argv`.
        test_pipeline: a `TestPipeline` to build on instead of a new `Pipeline`.

    Returns:
        The finished job's `PipelineResult` (its metrics hold the counters).
    """
    options = PipelineOptions(argv)
    embed = options.view_as(EmbedOptions)
    check_embed_options(embed)
    check_inputs_exist(embed)
    standard = options.view_as(StandardOptions)
    if test_pipeline is None and not standard.runner:
        standard.runner = DEFAULT_RUNNER
    # The DoFns get the backend in their constructors; in-process and multi_processing workers
    # also inherit it here, before anything imports Keras.
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = keras_backend(embed)
    if not (embed.hf_checkpoint or embed.weights):
        logging.warning(RANDOM_WEIGHTS_WARNING.format(seed=embed.seed))
    check_and_write_stamp(embed, output_stamp(embed, launch_fingerprint(embed)), record_suffix(embed))

    start = time.monotonic()
    pipeline = test_pipeline or beam.Pipeline(options=options)
    build_graph(pipeline, embed)
    result = pipeline.run()
    result.wait_until_finish()
    summary = run_summary(
        counter_values(result.metrics()),
        wall_seconds=time.monotonic() - start,
        outputs={
            "records": records_pattern(embed),
            "dead_letters": f"{embed.output}-dead-letter-*-of-*.jsonl",
            "index": index_pattern(embed),
            **({"duplicates": f"{embed.output}-duplicates-*-of-*.jsonl"} if embed.dedup else {}),
        },
        model=_model_source(embed),
    )
    write_summary(f"{embed.output}-summary.json", summary)
    print(json.dumps(summary, indent=2, sort_keys=True))
    print(f"Records: {summary['outputs']['records']}  Summary: {embed.output}-summary.json")
    return result


def main() -> None:
    """Console script `gemma4-embed`; `gemma4-embed verify OUTPUT_PREFIX` checks a finished output."""
    if sys.argv[1:2] == ["verify"]:
        from pipeline import verify

        sys.exit(verify.main(sys.argv[2:]))
    logging.getLogger().setLevel(logging.INFO)
    run()
