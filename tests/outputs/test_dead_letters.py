"""Tests for outputs/dead_letters.py: entries per element type, counting, and the JSONL sink."""

import json

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.io.filesystem import FileMetadata
from apache_beam.ml.inference.base import PredictionResult
from apache_beam.testing import test_pipeline

from gemma4_audio_embed.audio.clips import Clip
from gemma4_audio_embed.audio.clips import ClipInfo
from gemma4_audio_embed.inputs.dead_letter import DEAD_LETTER_TAG
from gemma4_audio_embed.inputs.dead_letter import dead_letter
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.sources import BadInput
from gemma4_audio_embed.outputs.dead_letters import FormatDeadLetters
from gemma4_audio_embed.outputs.dead_letters import WriteDeadLetters
from gemma4_audio_embed.outputs.dead_letters import dead_letter_entries
from gemma4_audio_embed.outputs.layout import OutputLayout

INFO = ClipInfo(
    key="s.tar#a.wav@1",
    input_key="s.tar#a.wav",
    source="s.tar",
    segment_index=1,
    start_seconds=30.0,
    num_samples=5,
)
CLIP_FIELDS = {
    "source": "s.tar",
    "key": "s.tar#a.wav@1",
    "input_key": "s.tar#a.wav",
    "segment_index": 1,
    "start_seconds": 30.0,
}
INPUT_FIELDS = {"source": "s.tar", "key": "s.tar#a.wav", "input_key": "s.tar#a.wav"}
ERROR = (ValueError, "ValueError('bad')", ["Traceback ...\n", "ValueError: bad\n"])


@pytest.mark.parametrize(
    "element, fields",
    [
        (
            FileMetadata("gs://b/x.tar", 10),
            [{"source": "gs://b/x.tar", "key": "gs://b/x.tar", "input_key": "gs://b/x.tar"}],
        ),
        (EncodedAudio("s.tar#a.wav", "s.tar", b""), [INPUT_FIELDS]),
        (BadInput("s.tar#a.wav", "s.tar", ValueError("bad")), [INPUT_FIELDS]),
        (Clip(INFO, np.zeros(5, np.float32)), [CLIP_FIELDS]),
        ((INFO, np.zeros((1, 128), np.float32)), [CLIP_FIELDS]),
        ((INFO, PredictionResult(None, np.zeros((1, 4)), "f")), [CLIP_FIELDS]),
        (
            [(INFO, None), (INFO._replace(key="s.tar#a.wav@2"), None)],
            [CLIP_FIELDS, CLIP_FIELDS | {"key": "s.tar#a.wav@2"}],
        ),
    ],
    ids=["file", "encoded", "bad_input", "clip", "features", "prediction", "batch"],
)
def test_dead_letter_entries_per_element_type(element, fields):
    entries = dead_letter_entries("decode", (element, ERROR))
    assert [{name: entry[name] for name in fields[0]} for entry in entries] == fields
    assert all(
        (entry["stage"], entry["error"], entry["error_type"]) == ("decode", "ValueError: bad", "ValueError")
        for entry in entries
    )
    assert all(entry["traceback"] == "Traceback ...\nValueError: bad\n" for entry in entries)


def test_dead_letter_builds_beams_form():
    tagged = dead_letter(EncodedAudio("k", "s", None), KeyError("missing"))
    assert tagged.tag == DEAD_LETTER_TAG
    element, (exc_type, exc_repr, lines) = tagged.value
    assert (element.key, exc_type, exc_repr, lines) == (
        "k",
        KeyError,
        "KeyError('missing')",
        ["KeyError: 'missing'\n"],
    )


def test_format_dead_letters_rejects_unknown_stage():
    with pytest.raises(ValueError, match="stage"):
        FormatDeadLetters("write")


RUN_ID = "20261205T081500Z-3fa2c1"


def test_write_dead_letters_writes_one_jsonl_shard_and_counts(tmp_path):
    pipeline = test_pipeline.TestPipeline(runner="FnApiRunner")
    read = pipeline | "Read" >> beam.Create([(FileMetadata("x.tar", 1), ERROR)])
    batch = pipeline | "Batch" >> beam.Create([([(INFO, None), (INFO, None)], ERROR)])
    _ = {"read": read, "inference": batch} | WriteDeadLetters(OutputLayout(str(tmp_path / "out")), RUN_ID)
    result = pipeline.run()
    result.wait_until_finish()
    (path,) = tmp_path.glob("out-dead-letter-*.jsonl")
    assert path.name == f"out-dead-letter-{RUN_ID}-00000-of-00001.jsonl"
    stages = sorted(json.loads(line)["stage"] for line in path.read_text().splitlines())
    assert stages == ["inference", "inference", "read"]
    counters = {}
    for counter in result.metrics().query()["counters"]:  # one result per step: sum them
        counters[counter.key.metric.name] = counters.get(counter.key.metric.name, 0) + counter.committed
    assert {name: counters[name] for name in ("dead_letters", "dead_letters_read", "dead_letters_inference")} == {
        "dead_letters": 3,
        "dead_letters_read": 1,
        "dead_letters_inference": 2,
    }


def test_nothing_failed_still_writes_an_empty_shard(tmp_path):
    with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
        empty = pipeline | beam.Create([])
        _ = {"decode": empty} | WriteDeadLetters(OutputLayout(str(tmp_path / "out")), RUN_ID)
    assert [path.read_text() for path in tmp_path.glob("out-dead-letter-*.jsonl")] == [""]


def test_each_run_writes_its_own_dead_letters_beside_earlier_runs(tmp_path):
    layout = OutputLayout(str(tmp_path / "out"))
    for run_id, key in (("20260101T000000Z-aaaaaa", "x.tar"), ("20260102T000000Z-bbbbbb", "y.tar")):
        with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
            read = pipeline | beam.Create([(FileMetadata(key, 1), ERROR)])
            _ = {"read": read} | WriteDeadLetters(layout, run_id)
    found = {path.name: json.loads(path.read_text())["source"] for path in tmp_path.glob("out-dead-letter-*.jsonl")}
    assert found == {
        "out-dead-letter-20260101T000000Z-aaaaaa-00000-of-00001.jsonl": "x.tar",
        "out-dead-letter-20260102T000000Z-bbbbbb-00000-of-00001.jsonl": "y.tar",
    }
    assert sorted(tmp_path.glob(layout.dead_letter_glob.rsplit("/", 1)[1])) == sorted(
        tmp_path.glob("out-dead-letter-*")
    )


def test_an_entry_is_bounded_and_repeated_failures_of_one_file_share_a_traceback():
    format_dead_letters = FormatDeadLetters("decode")
    format_dead_letters.setup()
    format_dead_letters.start_bundle()
    lines = ["Traceback (most recent call last):\n", "y" * 50_000 + "\n", "ValueError: " + "x" * 49_988 + "\n"]
    long_error = (ValueError, "ValueError(...)", lines)
    entries = [
        json.loads(line)
        for index in range(5)
        for line in format_dead_letters.process((BadInput(f"list.jsonl#{index}", "list.jsonl", None), long_error))
    ]
    assert [len(entry["error"]) < 1100 for entry in entries] == [True] * 5
    assert entries[0]["error"].endswith("[... 49000 characters cut]")
    first = entries[0]["traceback"]
    assert len(first) < 4100 and first.startswith("Traceback (most") and first.endswith("x" * 100 + "\n")
    assert [entry["traceback"] == first for entry in entries] == [True, True, True, False, False]
    assert entries[4]["traceback"] == "(as for list.jsonl#0: the same error type from the same input file)"
    other_file = format_dead_letters.process((BadInput("b.wav", "b.wav", None), long_error))
    assert json.loads(next(iter(other_file)))["traceback"] == first
