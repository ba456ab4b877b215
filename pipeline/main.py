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
from pipeline.options import PROG
from pipeline.options import EmbedOptions
from pipeline.options import LaunchError
from pipeline.options import check_embed_options
from pipeline.options import check_flags_known
from pipeline.options import check_inputs_exist
from pipeline.options import flag_parser
from pipeline.options import keras_backend
from pipeline.options import model_source_flags
from pipeline.stamp import check_and_write_stamp
from pipeline.stamp import launch_fingerprint
from pipeline.stamp import output_stamp
from pipeline.summary import counter_values
from pipeline.summary import run_summary
from pipeline.summary import worker_settings
from pipeline.summary import write_summary
from transforms import model_sources
from transforms.encoder_model_handler import RANDOM_WEIGHTS_WARNING
from transforms.encoder_module import encoder_module

DEFAULT_RUNNER = "FnApiRunner"  # Beam's local runner, run directly: no Prism download, no network


def _model_source(options: EmbedOptions) -> str:
    for flag, value in model_source_flags(options).items():
        return f"{flag} {value}"
    return f"random weights, seed {options.seed} (meaningless embeddings)"


def check_model_source(options: EmbedOptions) -> None:
    """Checks the model-source flag, if any, and pins a Hub id to the commit it resolves to now.

    Imports the encoder under the job's Keras backend. Raises `LaunchError` naming the flag.
    """
    sources = model_source_flags(options)
    if not sources:
        return
    backend = keras_backend(options)
    try:
        encoder_module(backend)
    except ImportError as error:
        raise LaunchError(
            f"Checking the model source at launch needs Keras' {backend} backend here: {error}"
        ) from error
    checks = {
        "hf_checkpoint": model_sources.check_hf_checkpoint,
        "weights": model_sources.check_keras_file,
        "keras_hub_preset": model_sources.check_keras_hub_preset,
    }
    ((flag, value),) = sources.items()
    try:
        pinned = checks[flag](value)
    except Exception as error:  # any failure to read the source is the user's to fix, in one line
        if isinstance(error, KeyError):
            message = f"missing key {error}"
        elif isinstance(error, (ValueError, OSError, ImportError)):
            message = str(error)
        else:  # a malformed file the checks did not foresee: say what broke
            message = f"cannot be read ({type(error).__name__}: {error})"
        raise LaunchError(f"--{flag} {value}: {message}") from error
    if flag == "hf_checkpoint" and pinned != value:
        logging.info("--hf_checkpoint %s resolved to %s.", value, pinned)
        options.hf_checkpoint = pinned


def run(argv=None, test_pipeline=None) -> beam.runners.runner.PipelineResult:
    """Stamps the output (`pipeline.stamp`), runs the embedding job and writes `<output>-summary.json`.

    Args:
        argv: list of str. Command-line flags (`EmbedOptions` and any Beam flags); None reads
            `sys.argv`.
        test_pipeline: a `TestPipeline` to build on instead of a new `Pipeline`.

    Returns:
        The finished job's `PipelineResult` (its metrics hold the counters).

    Raises:
        LaunchError: before any pipeline is built, for a missing, contradictory or malformed
            flag, an `--input` pattern matching nothing, or a model source that is not usable.
    """
    flag_parser().parse_known_args(argv)  # --help prints and exits; a bad value raises LaunchError
    check_flags_known(argv)
    options = PipelineOptions(argv)
    embed = options.view_as(EmbedOptions)
    check_embed_options(embed)
    check_inputs_exist(embed)
    check_model_source(embed)
    standard = options.view_as(StandardOptions)
    if test_pipeline is None and not standard.runner:
        standard.runner = DEFAULT_RUNNER
    # The DoFns get the backend in their constructors; in-process and multi_processing workers
    # also inherit it here, before anything imports Keras.
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = keras_backend(embed)
    if not model_source_flags(embed):
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
        settings=worker_settings(result.metrics()),
    )
    write_summary(f"{embed.output}-summary.json", summary)
    print(json.dumps(summary, indent=2, sort_keys=True))
    print(f"Records: {summary['outputs']['records']}  Summary: {embed.output}-summary.json")
    return result


def main(argv=None) -> None:
    """Console script `gemma4-embed` and `python -m pipeline`; `gemma4-embed verify OUTPUT_PREFIX` checks a finished output.

    A `LaunchError` is printed as one line, `gemma4-embed: error: <message>`, with exit status 2
    (argparse's convention); errors while the job runs keep Beam's behaviour.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["verify"]:
        from pipeline import verify

        sys.exit(verify.main(argv[1:]))
    logging.getLogger().setLevel(logging.INFO)
    for chatty in ("httpx", "httpx2"):  # huggingface_hub's HTTP clients log every request at INFO
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        run(argv)
    except LaunchError as error:
        print(f"{PROG}: error: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(2)
