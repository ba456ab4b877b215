"""Tests for inputs/sources/tfrecord_shards.py: configurable features, ids and bad records."""

import io
import struct

import numpy as np
import pytest
from synthetic_audio import write_tfrecord

from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.keys import UniqueKeys
from gemma4_audio_embed.inputs.sources import BadInput
from gemma4_audio_embed.inputs.sources.tfrecord_shards import tfrecord_shard_inputs
from gemma4_audio_embed.tf_example import Example
from gemma4_audio_embed.tfrecord import _masked_crc
from gemma4_audio_embed.tfrecord import tfrecord_frame


def test_reads_audio_and_ids_by_feature_name(tmp_path):
    path = write_tfrecord(
        tmp_path / "s.tfrecord",
        [{"wav": b"A", "utt": b"u1"}, {"wav": b"B", "utt": 42}, {"wav": b"C"}, {"text": b"no audio"}],
    )
    items = list(tfrecord_shard_inputs(io.BytesIO(path.read_bytes()), "s.tfrecord", "wav", "utt"))
    assert items[:3] == [
        EncodedAudio("s.tfrecord#u1", "s.tfrecord", b"A", metadata={"utt": "u1"}),
        EncodedAudio("s.tfrecord#42", "s.tfrecord", b"B", metadata={"utt": 42}),
        EncodedAudio("s.tfrecord#2", "s.tfrecord", b"C"),
    ]
    assert isinstance(items[3], BadInput) and items[3].key == "s.tfrecord#3"
    assert "has no feature 'wav'" in str(items[3].error)


def test_a_record_that_is_not_an_example_is_a_bad_input():
    data = tfrecord_frame(b"\xff\xff\xff")
    (item,) = tfrecord_shard_inputs(io.BytesIO(data), "s.tfrecord", "audio", "id")
    assert isinstance(item, BadInput) and "not a tf.train.Example" in str(item.error)


def test_corrupt_framing_raises_after_the_good_records():
    data = tfrecord_frame(b"") + b"\x00" * 7
    with pytest.raises(ValueError, match="truncated"):
        list(tfrecord_shard_inputs(io.BytesIO(data), "s.tfrecord", "audio", "id"))


def _example(**features) -> bytes:
    """A TFRecord frame of one Example: bytes, int lists and float lists by value type."""
    example = Example()
    for name, values in features.items():
        feature = example.features.feature[name]
        values = values if isinstance(values, list) else [values]
        if isinstance(values[0], bytes):
            feature.bytes_list.value.extend(values)
        elif isinstance(values[0], int):
            feature.int64_list.value.extend(values)
        else:
            feature.float_list.value.extend(values)
    return tfrecord_frame(example.SerializeToString())


def test_tfds_audio_int64_samples_are_16_bit_pcm_at_the_rate_feature():
    data = _example(audio=[16384, -32768, 0, 32767], sample_rate=8000)
    (item,) = tfrecord_shard_inputs(io.BytesIO(data), "s.tfrecord", "audio", "id")
    assert (item.key, item.data, item.sample_rate) == ("s.tfrecord#0", None, 8000)
    np.testing.assert_array_equal(item.samples, np.array([0.5, -1.0, 0.0, 32767 / 32768], np.float32))


def test_float_samples_take_the_flag_rate_when_no_feature_gives_one():
    data = _example(audio=[0.25, -0.5], id=b"x") + _example(audio=[0.25], sampling_rate=22050)
    first, second = tfrecord_shard_inputs(io.BytesIO(data), "s.tfrecord", "audio", "id", sample_rate=16000)
    np.testing.assert_array_equal(first.samples, np.array([0.25, -0.5], np.float32))
    assert (first.key, first.sample_rate, second.sample_rate) == ("s.tfrecord#x", 16000, 22050)


@pytest.mark.parametrize(
    "features, message",
    [
        (
            {"audio": [0.25, -0.5]},
            "no rate: add an int64 feature sample_rate or sampling_rate, or pass --tfrecord_sample_rate",
        ),
        (
            {"audio": [40000], "sample_rate": 16000},
            "Record 0: Its int64 samples leave the 16-bit range: 40000 to 40000",
        ),
        (
            {"audio": [0.5], "sample_rate": b"8000"},
            "Record 0: expected 'sample_rate' to be a positive whole number. Received: b'8000'",
        ),
        ({"audio": [b"RIFF", b"RIFF"]}, "Record 0: 'audio' holds 2 values; expected one encoded file"),
    ],
    ids=["no_rate", "int64_beyond_16_bits", "rate_as_bytes", "two_files"],
)
def test_unusable_samples_are_bad_inputs(features, message):
    (item,) = tfrecord_shard_inputs(io.BytesIO(_example(**features)), "s.tfrecord", "audio", "id")
    assert isinstance(item, BadInput) and message in str(item.error)


def test_repeated_ids_get_distinct_keys_with_their_record_index():
    keys = UniqueKeys("s.tfrecord")
    data = _example(audio=b"A", id=b"u") + _example(audio=b"B", id=b"u") + _example(audio=b"C", id=b"v")
    items = list(tfrecord_shard_inputs(io.BytesIO(data), "s.tfrecord", "audio", "id", keys=keys))
    assert [(item.key, item.data) for item in items] == [
        ("s.tfrecord#u", b"A"),
        ("s.tfrecord#u#1", b"B"),
        ("s.tfrecord#v", b"C"),
    ]
    assert keys.repeats == 1


def test_a_record_longer_than_the_cap_is_a_bad_input_checked_before_it_is_read(tmp_path):
    small = Example()
    small.features.feature["audio"].bytes_list.value.append(b"A")
    big = Example()
    big.features.feature["audio"].bytes_list.value.append(b"B" * 1000)
    shard = b"".join(tfrecord_frame(example.SerializeToString()) for example in (small, big, small))
    items = list(tfrecord_shard_inputs(io.BytesIO(shard), "s.tfrecord", "audio", "id", max_record_bytes=100))
    assert [type(item).__name__ for item in items] == ["EncodedAudio", "BadInput", "EncodedAudio"]
    length = len(big.SerializeToString())
    assert f"Record 1 declares {length} bytes, over the cap of 100 (--max_record_bytes)" in str(items[1].error)
    # A valid-checksum length of 2^40 bytes in a small file: skipped unread to the end, a truncated
    # shard (the file's dead letter), never an allocation of a terabyte.
    giant = struct.pack("<Q", 1 << 40)
    giant += struct.pack("<I", _masked_crc(giant))
    with pytest.raises(ValueError, match=r"g.tfrecord: record 0 is truncated \(100 of 1099511627780 bytes\)"):
        list(tfrecord_shard_inputs(io.BytesIO(giant + b"x" * 100), "g.tfrecord", "audio", "id", max_record_bytes=100))
