"""Tests for pipeline/summary.py: the summary arithmetic and the job's own summary step."""

import json
import pathlib
import time

import apache_beam as beam
from apache_beam.testing import test_pipeline

from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.outputs.lock import OutputLock
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
    assert summary["padding_efficiency"] is None  # no batch counted
    assert run_summary({}, wall_seconds=1.0, outputs={}, model="m")["inputs_by_audio"] == {
        "format": {},
        "sample_rate": {},
        "channels": {},
    }


RUN_ID = "20261205T081500Z-3fa2c1"


def _summary_of(tallies, tmp_path, dead_letter_files=()):
    """Runs `WriteSummary` over `tallies` ((name, value) pairs); returns the summary file's dict."""
    layout = OutputLayout(str(tmp_path / "x"))
    with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
        _ = (
            pipeline
            | "Tallies" >> beam.Create(list(tallies))
            | WriteSummary(
                layout=layout,
                run_id=RUN_ID,
                committed=pipeline | "Committed" >> beam.Create(["done"]),
                dead_letter_files=pipeline | "DeadLetterFiles" >> beam.Create(list(dead_letter_files)),
                outputs={"records": "o-*"},
                model="m",
                launch_time=time.time(),
            )
        )
    return json.loads(pathlib.Path(layout.summary).read_text())


def test_the_summary_sums_every_tally_of_the_job_and_names_the_runs_dead_letter_files(tmp_path):
    tallies = [("inputs_read", 2), ("inputs_read", 3), ("clips_embedded", 4), ("dead_letters_decode", 1)]
    summary = _summary_of(
        tallies, tmp_path, dead_letter_files=[f"{tmp_path}/x-dead-letter-{RUN_ID}-00000-of-00001.jsonl"]
    )
    assert (summary["inputs"], summary["records"], summary["dead_letters_by_stage"]["decode"]) == (5, 4, 1)
    assert (summary["model"], summary["outputs"], summary["run_id"]) == ("m", {"records": "o-*"}, RUN_ID)
    assert summary["dead_letter_files"] == [f"x-dead-letter-{RUN_ID}-00000-of-00001.jsonl"]


def test_the_summary_step_releases_the_lock_of_its_own_run_only(tmp_path):
    layout = OutputLayout(str(tmp_path / "x"))
    OutputLock(layout.lock, RUN_ID).acquire(heartbeat=False)
    _summary_of([], tmp_path)
    assert not pathlib.Path(layout.lock).exists()
    OutputLock(layout.lock, "20261205T090000Z-000000").acquire(heartbeat=False)  # another run's
    _summary_of([], tmp_path)
    assert json.loads(pathlib.Path(layout.lock).read_text())["run_id"] == "20261205T090000Z-000000"


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


def test_padding_efficiency_is_valid_over_computed_frames():
    counts = {"frames_valid": 460, "frames_computed": 864}
    assert run_summary(counts, wall_seconds=1.0, outputs={}, model="m")["padding_efficiency"] == 460 / 864
