"""Tests for transforms/sources/parquet_shards.py: HF `datasets` audio structs, paths and ids."""

import pytest
from synthetic_audio import write_parquet

from transforms.elements import EncodedAudio
from transforms.sources import BadInput
from transforms.sources.parquet_shards import parquet_shard_inputs


def test_reads_bytes_paths_and_ids(tmp_path):
    path = write_parquet(
        tmp_path / "s.parquet",
        [
            {"audio": {"bytes": b"A", "path": "a.wav"}, "id": "first"},
            {"audio": {"bytes": None, "path": "sub/b.flac"}},
            {"audio": {"bytes": None, "path": "gs://b/c.mp3"}, "id": "third"},
            {"audio": None},
        ],
    )
    with open(path, "rb") as stream:
        items = list(parquet_shard_inputs(stream, str(path), "audio", "id"))
    assert items[:3] == [
        EncodedAudio(f"{path}#first", str(path), b"A"),
        EncodedAudio(f"{path}#1", f"{tmp_path}/sub/b.flac", None),
        EncodedAudio(f"{path}#third", "gs://b/c.mp3", None),
    ]
    assert isinstance(items[3], BadInput) and items[3].key == f"{path}#3"


def test_missing_audio_column_raises(tmp_path):
    path = write_parquet(tmp_path / "s.parquet", [{"audio": {"bytes": b"A", "path": None}}])
    with open(path, "rb") as stream, pytest.raises(ValueError, match="no column 'speech'"):
        list(parquet_shard_inputs(stream, str(path), "speech", "id"))
