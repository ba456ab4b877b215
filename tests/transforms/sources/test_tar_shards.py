"""Tests for transforms/sources/tar_shards.py: WebDataset grouping and the choice of audio member."""

import io

import pytest
from synthetic_audio import write_tar

from transforms.elements import EncodedAudio
from transforms.sources import BadInput
from transforms.sources.tar_shards import tar_shard_inputs


def _inputs(tmp_path, members):
    path = write_tar(tmp_path / "s.tar", members)
    return list(tar_shard_inputs(io.BytesIO(path.read_bytes()), "gs://b/s.tar"))


def test_groups_members_by_key_and_picks_audio_by_extension(tmp_path):
    items = _inputs(
        tmp_path,
        {
            "a.json": b"{}",
            "a.wav": b"WAV",
            "a.flac": b"FLAC",  # flac ranks before wav
            "dir/b.seg.mp3": b"MP3",  # extension "seg.mp3": its last suffix is audio
            "dir/b.txt": b"text",
            "c.txt": b"text",
        },
    )
    assert items[0] == EncodedAudio(key="gs://b/s.tar#a.flac", source="gs://b/s.tar", data=b"FLAC")
    assert items[1] == EncodedAudio(key="gs://b/s.tar#dir/b.seg.mp3", source="gs://b/s.tar", data=b"MP3")
    assert isinstance(items[2], BadInput) and items[2].key == "gs://b/s.tar#c"
    assert "no audio member" in str(items[2].error) and ".txt" in str(items[2].error)
    assert len(items) == 3


def test_empty_shard_yields_nothing(tmp_path):
    assert _inputs(tmp_path, {}) == []


def test_garbage_raises(tmp_path):
    with pytest.raises(Exception):
        list(tar_shard_inputs(io.BytesIO(b"\x01" * 1000), "s.tar"))
