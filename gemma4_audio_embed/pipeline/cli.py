"""`gemma4-embed` (also `python -m gemma4_audio_embed`): launch a job, show its progress, print a short summary; or `verify`, `report`.

`verify` imports only what it reads with (Beam's FileSystems, pyarrow), never the pipeline: the
pipeline's imports (Beam's RunInference, which imports PyTorch when it is installed; PyAV) load
native libraries whose threads made `verify` abort at exit now and then (exit 134,
"terminate called without an active exception") after printing its result. So this module
imports the launch only when it launches.
"""

import contextlib
import json
import sys
import typing

from gemma4_audio_embed.pipeline import console


class Interrupted(SystemExit):
    """Ctrl-C: exit status 130, the job abandoned (`entry_point` does not wait for its threads)."""


CLOSING_DEAD_LETTERS = 100_000  # dead letters read for the closing lines' reasons (the report reads all)


def _closing_lines(summary: dict, pattern: str) -> list[str]:
    from gemma4_audio_embed.pipeline.dead_letter_reasons import dead_letters
    from gemma4_audio_embed.pipeline.dead_letter_reasons import top_reasons

    read = 0

    def counted(entries):
        nonlocal read
        for entry in entries:
            read += 1
            yield entry

    reasons = top_reasons(counted(dead_letters(pattern, limit=CLOSING_DEAD_LETTERS))) if summary["dead_letters"] else []
    return console.closing_lines(summary, reasons, read, CLOSING_DEAD_LETTERS)


def run(argv=None, test_pipeline=None):
    """Launches the embedding job (`pipeline.launch`), shows its progress until it ends, and prints a short summary.

    Progress goes to stderr: a bar on a terminal, else a line every 30 s (`pipeline.progress`);
    none with `--quiet`. The closing lines go to stdout (none with `--quiet`); the full summary
    is the file the job wrote, `<output>-summary.json`.

    Args:
        argv: list of str. Command-line flags (`EmbedOptions` and any Beam flags); None reads
            `sys.argv`.
        test_pipeline: a `TestPipeline` to build on instead of a new `Pipeline`.

    Returns:
        The finished job's `apache_beam.runners.runner.PipelineResult` (its metrics hold the counters).

    Raises:
        LaunchError: before any pipeline is built, for a missing, contradictory or malformed
            flag, an `--input` pattern matching nothing, or a model source that is not usable.
    """
    from apache_beam.io.filesystems import FileSystems

    from gemma4_audio_embed.pipeline.launch import prepare
    from gemma4_audio_embed.pipeline.launch import submit
    from gemma4_audio_embed.pipeline.options import EmbedOptions
    from gemma4_audio_embed.pipeline.options import output_layout
    from gemma4_audio_embed.pipeline.progress import BarDisplay
    from gemma4_audio_embed.pipeline.progress import LineDisplay
    from gemma4_audio_embed.pipeline.progress import display_for
    from gemma4_audio_embed.pipeline.progress import watch

    argv = sys.argv[1:] if argv is None else list(argv)
    options = prepare(argv, default_runner=test_pipeline is None)
    console.raise_if_interrupted()  # Ctrl-C while importing or preparing
    embed = options.view_as(EmbedOptions)
    if embed.quiet:
        display = None
    else:
        display = LineDisplay(sys.stderr) if embed.verbose else display_for(sys.stderr)
    redirect = contextlib.nullcontext()
    if isinstance(display, BarDisplay):  # log lines above the bar, not through it
        from tqdm.contrib.logging import logging_redirect_tqdm

        redirect = logging_redirect_tqdm()
    with redirect:
        # wait=True: the launch holds the output's lock, with a heartbeat, until the job ends.
        submitted = []
        result = watch(
            lambda: submit(options, wait=True, test_pipeline=test_pipeline, on_submitted=submitted.append),
            display,
            running=lambda: submitted[0] if submitted else None,
        )
    layout = output_layout(embed)
    if not embed.quiet:
        with FileSystems.open(layout.summary) as f:
            summary = json.loads(f.read())
        this_run = layout.run_dead_letter_glob(summary["run_id"])  # the dead letters the summary counts
        console.print_out("\n".join(_closing_lines(summary, this_run) + [f"Summary: {layout.summary}"]))
    return result


def main(argv=None) -> None:
    """Console script `gemma4-embed` and `python -m gemma4_audio_embed`; `gemma4-embed verify OUTPUT_PREFIX` checks a
    finished output, `gemma4-embed report OUTPUT_PREFIX` writes its HTML report.

    A `LaunchError` is printed as one line, `gemma4-embed: error: <message>`, with exit status 2
    (argparse's convention); Ctrl-C is one line too, with exit status 130; errors while the job
    runs keep Beam's behaviour. Unless `--verbose`,
    native libraries' start-up lines are dropped from stderr (`console.NativeStderrFilter`) and
    each distinct warning is logged once.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["verify"]:
        from gemma4_audio_embed.pipeline import verify

        sys.exit(verify.main(argv[1:]))
    if argv[:1] == ["report"]:
        from gemma4_audio_embed.pipeline.report import cli as report

        sys.exit(report.main(argv[1:]))
    from gemma4_audio_embed.pipeline.options import PROG
    from gemma4_audio_embed.pipeline.options import LaunchError

    level = console.verbosity(argv)
    filtered = level != console.VERBOSE and console.is_process_stderr(sys.stderr)
    with console.NativeStderrFilter() if filtered else contextlib.nullcontext():
        console.configure_logging(level)
        try:
            run(argv)
        except LaunchError as error:
            print(f"{PROG}: error: {' '.join(str(error).split())}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print(
                f"{PROG}: interrupted. Nothing half-written is left under a final name; the next run into "
                "this --output sweeps the rest (with --skip_existing it keeps the inputs this run finished).",
                file=sys.stderr,
            )
            raise Interrupted(130) from None


def entry_point() -> typing.NoReturn:
    """The process entry of `gemma4-embed` and `python -m gemma4_audio_embed`: `main()`, then
    `console.exit_process` with its exit status, which skips the interpreter's teardown (about
    a second after a job). An exception other than `SystemExit` propagates as usual. A launch
    takes Ctrl-C as a flag it checks (`console.defer_interrupts`); `verify` and `report` stop
    where they are."""
    if sys.argv[1:2] not in (["verify"], ["report"]):
        console.defer_interrupts()
    try:
        main()
    except SystemExit as stop:
        # An interrupted job is abandoned, not awaited: its output lock's holder is gone, so the
        # next launch into the prefix takes it over and sweeps what the job left.
        console.exit_process(stop.code, run_exit_handlers=not isinstance(stop, Interrupted))
    console.exit_process(0)
