"""The one launch path: every check a job gets before it starts, then submission, waiting or not.

`prepare` turns a command line into checked `PipelineOptions`: flags known and valid, inputs
that exist, a model source that loads (a Hub id pinned to its commit), the Keras backend, and
the output stamped. `submit` builds the graph (`pipeline.graph`) and runs it. The CLI
(`gemma4-embed`) waits and prints the summary; the Flex Template entry
(`deploy/flex_template_main.py`) submits and returns. Either way the job writes its own summary
as its last step, so the output verifies.
"""

import logging
import os
import sys
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import StandardOptions

from gemma4_audio_embed.backends import encoder_module
from gemma4_audio_embed.inference.model_sources import RANDOM_WEIGHTS_WARNING
from gemma4_audio_embed.pipeline.graph import build_graph
from gemma4_audio_embed.pipeline.options import EmbedOptions
from gemma4_audio_embed.pipeline.options import LaunchError
from gemma4_audio_embed.pipeline.options import check_embed_options
from gemma4_audio_embed.pipeline.options import check_flags_known
from gemma4_audio_embed.pipeline.options import check_inputs_exist
from gemma4_audio_embed.pipeline.options import flag_parser
from gemma4_audio_embed.pipeline.options import keras_backend
from gemma4_audio_embed.pipeline.options import model_source
from gemma4_audio_embed.pipeline.stamp import check_and_write_stamp
from gemma4_audio_embed.pipeline.stamp import launch_fingerprint
from gemma4_audio_embed.pipeline.stamp import output_stamp

DEFAULT_RUNNER = "FnApiRunner"  # Beam's local runner, run directly: no Prism download, no network


def check_model_source(options: EmbedOptions) -> None:
    """Checks the model source from its headers and pins a Hub id to the commit it resolves to now.

    Imports the encoder under the job's Keras backend. Raises `LaunchError` naming the flag.
    """
    source = model_source(options)
    if source.is_random:
        return
    backend = keras_backend(options)
    try:
        encoder_module(backend)
    except ImportError as error:
        raise LaunchError(
            f"Checking the model source at launch needs Keras' {backend} backend here: {error}"
        ) from error
    try:
        pinned = source.checked()
    except Exception as error:  # any failure to read the source is the user's to fix, in one line
        if isinstance(error, KeyError):
            message = f"missing key {error}"
        elif isinstance(error, (ValueError, OSError, ImportError)):
            message = str(error)
        else:  # a malformed file the checks did not foresee: say what broke
            message = f"cannot be read ({type(error).__name__}: {error})"
        raise LaunchError(f"--{source.kind} {source.value}: {message}") from error
    setattr(options, pinned.kind, pinned.value)


def prepare(argv: list[str], *, default_runner: bool = True) -> PipelineOptions:
    """Checks a command line and stamps the output; returns the job's options.

    Args:
        argv: list of str. Command-line flags (`EmbedOptions` and any Beam flags).
        default_runner: bool. With no `--runner`, run on Beam's local `FnApiRunner`. Defaults
            to True.

    Raises:
        LaunchError: before any pipeline is built, for a missing, contradictory or malformed
            flag, an `--input` pattern matching nothing, a model source that is not usable, or
            a `--skip_existing` run into an output of another setup.
    """
    flag_parser().parse_known_args(argv)  # --help prints and exits; a bad value raises LaunchError
    check_flags_known(argv)
    options = PipelineOptions(argv)
    embed = options.view_as(EmbedOptions)
    check_embed_options(embed)
    check_inputs_exist(embed)
    check_model_source(embed)
    standard = options.view_as(StandardOptions)
    if default_runner and not standard.runner:
        standard.runner = DEFAULT_RUNNER
    # The DoFns get the backend in their constructors; in-process and multi_processing workers
    # also inherit it here, before anything imports Keras.
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = keras_backend(embed)
    source = model_source(embed)
    if source.is_random:
        logging.warning(RANDOM_WEIGHTS_WARNING.format(seed=source.value))
    check_and_write_stamp(embed, output_stamp(embed, launch_fingerprint(embed)))
    return options


def submit(options: PipelineOptions, *, wait: bool, test_pipeline=None) -> beam.runners.runner.PipelineResult:
    """Builds the job's graph from `options` (from `prepare`) and runs it.

    Args:
        options: PipelineOptions. The checked options.
        wait: bool. Wait for the job to finish (the CLI) or return once submitted (a template).
        test_pipeline: a `TestPipeline` to build on instead of a new `Pipeline`.

    Returns:
        The job's `PipelineResult`.
    """
    launch_time = time.time()
    pipeline = test_pipeline or beam.Pipeline(options=options)
    build_graph(pipeline, options.view_as(EmbedOptions), launch_time=launch_time)
    result = pipeline.run()
    if wait:
        result.wait_until_finish()
    return result
