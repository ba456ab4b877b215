"""Tests for inputs/read.py: format detection, matching, and per-entry dead letters."""

import bz2
import gzip

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to
from synthetic_audio import audio_bytes
from synthetic_audio import tone
from synthetic_audio import write_manifest
from synthetic_audio import write_tar

from gemma4_audio_embed.inputs.dead_letter import DEAD_LETTER_TAG
from gemma4_audio_embed.inputs.read import MatchInputs
from gemma4_audio_embed.inputs.read import ReadInputs
from gemma4_audio_embed.inputs.read import detected_format
from gemma4_audio_embed.outputs.layout import OutputLayout


@pytest.mark.parametrize(
    "uri, input_format",
    [
        ("gs://b/shard-000.tar", "tar"),
        ("a/b.TGZ", "tar"),
        ("x.tar.gz", "tar"),
        ("x.tfrecord", "tfrecord"),
        ("x.tfrecords.gz", "tfrecord"),
        ("x.parquet", "parquet"),
        ("list.jsonl", "manifest"),
        ("list.json", "manifest"),
        ("list.jsonl.gz", "manifest"),
        ("LIST.JSONL.BZ2", "manifest"),
        ("list.json.zst", "manifest"),
        ("x.tar.xz", "tar"),
        ("talk.m4a", "audio"),
        ("speech.flac", "audio"),
        ("speech.mp3", "audio"),
        ("README.md", "audio"),  # anything unlisted is tried as audio, and dead-lettered if it is not
    ],
)
def test_detected_format(uri, input_format):
    assert detected_format(uri) == input_format


def test_bad_arguments_raise_at_construction():
    with pytest.raises(ValueError, match="input_format"):
        ReadInputs(input_format="wav")
    with pytest.raises(ValueError, match="patterns"):
        MatchInputs([])


def test_reads_each_format_and_dead_letters_bad_entries(tmp_path):
    wav = audio_bytes(tone(0.2), 16000)
    (tmp_path / "a.wav").write_bytes(wav)
    shard = write_tar(tmp_path / "s.tar", {"x.wav": wav, "y.txt": b"no audio"})
    manifest = write_manifest(tmp_path / "m.jsonl", [{"path": "a.wav"}, "[1, 2]"])
    (tmp_path / "broken.tar").write_bytes(b"\x01" * 700)
    pipeline = test_pipeline.TestPipeline(runner="FnApiRunner")
    inputs, dead = (
        pipeline
        | MatchInputs([str(tmp_path / "*")])
        | beam.ParDo(ReadInputs()).with_exception_handling(dead_letter_tag=DEAD_LETTER_TAG, partial=True)
    )
    assert_that(
        inputs | "Keys" >> beam.Map(lambda item: (item.key, item.source, item.data is None)),
        equal_to(
            [
                (f"{tmp_path}/a.wav", f"{tmp_path}/a.wav", True),
                (f"{shard}#x.wav", str(shard), False),
                (f"{manifest}#1", f"{tmp_path}/a.wav", True),
            ]
        ),
        label="Inputs",
    )
    assert_that(
        dead | "DeadKeys" >> beam.Map(lambda letter: getattr(letter[0], "key", getattr(letter[0], "path", None))),
        equal_to([f"{shard}#y", f"{manifest}#2", f"{tmp_path}/broken.tar"]),
        label="DeadLetters",
    )
    result = pipeline.run()
    result.wait_until_finish()
    (inputs_read,) = [c.committed for c in result.metrics().query()["counters"] if c.key.metric.name == "inputs_read"]
    assert inputs_read == 6  # 3 inputs, 2 bad entries, 1 unreadable file


def test_a_pattern_that_matches_nothing_fails_the_job(tmp_path):
    with pytest.raises(Exception, match="matches no file"):
        with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
            _ = pipeline | MatchInputs([str(tmp_path / "*.wav")])


def _read(patterns, expected_inputs, expected_dead=()):
    """Runs MatchInputs | ReadInputs, asserts the input and dead-letter keys; returns the counters."""
    pipeline = test_pipeline.TestPipeline(runner="FnApiRunner")
    inputs, dead = (
        pipeline
        | MatchInputs(patterns)
        | beam.ParDo(ReadInputs()).with_exception_handling(dead_letter_tag=DEAD_LETTER_TAG, partial=True)
    )
    assert_that(inputs | "Keys" >> beam.Map(lambda item: item.key), equal_to(expected_inputs), label="Inputs")
    assert_that(dead | "DeadKeys" >> beam.Map(lambda letter: letter[0].key), equal_to(expected_dead), label="Dead")
    result = pipeline.run()
    result.wait_until_finish()
    return {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}


@pytest.mark.parametrize("suffix, compress", [(".gz", gzip.compress), (".bz2", bz2.compress)])
def test_compressed_manifests_are_read_line_by_line(tmp_path, suffix, compress):
    (tmp_path / "a.wav").write_bytes(audio_bytes(tone(0.2), 16000))
    manifest = tmp_path / f"list.jsonl{suffix}"
    manifest.write_bytes(compress(b'{"path": "a.wav", "id": "one"}\n{"path": "a.wav", "id": "two"}\n'))
    _read([str(manifest)], [f"{manifest}#one", f"{manifest}#two"])


def test_skipped_members_and_repeated_ids_are_counted(tmp_path):
    wav = audio_bytes(tone(0.2), 16000)
    shard = write_tar(tmp_path / "s.tar", {"._a.wav": b"\x00\x05", "a.wav": wav})
    manifest = write_manifest(tmp_path / "m.jsonl", [{"path": "a.wav", "id": "u"}, {"path": "a.wav", "id": "u"}])
    counters = _read([str(shard), str(manifest)], [f"{manifest}#u", f"{manifest}#u#2", f"{shard}#a.wav"])
    assert (counters["inputs_read"], counters["entries_skipped"], counters["repeated_ids"]) == (4, 1, 1)


def test_a_file_matched_by_two_patterns_is_read_once(tmp_path):
    (tmp_path / "a.wav").write_bytes(audio_bytes(tone(0.2), 16000))
    counters = _read([str(tmp_path / "*.wav"), str(tmp_path / "a.wav")], [f"{tmp_path}/a.wav"])
    assert counters["inputs_read"] == 1


def test_a_file_spelled_several_ways_is_read_once_under_its_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    (tmp_path / "x").mkdir()
    (tmp_path / "d" / "a.wav").write_bytes(audio_bytes(tone(0.2), 16000))
    monkeypatch.chdir(tmp_path)
    spellings = ["d/a.wav", "d//a.wav", "./d/a.wav", f"{tmp_path}/x/../d/a.wav", str(tmp_path / "d" / "a.wav")]
    counters = _read(spellings, [f"{tmp_path}/d/a.wav"])
    assert counters["inputs_read"] == 1


def test_names_that_spell_other_keys_get_keys_of_their_own(tmp_path):
    wav = audio_bytes(tone(0.2), 16000)
    (tmp_path / "a.wav").write_bytes(wav)
    (tmp_path / "a.wav@0").write_bytes(wav)  # would be window 0 of a.wav
    shard = write_tar(tmp_path / "s.tar", {"x.wav": wav})
    (tmp_path / "s.tar#x.wav").write_bytes(wav)  # would be member x.wav of s.tar
    _read(
        [str(tmp_path / "*")],
        [f"{tmp_path}/a.wav", f"{tmp_path}/a.wav%400", f"{shard}#x.wav", f"{tmp_path}/s.tar%23x.wav"],
    )


def test_the_jobs_own_output_files_are_never_matched_as_inputs(tmp_path):
    wav = audio_bytes(tone(0.2), 16000)
    (tmp_path / "a.wav").write_bytes(wav)
    (tmp_path / "out-dead-letter-00000-of-00001.jsonl").write_text('{"path": "a.wav"}\n')
    (tmp_path / "out-summary.json").write_text("{}")
    (tmp_path / "outside.jsonl").write_text('{"path": "a.wav", "id": "kept"}\n')  # shares "out", not "out-"
    listed = tmp_path / "inputs.txt"
    listed.write_text("out-summary.json\na.wav\n")
    with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
        paths = pipeline | MatchInputs(
            [str(tmp_path / "*.json*"), str(tmp_path / "a.wav")],
            [str(listed)],
            excluded_prefix=OutputLayout(str(tmp_path / "out")).owned_prefix,
        )
        found = paths | beam.Map(lambda metadata: metadata.path.rsplit("/", 1)[-1])
        assert_that(found, equal_to(["a.wav", "outside.jsonl"]))
