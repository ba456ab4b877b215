"""Tests for metrics.py: the per-bundle tally and the progress log."""

import logging

import apache_beam as beam
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to

from gemma4_audio_embed.metrics import TALLY_TAG
from gemma4_audio_embed.metrics import ProgressLog
from gemma4_audio_embed.metrics import TallyingDoFn
from gemma4_audio_embed.metrics import summed_tallies


def test_progress_log_reports_clips_and_audio(caplog):
    progress = ProgressLog(interval_seconds=0.0)
    with caplog.at_level(logging.INFO):
        progress.add(1800.0)
        progress.add(1800.0)
    assert "Embedded 2 clips, 1.00 h of audio" in caplog.text


def test_progress_log_is_quiet_within_its_interval(caplog):
    progress = ProgressLog(interval_seconds=3600.0)
    with caplog.at_level(logging.INFO):
        progress.add(1.0)
    assert "Embedded" not in caplog.text


class _Counting(TallyingDoFn):
    def process(self, element):
        self.tally.add("clips_read")
        self.tally.note("devices", {"count": 1, "kind": "cpu"})
        yield element


def test_a_tallying_step_emits_its_counts_per_bundle_beside_its_beam_counters():
    pipeline = test_pipeline.TestPipeline(runner="FnApiRunner")
    outputs = pipeline | beam.Create([1, 2, 3]) | beam.ParDo(_Counting()).with_outputs(TALLY_TAG, main="main")
    assert_that(outputs.main, equal_to([1, 2, 3]), label="Main")
    assert_that(
        outputs[TALLY_TAG] | beam.combiners.ToList() | beam.Map(summed_tallies),
        equal_to([{"clips_read": 3, "devices": frozenset(['{"count": 1, "kind": "cpu"}'])}]),
        label="Tally",
    )
    result = pipeline.run()
    result.wait_until_finish()
    (clips_read,) = [c.committed for c in result.metrics().query()["counters"] if c.key.metric.name == "clips_read"]
    assert clips_read == 3


def test_summed_tallies_add_counts_and_unite_settings():
    tallies = [("a", 1), ("a", 2), ("s", frozenset(["1"])), ("s", frozenset(["2"]))]
    assert summed_tallies(tallies) == {"a": 3, "s": frozenset(["1", "2"])}
