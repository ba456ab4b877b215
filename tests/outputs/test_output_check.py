"""Tests for outputs/output_check.py: the job's own check of its files against its counts.

Files: two shards of a prefix, written by the real writers (`write_record_file`,
`write_index_file`), holding keys a, b (shard 0) and c (shard 1); payloads are short bytes,
as only framing, sizes and index rows are checked.
"""

import json
import pathlib

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline

from gemma4_audio_embed.outputs.index import INDEX_FIELDS
from gemma4_audio_embed.outputs.index import write_index_file
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.outputs.output_check import CheckOutput
from gemma4_audio_embed.outputs.output_check import output_problems
from gemma4_audio_embed.outputs.record_files import write_record_file
from gemma4_audio_embed.outputs.writer import WrittenFile


def _write(layout: OutputLayout, shard: int, num_shards: int, keys: list) -> WrittenFile:
    record_file, index_file = layout.shard_files(shard, num_shards)
    rows = [{name: None for name in INDEX_FIELDS.names} | {"key": key, "metadata": "{}"} for key in keys]
    write_index_file(index_file, rows, {})
    count = write_record_file(record_file, [key.encode() * 10 for key in keys])
    return WrittenFile(
        record_file, index_file, record_file, index_file, count, pathlib.Path(record_file).stat().st_size
    )


@pytest.fixture()
def output(tmp_path):
    """`(layout, written files, dead-letter file holding one entry)`."""
    layout = OutputLayout(str(tmp_path / "emb"))
    written = [_write(layout, 0, 2, ["a", "b"]), _write(layout, 1, 2, ["c"])]
    dead = tmp_path / "emb-dead-letter-r-00000-of-00001.jsonl"
    dead.write_text(json.dumps({"key": "d"}) + "\n")
    return layout, written, [str(dead)]


def _problems(written, dead, records=3, dead_letters=1, keys=("a", "b", "c"), sharded=True):
    totals = {"clips_embedded": records, "dead_letters": dead_letters}
    return output_problems(
        written=written, totals=totals, expected_keys=keys, dead_letter_files=dead, duplicates_files=[], sharded=sharded
    )


def test_a_sound_output_has_no_problem(output):
    _, written, dead = output
    assert _problems(written, dead) == []


def test_records_the_encoder_made_that_no_file_holds_are_named(output):
    _, written, dead = output
    problems = _problems(written, dead, records=5, keys=("a", "b", "c", "x", "y"))
    assert problems == ["the encoder step made 5 records, the files written hold 3; missing keys: x, y"]


def test_a_file_two_writers_wrote_is_named(output):
    layout, written, dead = output
    again = _write(layout, 1, 2, ["e"])  # a second writer of shard 1, which replaced "c"
    problems = _problems([*written, again], dead, records=4, keys=("a", "b", "c", "e"))
    assert problems[0].startswith("1 record files were written by more than one writer")
    assert problems[-1].endswith("missing keys: c")


def test_a_file_changed_or_gone_after_its_writer_and_a_missing_shard_are_named(output):
    layout, written, dead = output
    pathlib.Path(written[0].record_file).write_bytes(b"truncated")
    pathlib.Path(written[1].index_file).unlink()
    problems = _problems(written, dead, records=3)
    assert f"{written[0].record_file} holds 9 bytes, {written[0].size_in_bytes} were written" in problems
    assert f"{written[1].index_file} is missing" in problems
    assert _problems(written[:1], dead, records=2, keys=("a", "b"))[-1] == "shards [1] of 2 were not written"


def test_dead_letters_the_steps_counted_but_the_files_lack_are_named(output):
    _, written, dead = output
    problems = _problems(written, dead, dead_letters=2)
    assert problems == [f"the steps counted 2 dead letters, {dead} hold 1"]


def test_in_a_job_a_difference_fails_the_run_naming_the_missing_keys(output):
    _, written, dead = output
    with pytest.raises(Exception, match=r"check of its output failed.*missing keys: x"):
        with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
            _ = (
                pipeline
                | "Tallies" >> beam.Create([("clips_embedded", 3), ("clips_embedded", 1)])
                | CheckOutput(
                    written=pipeline | "Written" >> beam.Create(written),
                    keys=pipeline | "Keys" >> beam.Create(["a", "b", "c", "x"]),
                    dead_letter_files=pipeline | "DeadLetterFiles" >> beam.Create([]),
                    sharded=True,
                )
            )
