"""Tests for pipeline/summary.py: the summary arithmetic and the job's own summary step."""

import json
import pathlib
import time

import apache_beam as beam
from apache_beam.testing import test_pipeline

from gemma4_audio_embed.pipeline.summary import WriteSummary
from gemma4_audio_embed.pipeline.summary import run_summary
from gemma4_audio_embed.pipeline.summary import worker_settings


def test_run_summary_arithmetic():
    counts = {
        "inputs_read": 10,
        "clips_read": 12,
        "clips_embedded": 9,
        "dead_letters": 4,
        "dead_letters_decode": 3,
        "dead_letters_features": 1,
        "audio_samples_embedded": 16000 * 7200,  # 2 h at 16 kHz
        "tokens_embedded": 180000,
        "audio_format:wav": 7,
        "audio_format:mp3": 2,
        "audio_sample_rate:16000": 6,
        "audio_sample_rate:44100": 3,
        "audio_channels:1": 9,
    }
    summary = run_summary(counts, wall_seconds=60.0, outputs={"records": "o-*"}, model="m")
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
    assert summary["inputs_by_audio"] == {
        "format": {"mp3": 2, "wav": 7},
        "sample_rate": {"16000": 6, "44100": 3},
        "channels": {"1": 9},
    }
    assert run_summary({}, wall_seconds=1.0, outputs={}, model="m")["inputs_by_audio"] == {
        "format": {},
        "sample_rate": {},
        "channels": {},
    }


def _summary_of(tallies, tmp_path, written=()):
    """Runs `WriteSummary` over `tallies` ((name, value) pairs); returns the summary file's dict."""
    path = str(tmp_path / "x-summary.json")
    with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
        waits = [pipeline | f"Written{index}" >> beam.Create(list(files)) for index, files in enumerate(written)]
        _ = (
            pipeline
            | beam.Create(list(tallies))
            | WriteSummary(path=path, written=waits, outputs={"records": "o-*"}, model="m", launch_time=time.time())
        )
    return json.loads(pathlib.Path(path).read_text())


def test_the_summary_sums_every_tally_of_the_job(tmp_path):
    tallies = [("inputs_read", 2), ("inputs_read", 3), ("clips_embedded", 4), ("dead_letters_decode", 1)]
    summary = _summary_of(tallies, tmp_path, written=[["a.tfrecord"], []])
    assert (summary["inputs"], summary["records"], summary["dead_letters_by_stage"]["decode"]) == (5, 4, 1)
    assert (summary["model"], summary["outputs"]) == ("m", {"records": "o-*"})


def test_worker_settings_give_the_one_report_of_all_workers_or_every_distinct_one(tmp_path):
    four = json.dumps({"count": 4, "kind": "TPU v5 lite"})
    one = json.dumps({"count": 1, "kind": "cpu"})
    assert worker_settings({"devices": frozenset([four])})["devices"] == {"count": 4, "kind": "TPU v5 lite"}
    assert worker_settings({"devices": frozenset([four, one])})["devices"] == [
        {"count": 1, "kind": "cpu"},
        {"count": 4, "kind": "TPU v5 lite"},
    ]
    assert worker_settings({}) == {"devices": None, "max_batch_frames": None, "features_on_device": None}
    summary = _summary_of([("devices", frozenset([four])), ("devices", frozenset([four]))], tmp_path)
    assert summary["devices"] == {"count": 4, "kind": "TPU v5 lite"}


def test_an_empty_job_still_writes_its_summary(tmp_path):
    summary = _summary_of([], tmp_path)
    assert (summary["inputs"], summary["records"], summary["dead_letters"]) == (0, 0, 0)


def test_run_summary_adds_worker_settings():
    summary = run_summary(
        {}, wall_seconds=1.0, outputs={}, model="m", settings={"devices": {"count": 4, "kind": "cpu"}}
    )
    assert summary["devices"] == {"count": 4, "kind": "cpu"}
