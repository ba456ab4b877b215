"""Tests for pipeline/summary.py: the summary arithmetic and the counter query."""

import json

import apache_beam as beam
from apache_beam.testing import test_pipeline

from pipeline.summary import counter_values
from pipeline.summary import run_summary
from pipeline.summary import worker_settings
from pipeline.summary import write_summary
from transforms.metrics import NAMESPACE
from transforms.metrics import counter


def test_run_summary_arithmetic():
    counters = {
        "inputs_read": 10,
        "clips_read": 12,
        "clips_embedded": 9,
        "dead_letters": 4,
        "dead_letters_decode": 3,
        "dead_letters_features": 1,
        "audio_samples_embedded": 16000 * 7200,  # 2 h at 16 kHz
        "tokens_embedded": 180000,
    }
    summary = run_summary(counters, wall_seconds=60.0, outputs={"records": "o-*"}, model="m")
    assert (summary["inputs"], summary["clips"], summary["records"], summary["dead_letters"]) == (
        10,
        12,
        9,
        4,
    )
    assert summary["dead_letters_by_stage"] == {
        "read": 0,
        "decode": 3,
        "features": 1,
        "inference": 0,
        "output": 0,
    }
    assert summary["audio_hours"] == 2.0
    assert summary["audio_seconds_per_second"] == 120.0  # 7200 s of audio in 60 s
    assert (summary["tokens"], summary["model"], summary["outputs"]) == (180000, "m", {"records": "o-*"})


def test_counter_values_sum_each_counter_over_steps(tmp_path):
    def count(element):
        counter("clips_read").inc(element)
        return element

    pipeline = test_pipeline.TestPipeline(runner="FnApiRunner")
    _ = pipeline | "A" >> beam.Create([1, 2]) | "CountA" >> beam.Map(count)
    _ = pipeline | "B" >> beam.Create([10]) | "CountB" >> beam.Map(count)
    result = pipeline.run()
    result.wait_until_finish()
    assert counter_values(result.metrics()) == {"clips_read": 13}


def _settings_reported(*reports):
    def report(element):
        beam.metrics.Metrics.string_set(NAMESPACE, "devices").add(element)
        return element

    pipeline = test_pipeline.TestPipeline(runner="FnApiRunner")
    _ = pipeline | beam.Create(list(reports)) | beam.Map(report)
    result = pipeline.run()
    result.wait_until_finish()
    return worker_settings(result.metrics())


def test_worker_settings_give_the_one_report_of_all_workers_or_every_distinct_one():
    four = json.dumps({"count": 4, "kind": "TPU v5 lite"})
    one = json.dumps({"count": 1, "kind": "cpu"})
    assert _settings_reported(four, four)["devices"] == {"count": 4, "kind": "TPU v5 lite"}
    assert _settings_reported(four, one)["devices"] == [{"count": 1, "kind": "cpu"}, {"count": 4, "kind": "TPU v5 lite"}]
    assert _settings_reported() == {"devices": None, "max_batch_frames": None, "features_on_device": None}


def test_run_summary_adds_worker_settings():
    summary = run_summary({}, wall_seconds=1.0, outputs={}, model="m", settings={"devices": {"count": 4, "kind": "cpu"}})
    assert summary["devices"] == {"count": 4, "kind": "cpu"}


def test_write_summary(tmp_path):
    write_summary(str(tmp_path / "x-summary.json"), {"records": 3})
    assert json.loads((tmp_path / "x-summary.json").read_text()) == {"records": 3}
