"""Tests for transforms/sources/tfrecord_shards.py: configurable features, ids and bad records."""

import io

import pytest
from synthetic_audio import write_tfrecord

from transforms.elements import EncodedAudio
from transforms.records import tfrecord_frame
from transforms.sources import BadInput
from transforms.sources.tfrecord_shards import tfrecord_shard_inputs


def test_reads_audio_and_ids_by_feature_name(tmp_path):
    path = write_tfrecord(
        tmp_path / "s.tfrecord",
        [{"wav": b"A", "utt": b"u1"}, {"wav": b"B", "utt": 42}, {"wav": b"C"}, {"text": b"no audio"}],
    )
    items = list(tfrecord_shard_inputs(io.BytesIO(path.read_bytes()), "s.tfrecord", "wav", "utt"))
    assert items[:3] == [
        EncodedAudio("s.tfrecord#u1", "s.tfrecord", b"A"),
        EncodedAudio("s.tfrecord#42", "s.tfrecord", b"B"),
        EncodedAudio("s.tfrecord#2", "s.tfrecord", b"C"),
    ]
    assert isinstance(items[3], BadInput) and items[3].key == "s.tfrecord#3"
    assert "no bytes feature 'wav'" in str(items[3].error)


def test_a_record_that_is_not_an_example_is_a_bad_input():
    data = tfrecord_frame(b"\xff\xff\xff")
    (item,) = tfrecord_shard_inputs(io.BytesIO(data), "s.tfrecord", "audio", "id")
    assert isinstance(item, BadInput) and "not a tf.train.Example" in str(item.error)


def test_corrupt_framing_raises_after_the_good_records():
    data = tfrecord_frame(b"") + b"\x00" * 7
    with pytest.raises(ValueError, match="truncated"):
        list(tfrecord_shard_inputs(io.BytesIO(data), "s.tfrecord", "audio", "id"))
