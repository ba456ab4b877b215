"""The one launch path: every check a job gets before it starts, then submission, waiting or not.

`prepare` turns a command line into checked `PipelineOptions` with a new run id: flags known
and valid, inputs that exist, a model source that loads (a Hub id pinned to its commit), the
Keras backend. `submit` takes the output lock (`outputs.lock`; a prefix another live run holds
stops the launch, naming that run), stops a run into another run's complete output unless
`--overwrite` or `--skip_existing`, removes what killed runs left behind, computes the stamp
(and, resuming, checks and writes it), builds the graph (`pipeline.graph`) and runs it. The
CLI (`gemma4-embed`) waits, keeping the lock's heartbeat, and prints the summary; the Flex
Template entry (`deploy/flex_template_main.py`) submits and returns. Either way the job checks
its files, moves them into place, writes its own summary and releases the lock as its last
steps, so the output verifies.
"""

import json
import logging
import os
import sys
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import StandardOptions

from gemma4_audio_embed.backends import encoder_module
from gemma4_audio_embed.inference.model_sources import RANDOM_WEIGHTS_WARNING
from gemma4_audio_embed.outputs.commit import sweep_leftovers
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.outputs.layout import new_run_id
from gemma4_audio_embed.outputs.lock import OutputHeld
from gemma4_audio_embed.outputs.lock import OutputLock
from gemma4_audio_embed.outputs.lock import describe_holder
from gemma4_audio_embed.pipeline.graph import build_graph
from gemma4_audio_embed.pipeline.local_runner import use_size_based_data_streams
from gemma4_audio_embed.pipeline.options import EmbedOptions
from gemma4_audio_embed.pipeline.options import LaunchError
from gemma4_audio_embed.pipeline.options import check_embed_options
from gemma4_audio_embed.pipeline.options import check_flags_known
from gemma4_audio_embed.pipeline.options import check_inputs_exist
from gemma4_audio_embed.pipeline.options import flag_parser
from gemma4_audio_embed.pipeline.options import keras_backend
from gemma4_audio_embed.pipeline.options import model_source
from gemma4_audio_embed.pipeline.options import output_layout
from gemma4_audio_embed.pipeline.stamp import check_stamp
from gemma4_audio_embed.pipeline.stamp import launch_fingerprint
from gemma4_audio_embed.pipeline.stamp import output_stamp
from gemma4_audio_embed.pipeline.stamp import write_stamp

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
    """Checks a command line; returns the job's options, with a new run id.

    Args:
        argv: list of str. Command-line flags (`EmbedOptions` and any Beam flags).
        default_runner: bool. With no `--runner`, run on Beam's local `FnApiRunner`. Defaults
            to True.

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
    if default_runner and not standard.runner:
        standard.runner = DEFAULT_RUNNER
    check_runner(standard.runner)
    # The DoFns get the backend in their constructors; in-process and multi_processing workers
    # also inherit it here, before anything imports Keras.
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = keras_backend(embed)
    source = model_source(embed)
    if source.is_random:
        logging.warning(RANDOM_WEIGHTS_WARNING.format(seed=source.value))
    embed.run_id = embed.run_id or new_run_id()
    return options


def check_runner(runner) -> None:
    """Raises LaunchError when `--runner` names no runner Beam knows (None, the default, passes)."""
    if runner is None or not isinstance(runner, str):
        return
    from apache_beam.runners.runner import create_runner

    try:
        create_runner(runner)
    except (ValueError, ImportError) as error:
        raise LaunchError(f"--runner {runner!r}: {error}") from None


def check_output_free(options: EmbedOptions, layout: OutputLayout) -> None:
    """Raises LaunchError when a run without `--skip_existing` or `--overwrite` would replace another
    run's complete output (one with a summary; a killed run leaves none)."""
    if options.skip_existing or options.overwrite or not FileSystems.exists(layout.summary):
        return
    with FileSystems.open(layout.summary) as f:
        try:
            earlier = json.loads(f.read())
        except ValueError:
            earlier = {}
    raise LaunchError(
        f"--output {options.output} holds the complete output of run {earlier.get('run_id') or 'unknown'} "
        f"({earlier.get('records', '?')} records). Pass --overwrite to replace it once this run is complete "
        "and checked, or use a new --output."
    )


def _hold_output(options: EmbedOptions, layout: OutputLayout, *, wait: bool) -> OutputLock:
    lock = OutputLock(layout.lock, options.run_id)
    try:
        taken_over = lock.acquire(heartbeat=wait)
    except OutputHeld as held:
        raise LaunchError(
            f"--output {options.output} is in use by {describe_holder(held.holder)}. Wait for that run to "
            f"end, or use another --output; if that run is gone, delete {layout.lock}."
        ) from held
    if taken_over is not None:
        logging.warning(
            "Taking over the output lock %s from %s, which is gone (no heartbeat for over %s s, or its "
            "process has ended).",
            layout.lock,
            describe_holder(taken_over),
            taken_over.get("stale_seconds", "?"),
        )
    return lock


def submit(
    options: PipelineOptions, *, wait: bool, test_pipeline=None, on_submitted=None
) -> beam.runners.runner.PipelineResult:
    """Holds the output, stamps it, builds the job's graph from `options` (from `prepare`) and runs it.

    Args:
        options: PipelineOptions. The checked options.
        wait: bool. Wait for the job to finish (the CLI), refreshing the lock's heartbeat and
            releasing it at the end whatever happens; or return once submitted (a template),
            leaving the lock to the job's last step.
        test_pipeline: a `TestPipeline` to build on instead of a new `Pipeline`.
        on_submitted: callable or None. Called with the `PipelineResult` once the job is
            submitted, before any wait (the CLI's progress reads a remote job's counters from it).

    Returns:
        The job's `PipelineResult`.

    Raises:
        LaunchError: when another live run holds the output, the output holds another run's
            complete output (without `--overwrite`), or a `--skip_existing` run would resume an
            output of another setup.
    """
    launch_time = time.time()
    embed = options.view_as(EmbedOptions)
    embed.run_id = embed.run_id or new_run_id()
    layout = output_layout(embed)
    lock = _hold_output(embed, layout, wait=wait)
    try:
        sweep_leftovers(layout)  # held by this launch: what is left is a dead run's, even if this one stops here
        check_output_free(embed, layout)
        stamp = output_stamp(embed, launch_fingerprint(embed))
        check_stamp(embed, stamp)
        if embed.skip_existing:
            write_stamp(layout, stamp)
        use_size_based_data_streams()  # the local multi-process runner's data plane drops input otherwise
        pipeline = test_pipeline or beam.Pipeline(options=options)
        build_graph(pipeline, embed, launch_time=launch_time, stamp=None if embed.skip_existing else stamp)
        result = pipeline.run()
        if on_submitted is not None:
            on_submitted(result)
        if wait:
            result.wait_until_finish()
    except BaseException:
        lock.release()
        raise
    if wait:
        lock.release()
    return result
