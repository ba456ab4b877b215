"""Specifications of pipeline/progress.py: progress from counts, its texts, the ETA, and `watch` over a job."""

import threading

import pytest
from apache_beam.metrics.execution import MetricKey
from apache_beam.metrics.execution import MetricResult
from apache_beam.metrics.metricbase import MetricName

from gemma4_audio_embed.metrics import LIVE_COUNTS
from gemma4_audio_embed.metrics import NAMESPACE
from gemma4_audio_embed.pipeline.progress import EtaEstimator
from gemma4_audio_embed.pipeline.progress import LineDisplay
from gemma4_audio_embed.pipeline.progress import Progress
from gemma4_audio_embed.pipeline.progress import duration_text
from gemma4_audio_embed.pipeline.progress import watch

COUNTS = {
    "inputs_read": 500,
    "inputs_decoded": 110,
    "dead_letters_read": 6,  # inputs that never reached decoding
    "entries_skipped": 4,
    "clips_embedded": 180,
    "dead_letters": 8,
    "audio_samples_embedded": 16000 * 1872,  # 0.52 h
}


def test_progress_from_counts():
    progress = Progress.from_counts(COUNTS, elapsed_seconds=156.0, eta_seconds=310.0)
    assert (progress.inputs, progress.inputs_done) == (500, 110 + 6 + 4)
    assert (progress.records, progress.dead_letters, progress.audio_seconds) == (180, 8, 1872.0)
    assert progress.audio_seconds_per_second == 12.0  # 1872 s in 156 s
    assert progress.line() == (
        "120/500 inputs done, 0.52 h of audio, 180 records, 8 dead letters, 12.0 audio-s/s, ETA 5 min 10 s [2 min 36 s]"
    )
    assert Progress.from_counts({}, elapsed_seconds=0.0).line() == (
        "0/0 inputs done, 0.00 h of audio, 0 records, 0 dead letters, 0.0 audio-s/s [0 s]"
    )


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0, "0 s"),
        (59.4, "59 s"),
        (60, "1 min 00 s"),
        (3599, "59 min 59 s"),
        (3600, "1 h 00 min"),
        (90061, "25 h 01 min"),
    ],
)
def test_duration_text(seconds, text):
    assert duration_text(seconds) == text


def test_eta_is_the_rest_at_the_rate_since_the_first_input_was_done():
    eta = EtaEstimator()
    assert eta.update(inputs=100, inputs_done=0, now=5.0) is None  # reading: no rate yet
    assert eta.update(inputs=100, inputs_done=10, now=20.0) is None  # the start of the rate
    assert eta.update(inputs=100, inputs_done=10, now=25.0) is None  # no input done since
    assert eta.update(inputs=100, inputs_done=40, now=30.0) == 20.0  # 30 inputs in 10 s; 60 left
    assert eta.update(inputs=100, inputs_done=100, now=40.0) == 0.0


class _Shown(LineDisplay):
    """A LineDisplay that keeps what it is shown and polls every 10 ms."""

    def __init__(self):
        super().__init__(interval_seconds=0.01)
        self.shown, self.closed = [], []

    def show(self, progress):
        self.shown.append(progress)

    def close(self, progress):
        self.closed.append(progress)


class _FinishedResult:
    def __init__(self, metrics=None):
        self._metrics = metrics

    def wait_until_finish(self):
        return "DONE"

    def metrics(self):
        return self._metrics


def test_watch_shows_the_counts_this_process_makes_while_the_job_runs():
    LIVE_COUNTS.add("inputs_read", 1000)  # an earlier job in this process: not this one's
    step = threading.Event()

    def job():  # what a local runner does: the steps count in this thread, the result comes at the end
        LIVE_COUNTS.add("inputs_read", 3)
        LIVE_COUNTS.add("inputs_decoded", 1)
        step.wait(timeout=10)
        LIVE_COUNTS.add("inputs_decoded", 2)
        return _FinishedResult()

    display = _Shown()
    watcher = threading.Timer(0.3, step.set)
    watcher.start()
    result = watch(job, display)
    assert result.wait_until_finish() == "DONE"
    assert (display.shown[0].inputs, display.shown[0].inputs_done) == (3, 1)
    (final,) = display.closed
    assert (final.inputs, final.inputs_done, final.eta_seconds) == (3, 3, None)


class _Counters:
    """`PipelineResult.metrics()` of a job running elsewhere: its counters, as Beam's MetricResults query them."""

    def __init__(self, counts):
        self._results = [
            MetricResult(MetricKey("Step", MetricName(NAMESPACE, name)), committed=value, attempted=value)
            for name, value in counts.items()
        ]

    def query(self, _):
        return {"counters": self._results}


def test_watch_reads_the_counters_of_a_job_that_runs_elsewhere():
    display = _Shown()
    result = watch(lambda: _FinishedResult(_Counters({"inputs_read": 7, "inputs_decoded": 7})), display)
    assert result.metrics() is not None
    (final,) = display.closed
    assert (final.inputs, final.inputs_done) == (7, 7)


def test_watch_raises_what_the_job_raised():
    def job():
        raise RuntimeError("the job failed")

    with pytest.raises(RuntimeError, match="the job failed"):
        watch(job, _Shown())
