"""The launcher's view of a running job: its progress from the job's counts, as a bar on a terminal or a line every 30 s.

Where the counts come from depends on where the job runs. Beam's local FnApiRunner runs the
job inside the launcher's process, and its `PipelineResult` (so its metrics) exists only once
the job ends; the counts are then this process's `metrics.LIVE_COUNTS`, which every `Tally`
adds to. A runner that returns while the job runs (Dataflow, a portable job service) gives
them as the job's Beam counters (`metrics.counter_values(result.metrics())`). Where neither
holds (the local runner's `multi_processing` worker processes), nothing is shown here and the
workers' own progress lines (`metrics.ProgressLog`) are the progress.

`watch` runs the job in a thread and shows `Progress` every poll until it ends.
"""

import dataclasses
import sys
import threading
import time
from collections.abc import Callable

from gemma4_audio_embed.constants import SAMPLE_RATE
from gemma4_audio_embed.metrics import AUDIO_SAMPLES_EMBEDDED
from gemma4_audio_embed.metrics import CLIPS_EMBEDDED
from gemma4_audio_embed.metrics import DEAD_LETTERS
from gemma4_audio_embed.metrics import ENTRIES_SKIPPED
from gemma4_audio_embed.metrics import INPUTS_DECODED
from gemma4_audio_embed.metrics import INPUTS_READ
from gemma4_audio_embed.metrics import LIVE_COUNTS
from gemma4_audio_embed.metrics import counter_values
from gemma4_audio_embed.pipeline import console

INTERRUPT_POLL_SECONDS = 0.25  # how soon a deferred Ctrl-C stops the wait (`console.defer_interrupts`)

TERMINAL_POLL_SECONDS = 1.0  # a bar redraws this often
LINE_INTERVAL_SECONDS = 30.0  # without a terminal, one line this often


@dataclasses.dataclass(frozen=True)
class Progress:
    """Where a job stands, from its counts.

    Attributes:
        inputs: int. Inputs found so far (`inputs_read`).
        inputs_done: int. Inputs the job is done with: decoded or failed to decode, dead letters
            of the read stage, entries skipped by convention.
        records: int. Records written (`clips_embedded`).
        dead_letters: int. Dead letters, all stages.
        audio_seconds: float. Audio embedded.
        elapsed_seconds: float. Since launch.
        eta_seconds: float or None. Time left at the recent rate of inputs done; None until
            there is a rate.
    """

    inputs: int
    inputs_done: int
    records: int
    dead_letters: int
    audio_seconds: float
    elapsed_seconds: float
    eta_seconds: float | None = None

    @classmethod
    def from_counts(cls, counts: dict, elapsed_seconds: float, eta_seconds: float | None = None) -> "Progress":
        """The progress of a job whose counts (`{counter name: value}`) are `counts`."""
        done = counts.get(INPUTS_DECODED, 0) + counts.get(f"{DEAD_LETTERS}_read", 0) + counts.get(ENTRIES_SKIPPED, 0)
        return cls(
            inputs=counts.get(INPUTS_READ, 0),
            inputs_done=done,
            records=counts.get(CLIPS_EMBEDDED, 0),
            dead_letters=counts.get(DEAD_LETTERS, 0),
            audio_seconds=counts.get(AUDIO_SAMPLES_EMBEDDED, 0) / SAMPLE_RATE,
            elapsed_seconds=elapsed_seconds,
            eta_seconds=eta_seconds,
        )

    @property
    def audio_seconds_per_second(self) -> float:
        """Audio embedded per wall-second since launch, as the summary's `audio_seconds_per_second`."""
        return self.audio_seconds / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def details(self) -> str:
        """`0.52 h of audio, 180 records, 2 dead letters, 12.1 audio-s/s, ETA 5 min` (ETA when known)."""
        parts = [
            f"{self.audio_seconds / 3600:.2f} h of audio",
            f"{self.records:,} records",
            f"{self.dead_letters:,} dead letter{'s' if self.dead_letters != 1 else ''}",
            f"{self.audio_seconds_per_second:.1f} audio-s/s",
        ]
        if self.eta_seconds is not None:
            parts.append(f"ETA {duration_text(self.eta_seconds)}")
        return ", ".join(parts)

    def line(self) -> str:
        """One progress line: `120/500 inputs done, 0.52 h of audio, ... [3 min 10 s]`."""
        return f"{self.inputs_done:,}/{self.inputs:,} inputs done, {self.details()} [{duration_text(self.elapsed_seconds)}]"


def duration_text(seconds: float) -> str:
    """`42 s`, `3 min 10 s`, `2 h 05 min`: a duration as people read it."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class EtaEstimator:
    """Time left, from the rate of inputs done since the first one was (reading the inputs, which
    comes first, does not count towards the rate).

    Call `update(inputs, inputs_done, now)` at each poll; it returns seconds left or None.
    """

    def __init__(self):
        self._start = None  # (time, inputs done) when inputs started to be done

    def update(self, inputs: int, inputs_done: int, now: float) -> float | None:
        if inputs_done <= 0:
            return None
        if self._start is None:
            self._start = (now, inputs_done)
            return None
        start_time, start_done = self._start
        if inputs_done <= start_done or now <= start_time:
            return None
        rate = (inputs_done - start_done) / (now - start_time)
        return max(inputs - inputs_done, 0) / rate


class LineDisplay:
    """One progress line every `interval_seconds` on `stream` (logs, CI, a file)."""

    def __init__(self, stream=None, interval_seconds: float = LINE_INTERVAL_SECONDS, prefix: str = "gemma4-embed"):
        self.stream = stream or sys.stderr
        self.interval_seconds = interval_seconds
        self.poll_seconds = interval_seconds
        self.prefix = prefix

    def show(self, progress: Progress) -> None:
        print(f"{self.prefix}: {progress.line()}", file=self.stream, flush=True)

    def close(self, progress: Progress | None) -> None:
        pass


class BarDisplay:
    """A tqdm bar on a terminal: inputs done of found, then audio, records, dead letters, rate and ETA."""

    poll_seconds = TERMINAL_POLL_SECONDS

    def __init__(self, stream=None):
        from tqdm import tqdm

        self._bar = tqdm(
            total=None,
            file=stream or sys.stderr,
            unit="input",
            dynamic_ncols=True,
            bar_format="{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} inputs [{elapsed}]{postfix}",
        )

    def show(self, progress: Progress) -> None:
        self._bar.total = max(progress.inputs, progress.inputs_done)
        self._bar.n = progress.inputs_done
        self._bar.set_postfix_str(progress.details(), refresh=False)
        self._bar.refresh()

    def close(self, progress: Progress | None) -> None:
        if progress is not None:
            self.show(progress)
        self._bar.close()


def display_for(stream) -> BarDisplay | LineDisplay:
    """A bar when `stream` is a terminal, else a line every 30 s."""
    is_terminal = getattr(stream, "isatty", lambda: False)()
    return BarDisplay(stream) if is_terminal else LineDisplay(stream)


def _subtracted(counts: dict, baseline: dict) -> dict:
    return {name: value - baseline.get(name, 0) for name, value in counts.items() if value != baseline.get(name, 0)}


def watch(start_job: Callable, display, launch_time: float | None = None, running: Callable | None = None):
    """Runs `start_job()` in a thread, showing its progress on `display` until it ends.

    Args:
        start_job: callable. Submits the job and returns its `PipelineResult`, after the job
            ends for local runners (which run it in this process) or while it runs (Dataflow);
            either way `watch` waits for the job's end.
        display: `BarDisplay`, `LineDisplay` or None (nothing shown).
        launch_time: float or None. Epoch seconds the elapsed time counts from; None is now.
        running: callable or None. Returns the submitted job's `PipelineResult` (None before it
            is submitted), for a `start_job` that returns only when the job ends; its counters
            are the progress of a job that runs elsewhere.

    Returns:
        The finished job's `PipelineResult`.

    Raises:
        Whatever the job raised.
    """
    launch_time = time.time() if launch_time is None else launch_time
    baseline = LIVE_COUNTS.snapshot()
    outcome = {}

    def run() -> None:
        try:
            outcome["result"] = start_job()
            outcome["result"].wait_until_finish()
        except BaseException as error:  # noqa: B036 - handed to the caller's thread
            outcome["error"] = error
        finally:
            outcome["done"] = True

    thread = threading.Thread(target=run, name="gemma4-embed-job", daemon=True)
    thread.start()
    estimator = EtaEstimator()
    progress = None

    def current() -> Progress | None:
        counts = _subtracted(LIVE_COUNTS.snapshot(), baseline)
        job = outcome.get("result") or (running() if running else None)
        if not counts and job is not None:  # the job runs elsewhere: its counters
            try:
                counts = counter_values(job.metrics())
            except Exception:  # a runner that cannot report yet
                counts = {}
        if not counts:
            return None
        now = time.time()
        partial = Progress.from_counts(counts, now - launch_time)
        return dataclasses.replace(partial, eta_seconds=estimator.update(partial.inputs, partial.inputs_done, now))

    poll_seconds = display.poll_seconds if display else 1.0
    next_show = time.monotonic() + poll_seconds
    while True:
        thread.join(min(poll_seconds, INTERRUPT_POLL_SECONDS))
        if "done" in outcome:
            break
        console.raise_if_interrupted()
        if time.monotonic() < next_show:
            continue
        next_show += poll_seconds
        if display is not None and (progress := current() or progress) is not None:
            display.show(progress)
    if display is not None:
        final = current()
        display.close(dataclasses.replace(final, eta_seconds=None) if final else progress)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
