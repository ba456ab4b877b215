"""Tests for outputs/atomic.py: a file is written whole or not at all, even when the disk fills up."""

import pathlib

import pytest
from full_disk import FullDisk

from gemma4_audio_embed.outputs.atomic import write_atomically
from gemma4_audio_embed.outputs.index import INDEX_FIELDS
from gemma4_audio_embed.outputs.index import write_index_file
from gemma4_audio_embed.outputs.record_files import write_record_file


@pytest.fixture()
def full_disk():
    """The `fulldisk://` filesystem of tests/full_disk.py with 10 bytes left; room again afterwards."""
    FullDisk.budget = 10
    yield
    FullDisk.budget = None


def test_a_full_disk_leaves_an_existing_file_as_it_was_and_no_temporary(tmp_path, full_disk):
    path = tmp_path / "emb-summary.json"
    path.write_bytes(b"old summary")
    with pytest.raises(OSError, match="No space left on device"):
        write_atomically(f"fulldisk://{path}", b'{"records": 1000, "inputs": 1000}\n')
    assert [p.name for p in tmp_path.iterdir()] == ["emb-summary.json"]
    assert path.read_bytes() == b"old summary"


@pytest.mark.parametrize("suffix", [".tfrecord", ".tfrecord.gz", ".array_record"])
def test_a_full_disk_leaves_no_record_file_and_no_temporary(tmp_path, full_disk, suffix):
    with pytest.raises(OSError, match="No space left on device"):
        write_record_file(f"fulldisk://{tmp_path}/emb-00000-of-00001{suffix}", [b"x" * 100, b"y" * 100])
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_leaves_no_index_file(tmp_path, full_disk):
    rows = [{name: None for name in INDEX_FIELDS.names} | {"key": "k", "metadata": "{}"}]
    with pytest.raises(OSError, match="No space left on device"):
        write_index_file(f"fulldisk://{tmp_path}/emb-index-00000-of-00001.parquet", rows, {})
    assert list(tmp_path.iterdir()) == []


def test_with_room_the_file_is_written_whole(tmp_path):
    write_atomically(f"fulldisk://{tmp_path}/emb-stamp.json", b"{}\n")
    assert [(p.name, p.read_bytes()) for p in pathlib.Path(tmp_path).iterdir()] == [("emb-stamp.json", b"{}\n")]
