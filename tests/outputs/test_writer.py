"""Tests for outputs/writer.py: records spilled and assembled in order, staged for the run's last step; a full disk.

Records are short stand-in bytes with index rows of the schema's fields; keys k0..k5 of two
sources, given out of order. Record order in a file: (source, segment index, key).
"""

import pathlib

import apache_beam as beam
import pyarrow.parquet
import pytest
from apache_beam.testing import test_pipeline
from full_disk import FullDisk

from gemma4_audio_embed.outputs.index import INDEX_FIELDS
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.outputs.writer import WriteRecords
from gemma4_audio_embed.outputs.writer import shard_of
from gemma4_audio_embed.records import record_file_payloads

RUN_ID = "20261205T081500Z-3fa2c1"
# (source, segment index, key): given in this order, written sorted.
CLIPS = [("b.wav", 1, "b.wav@1"), ("a.wav", 0, "a.wav@0"), ("b.wav", 0, "b.wav@0"), ("a.wav", 2, "a.wav@2")]
CLIPS += [("a.wav", 1, "a.wav@1"), ("c.wav", 0, "c.wav@0")]


def _items():
    rows = [
        {name: None for name in INDEX_FIELDS.names if name != "record_file"}
        | {"source": source, "segment_index": segment, "key": key, "metadata": "{}"}
        for source, segment, key in CLIPS
    ]
    return [(row, f"record of {row['key']}".encode()) for row in rows]


_REPORTS = []  # what `_report` saw: the FnApiRunner runs the steps in this process


def _report(written_file) -> None:
    _REPORTS.append(tuple(written_file))


def _write(layout: OutputLayout, run_id: str = RUN_ID, num_shards: int = 1) -> list:
    """Runs `WriteRecords` on `_items()`; returns its `WrittenFile`s as tuples."""
    _REPORTS.clear()
    with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
        _ = (
            pipeline
            | beam.Create(_items())
            | WriteRecords(layout=layout, run_id=run_id, num_shards=num_shards)
            | beam.Map(_report)
        )
    return list(_REPORTS)


def test_records_go_to_their_shard_sorted_and_are_staged_with_their_index(tmp_path):
    layout = OutputLayout(str(tmp_path / "emb"))
    written = sorted(_write(layout, num_shards=2))
    assert [pathlib.Path(report[0]).name for report in written] == [f"emb-0000{s}-of-00002.tfrecord" for s in range(2)]
    staging = pathlib.Path(layout.staging_folder(RUN_ID))
    for shard, (record_file, _, staged_records, staged_index, records, size) in enumerate(written):
        assert pathlib.Path(staged_records).parent == staging and not pathlib.Path(record_file).exists()
        expected = sorted((source, segment, key) for source, segment, key in CLIPS if shard_of(key, 2) == shard)
        payloads = list(record_file_payloads(staged_records))
        assert payloads == [f"record of {key}".encode() for _, _, key in expected]
        assert (records, size) == (len(expected), pathlib.Path(staged_records).stat().st_size)
        index = pyarrow.parquet.read_table(staged_index).to_pylist()
        assert [row["key"] for row in index] == [key for _, _, key in expected]
        assert {row["record_file"] for row in index} <= {pathlib.Path(record_file).name}


def test_per_input_files_go_to_their_final_names(tmp_path):
    layout = OutputLayout(str(tmp_path / "emb"), per_input=True)
    written = _write(layout)
    assert {report[0] for report in written} == {
        layout.input_files(source)[0] for source in ("a.wav", "b.wav", "c.wav")
    }
    assert all(report[0] == report[2] and pathlib.Path(report[0]).exists() for report in written)


@pytest.mark.parametrize("budget", [60, 200], ids=["while_spilling", "while_assembling"])
def test_a_full_disk_fails_the_step_and_leaves_no_record_file(tmp_path, budget):
    """The records spill first (6 records, 94 bytes), then each shard is written from the spill."""
    layout = OutputLayout(f"fulldisk://{tmp_path}/emb")
    FullDisk.budget = budget
    try:
        with pytest.raises(Exception, match="No space left on device"):
            _write(layout)
    finally:
        FullDisk.budget = None
    assert not list(tmp_path.glob("emb-*"))  # nothing under the prefix's final names; only its temporary folder
    assert [path.name for path in tmp_path.iterdir()] == [f"emb.temp-{RUN_ID}"]
    assert len(_write(layout, run_id="20261205T090000Z-000000")) == 1  # with room again, a new run writes
