"""The job's counts: `Tally` (Beam counters and, per bundle, a tally the graph sums for its summary) and a progress log.

Every count the summary reports is made once, by the step that sees it, through a `Tally`: it
increments the Beam counter of the namespace (what Dataflow's monitoring and a waiting launcher
see) and keeps a per-bundle total that the step emits on `TALLY_TAG` at the end of the bundle.
The job sums those tallies in its own graph (`pipeline.summary.WriteSummary`), so the summary
holds what the job computed, on any runner, whether or not anyone waits for it. A retried
bundle's tally is discarded with the bundle's other outputs.

Each count also goes to this process's `LIVE_COUNTS`, which a launcher that runs the job in its
own process (Beam's local FnApiRunner, whose counters are readable only when the job ends)
reads for its progress display.
"""

import collections
import json
import logging
import threading
import time
import typing

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindows

NAMESPACE = "gemma4_embed"
INPUTS_READ = "inputs_read"  # inputs found: files, tar samples, records, rows, manifest lines, unreadable files
ENTRIES_SKIPPED = "entries_skipped"  # entries that are no input by convention (`._*` AppleDouble members)
REPEATED_IDS = "repeated_ids"  # inputs whose id or member name was taken earlier in its file (given a distinct key)
INPUTS_DECODED = "inputs_decoded"  # inputs the decode step is done with, decoded or failed (the job's progress)
UNDECODABLE_NAMES = "undecodable_names"  # inputs whose file or member name is not UTF-8 (its bytes %XX in the key)
CLIPS_READ = "clips_read"  # windows cut from decoded inputs
REPEATED_AUDIO = "repeated_audio"  # clips whose window another clip with a smaller key has (same audio_sha256)
CLIPS_EMBEDDED = "clips_embedded"  # records written
DEAD_LETTERS = "dead_letters"  # dead-letter entries, all stages; per stage as dead_letters_<stage>
AUDIO_SAMPLES_EMBEDDED = "audio_samples_embedded"  # 16 kHz samples of the clips written
TOKENS_EMBEDDED = "tokens_embedded"  # valid tokens written
FRAMES_VALID = "frames_valid"  # valid mel frames of the clips sent to the encoder
FRAMES_COMPUTED = "frames_computed"  # mel frames of the batches they were packed into, padding included
# String sets: what each worker's encoder runs on, as JSON, e.g. {"count": 4, "kind": "TPU v5 lite"}.
DEVICES = "devices"
FEATURES_ON_DEVICE = "features_on_device"  # whether log-mel ran in the encoder's program (true/false)
MAX_BATCH_FRAMES = "max_batch_frames"  # the frame budget PackClips chose, as text (`--max_batch_frames auto`)
INPUTS_SKIPPED = "inputs_skipped"  # input files skipped because their record file exists (--skip_existing)
SETTINGS = (DEVICES, MAX_BATCH_FRAMES, FEATURES_ON_DEVICE)
# Inputs by what the decoder opened: counters `audio_<property>:<value>`, e.g. `audio_sample_rate:16000`.
AUDIO_PROPERTIES = ("format", "sample_rate", "channels")
PROGRESS_INTERVAL_SECONDS = 30.0
TALLY_TAG = "tally"  # the tagged output of each step's per-bundle tally: (name, int) or (name, frozenset of JSON)


def counter(name: str):
    """Returns the Beam counter `name` in the pipeline's namespace."""
    return Metrics.counter(NAMESPACE, name)


def audio_property_counter(name: str, value) -> str:
    """The counter of inputs whose audio property `name` (one of `AUDIO_PROPERTIES`) is `value`."""
    if name not in AUDIO_PROPERTIES:
        raise ValueError(f"`name` must be one of {AUDIO_PROPERTIES}. Received: name={name!r}")
    return f"audio_{name}:{value}"


def audio_properties(counts: dict) -> dict[str, dict[str, int]]:
    """`{property: {value: inputs}}` from the `audio_property_counter` counts among `counts`, every
    property present (empty when no input was opened), values sorted."""
    found = {name: {} for name in AUDIO_PROPERTIES}
    for counter_name, count in counts.items():
        name, _, value = counter_name.removeprefix("audio_").partition(":")
        if counter_name.startswith("audio_") and name in found and value:
            found[name][value] = count
    return {name: dict(sorted(values.items())) for name, values in found.items()}


class LiveCounts:
    """Counts made in this process since it started, by name; thread-safe.

    What a launcher running the job in its own process shows while the job runs; a snapshot
    taken at launch, subtracted, leaves the counts of that job.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._counts = collections.Counter()

    def add(self, name: str, count: int) -> None:
        with self._lock:
            self._counts[name] += count

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


LIVE_COUNTS = LiveCounts()  # one per process: the steps of any job running in it add to it


class Tally:
    """The counts and settings one DoFn reports: Beam metrics as it goes, a tally per bundle.

    Call `start` in `start_bundle`, `add` and `note` in `process`, and `yield from emitted()` in
    `finish_bundle` (`TallyingDoFn` does the first and last); declare `TALLY_TAG` among the
    ParDo's outputs (`with_outputs(TALLY_TAG, main=...)`).
    """

    def __init__(self):
        self._counts = collections.Counter()
        self._notes = {}
        self._counters = {}  # name -> Beam counter, made once: making one costs more than counting

    def start(self) -> None:
        self._counts = collections.Counter()
        self._notes = {}

    def add(self, name: str, count: int = 1) -> None:
        """Adds `count` to counter `name`."""
        if count:
            beam_counter = self._counters.get(name)
            if beam_counter is None:
                beam_counter = self._counters[name] = Metrics.counter(NAMESPACE, name)
            beam_counter.inc(count)
            self._counts[name] += count
            LIVE_COUNTS.add(name, count)

    def note(self, name: str, value) -> None:
        """Records setting `name` (one of `SETTINGS`) as the JSON of `value`."""
        text = json.dumps(value, sort_keys=True)
        noted = self._notes.setdefault(name, set())
        if text not in noted:  # once per bundle and value: a step may note per element
            Metrics.string_set(NAMESPACE, name).add(text)
            noted.add(text)

    def emitted(self):
        """The bundle's tally as windowed `(name, value)` outputs on `TALLY_TAG`; then starts afresh."""
        items = list(self._counts.items()) + [(name, frozenset(texts)) for name, texts in self._notes.items()]
        self.start()
        for item in items:
            yield TaggedOutput(TALLY_TAG, GlobalWindows.windowed_value(item))


@beam.typehints.with_output_types(typing.Any, tally=tuple[str, typing.Any])
class TallyingDoFn(beam.DoFn):
    """A DoFn with a `Tally` in `self.tally`, emitted at the end of each bundle on `TALLY_TAG`.

    Subclasses that define `setup`, `start_bundle` or `finish_bundle` call the base's too
    (`yield from super().finish_bundle()`).
    """

    @property
    def tally(self) -> Tally:
        return self._tally

    def setup(self):
        self._tally = Tally()

    def start_bundle(self):
        self._tally.start()

    def finish_bundle(self):
        yield from self._tally.emitted()


def summed_tallies(tallies) -> dict:
    """`{name: total}` over `(name, value)` tallies: ints summed, settings' JSON texts united."""
    totals = {}
    for name, value in tallies:
        if isinstance(value, frozenset):
            totals[name] = totals.get(name, frozenset()) | value
        else:
            totals[name] = totals.get(name, 0) + value
    return totals


def counter_values(metric_results) -> dict[str, int]:
    """Sums each counter of the namespace over steps, as a runner reports them: `{name: value}`.

    Committed values where the runner commits them, else attempted ones; what a launcher that
    waits (or polls a running job) sees, next to the summary the job writes itself.

    Args:
        metric_results: `PipelineResult.metrics()`.
    """
    values = {}
    for result in metric_results.query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        value = result.committed if result.committed is not None else result.attempted
        values[result.key.metric.name] = values.get(result.key.metric.name, 0) + value
    return values


class ProgressLog:
    """Logs clips, audio and throughput of this worker at most every `interval_seconds`.

    The launcher shows the job's progress where it can read the counts while the job runs (in
    its own process, or from Dataflow's counters); where it cannot (the local runner's worker
    processes in `multi_processing` mode), these worker lines are the progress.

    Args:
        interval_seconds: float. Least time between two log lines. Defaults to 30.
    """

    def __init__(self, interval_seconds: float = PROGRESS_INTERVAL_SECONDS):
        self.interval_seconds = interval_seconds
        self._start = self._last = time.monotonic()
        self._clips = 0
        self._audio_seconds = 0.0

    def add(self, audio_seconds: float) -> None:
        self._clips += 1
        self._audio_seconds += audio_seconds
        now = time.monotonic()
        if now - self._last >= self.interval_seconds:
            self._last = now
            logging.info(
                "Embedded %d clips, %.2f h of audio, %.1f audio-seconds per second in this worker.",
                self._clips,
                self._audio_seconds / 3600,
                self._audio_seconds / max(now - self._start, 1e-9),
            )
