"""What `gemma4-embed` prints: quiet start-up, each warning once, and a short closing summary.

Three levels (`--quiet`, the default, `--verbose`):

- default: warnings and errors, each distinct warning once; a progress display
  (`pipeline.progress`); at the end a few lines for people (`closing_lines`). The start-up
  lines native libraries write to the process's stderr (TensorFlow's and XLA's `I0000 ...` and
  `W0000 ...` lines, absl's "All log messages before absl::InitializeLog()", the
  `failed call to cuInit` error of a machine without a GPU) are dropped (`NativeStderrFilter`);
  any other line they write passes.
- `--quiet`: warnings and errors only.
- `--verbose`: INFO logs of the job and Beam and every native line, progress as lines.

The machine-readable record of a run is the summary file, not the console.
"""

import atexit
import logging
import os
import re
import signal
import sys
import threading
import typing

QUIET, DEFAULT, VERBOSE = "quiet", "default", "verbose"
_LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
# Native lines dropped unless --verbose: absl's INFO and WARNING lines, its notice before
# InitializeLog, TensorFlow's CPU feature note, and the cuInit failure of a machine without GPU.
_NATIVE_NOISE = re.compile(
    r"^(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\]]+\] "
    r"|E\d{4} [^\]]+\] failed call to cuInit"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.$)"
)


_OUTPUT_LABELS = {
    "records": "Records",
    "index": "Index",
    "dead_letters": "Dead-letter files",
    "duplicates": "Duplicates",
}


def verbosity(argv: list[str]) -> str:
    """`QUIET`, `VERBOSE` or `DEFAULT` from a command line's `--quiet` / `--verbose` (both: a launch
    error later, `check_embed_options`; here the louder wins)."""
    if "--verbose" in argv:
        return VERBOSE
    return QUIET if "--quiet" in argv else DEFAULT


def is_native_noise(line: str) -> bool:
    """Whether a line a native library wrote to stderr is start-up noise (see the module docstring)."""
    return _NATIVE_NOISE.match(line) is not None


class OnceFilter(logging.Filter):
    """Passes each distinct warning (logger and message) once; other levels always."""

    def __init__(self):
        super().__init__()
        self._seen = set()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        key = (record.name, record.getMessage())
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
        return True


class NativeStderrFilter:
    """Runs a block with the process's stderr (fd 2) read through a filter that drops native start-up noise.

    Python's own `sys.stderr` is pointed at a copy of the original stderr for the block, so
    logging and the progress bar write straight to the terminal; only what native code (and
    child processes) write to fd 2 goes through the filter, line by line.
    """

    def __enter__(self):
        self._saved_fd = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._saved_stderr = sys.stderr
        sys.stderr = open(os.dup(self._saved_fd), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
        self._thread = threading.Thread(target=self._pass_lines, args=(read_fd,), daemon=True)
        self._thread.start()
        return self

    def _pass_lines(self, read_fd: int) -> None:
        with open(read_fd, "rb") as native:
            for raw in native:
                if not is_native_noise(raw.decode("utf-8", "replace")):
                    os.write(self._saved_fd, raw)

    def __exit__(self, *exc_info):
        sys.stderr.flush()
        replaced, sys.stderr = sys.stderr, self._saved_stderr
        for handler in logging.root.handlers:  # a handler made in the block writes to the stderr after it
            if getattr(handler, "stream", None) is replaced:
                handler.setStream(sys.stderr)
        os.dup2(self._saved_fd, 2)  # closes the pipe's last write end this process holds
        # A child process may still hold one (the decoder process of an interrupted job): on an
        # exception the block's last native lines are not waited for.
        self._thread.join(timeout=5 if exc_info[0] is None else 0.5)
        replaced.close()
        os.close(self._saved_fd)
        return False


def is_process_stderr(stream) -> bool:
    """Whether `stream` is this process's own stderr (not a test's capture or a redirection in Python)."""
    return stream is sys.__stderr__ and stream is not None and stream.fileno() == 2


def configure_logging(level: str) -> None:
    """Root logging for `level`: INFO when verbose, else WARNING, each distinct warning once, to `sys.stderr`.

    Replaces plain stderr handlers another library set up (`logging.basicConfig`); keeps others.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    handler.addFilter(OnceFilter())
    root = logging.getLogger()
    for plain in [h for h in root.handlers if type(h) is logging.StreamHandler]:
        root.removeHandler(plain)
    root.addHandler(handler)
    root.setLevel(logging.INFO if level == VERBOSE else logging.WARNING)
    logging.captureWarnings(True)  # Python warnings through the same handler, once each
    for chatty in ("httpx", "httpx2"):  # huggingface_hub's HTTP clients log every request at INFO
        logging.getLogger(chatty).setLevel(logging.WARNING)


TOP_REASONS = 3  # dead-letter reasons named per stage in the closing lines


def counted(count: int, noun: str) -> str:
    """`1 clip`, `1,234 clips`: a count with its noun, plural unless it is 1 (nouns whose plural adds s)."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def closing_lines(summary: dict, reasons: list, dead_letters_read: int, dead_letters_limit: int) -> list[str]:
    """The few lines printed when a run ends.

    Args:
        summary: dict. The summary the job wrote (`pipeline.summary.run_summary`).
        reasons: list of `dead_letter_reasons.Reason` of the dead letters read.
        dead_letters_read: int. How many dead letters `reasons` come from.
        dead_letters_limit: int. The most that were read (a larger run's reasons are of its first ones).

    Returns:
        Lines: what was embedded, from how much audio (a duration under an hour, hours above)
        and how fast, and how many input files `--skip_existing` skipped; dead letters by stage
        with their `TOP_REASONS` most frequent reasons each, and how many others; where the
        outputs are.
    """
    from gemma4_audio_embed.pipeline.progress import duration_text

    seconds = summary["audio_hours"] * 3600
    if seconds < 1:
        audio = f"{seconds:.1f} s"
    else:
        audio = duration_text(seconds) if round(seconds) < 3600 else f"{summary['audio_hours']:,.2f} h"
    skipped = summary.get("input_files_skipped", 0)
    if skipped and not summary["inputs"]:
        lines = [
            f"Nothing new to embed: {counted(skipped, 'input file')} already "
            f"{'has' if skipped == 1 else 'have'} records (--skip_existing)."
        ]
    else:
        lines = [
            f"Embedded {counted(summary['records'], 'clip')} ({audio} of audio, {counted(summary['tokens'], 'token')}) "
            f"from {counted(summary['inputs'], 'input')} in {duration_text(summary['wall_seconds'])}: "
            f"{summary['audio_seconds_per_second']:.1f} audio-seconds per second."
        ]
        if skipped:
            lines.append(f"Skipped {counted(skipped, 'input file')} that already had records (--skip_existing).")
    by_stage = {stage: count for stage, count in summary["dead_letters_by_stage"].items() if count}
    if by_stage:
        stages = ", ".join(f"{stage} {count:,}" for stage, count in by_stage.items())
        lines.append(f"Dead letters: {summary['dead_letters']:,} ({stages}).")
        partial = f" (of the first {dead_letters_limit:,})" if dead_letters_read >= dead_letters_limit else ""
        for stage in by_stage:
            in_stage = [reason for reason in reasons if reason.stage == stage]
            for item in in_stage[:TOP_REASONS]:
                lines.append(f"  {stage}: {item.count:,}x {item.reason}{partial} e.g. {item.example_key}")
            if len(in_stage) > TOP_REASONS:
                rest = sum(item.count for item in in_stage[TOP_REASONS:])
                lines.append(
                    f"  {stage}: {counted(len(in_stage) - TOP_REASONS, 'other reason')} ({counted(rest, 'dead letter')}); "
                    "`gemma4-embed report` lists them all."
                )
    else:
        lines.append("No dead letters in this run." if skipped else "No dead letters.")
    if summary.get("repeated_audio"):
        repeated = summary["repeated_audio"]
        lines.append(
            f"Repeated audio: {counted(repeated, 'clip')} {'repeats' if repeated == 1 else 'repeat'} another clip's audio."
        )
    for name, label in _OUTPUT_LABELS.items():
        if name in summary["outputs"]:
            lines.append(f"{label}: {summary['outputs'][name]}")
    return lines


_INTERRUPTED = threading.Event()


def defer_interrupts() -> None:
    """Makes Ctrl-C (SIGINT) set a flag that `raise_if_interrupted` turns into KeyboardInterrupt, for
    a process's entry point.

    Python raises KeyboardInterrupt wherever the main thread is when the signal is handled; inside
    a garbage-collection callback (JAX's `_xla_gc_callback`, at start-up) it is printed as
    "Exception ignored" and lost, and the job ran to its end with exit status 0. During imports
    it was a traceback. The flag is checked where the launch can stop cleanly.
    """
    signal.signal(signal.SIGINT, lambda signum, frame: _INTERRUPTED.set())


def raise_if_interrupted() -> None:
    """Raises KeyboardInterrupt once Ctrl-C was pressed under `defer_interrupts`."""
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt


def print_out(text: str) -> None:
    """Prints `text` to stdout, flushed; when the reader has closed the pipe (`| true`, `| head -1`),
    the rest of the process's stdout goes to /dev/null instead of failing the command, whose exit
    status stays that of its work."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def exit_process(status, run_exit_handlers: bool = True) -> typing.NoReturn:
    """Ends the process with `status` (a `SystemExit` code: None, an int, or a message for stderr and 1)
    without the interpreter's teardown.

    Every `atexit` handler runs (logging's flush among them; none with `run_exit_handlers=False`,
    for an interrupted job: they would wait for its threads, letting it run on) and stdout and stderr are flushed;
    what is skipped is freeing each module and the native libraries' destructors, which took
    1.0-1.3 s after a job's last line on the 2-core machine (the encoder's gigabyte of weights,
    about 4,500 modules; bench/RESULTS.md, start-up), and where threads of native libraries
    have aborted an exit before (exit 134, see `pipeline.cli`). Only for a process's entry point:
    code that calls `cli.main` keeps its interpreter.
    """
    if status is None:
        code = 0
    elif isinstance(status, int):
        code = status
    else:
        print(status, file=sys.stderr)
        code = 1
    if run_exit_handlers:
        atexit._run_exitfuncs()  # no public API runs the handlers without ending the interpreter
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            pass
    os._exit(code)
