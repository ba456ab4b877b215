"""Tests for outputs/schema.py, tfrecord.py and records.py: schema, dtype encodings, TFRecord framing, and both readers."""

import gzip
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from gemma4_audio_embed import records
from gemma4_audio_embed import tf_example
from gemma4_audio_embed import tfrecord
from gemma4_audio_embed.outputs import schema

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
EMBEDDING = np.array([[1.0, -2.0, 0.5], [3.25, 1e-3, -65504.0]], np.float32)  # [T=2, D=3]


def _record_bytes(embedding=EMBEDDING, dtype="float32", key="a.wav@1"):
    return schema.encoded_example(
        key=key,
        source="gs://bucket/a.wav",
        segment_index=1,
        start_seconds=30.0,
        duration_seconds=1.5,
        embedding=embedding,
        embedding_dtype=dtype,
        model_fingerprint="f" * 64,
    )


@pytest.mark.parametrize(
    "value, bits",
    [
        (1.0, 0x3F80),  # 0x3F800000: exact
        (-2.0, 0xC000),  # 0xC0000000: exact
        (1 + 2**-8, 0x3F80),  # 0x3F808000: a tie, rounds to the even 0x3F80
        (1 + 3 * 2**-8, 0x3F82),  # 0x3F818000: a tie, rounds to the even 0x3F82
        (1 + 2**-8 + 2**-20, 0x3F81),  # 0x3F808008: above the tie, rounds up
    ],
)
def test_bfloat16_bits_round_half_to_even(value, bits):
    assert schema.bfloat16_bits(np.float32(value)) == bits


def test_bfloat16_bits_match_tensorflow_cast():
    tf = pytest.importorskip("tensorflow")
    values = np.random.default_rng(0).standard_normal(1000).astype(np.float32) * 100
    expected = tf.bitcast(tf.cast(values, tf.bfloat16), tf.uint16).numpy()
    np.testing.assert_array_equal(schema.bfloat16_bits(values), expected)


@pytest.mark.parametrize(
    "dtype, expected",
    [
        ("float32", EMBEDDING),
        ("float16", EMBEDDING.astype(np.float16).astype(np.float32)),
        ("bfloat16", schema.float32_from_bfloat16_bits(schema.bfloat16_bits(EMBEDDING))),
    ],
)
def test_decoded_example_round_trips_each_dtype(dtype, expected):
    record = schema.decoded_example(_record_bytes(dtype=dtype))
    assert isinstance(record, schema.Record)
    assert (record.key, record.source, record.segment_index) == ("a.wav@1", "gs://bucket/a.wav", 1)
    assert (record.start_seconds, record.duration_seconds) == (30.0, 1.5)
    assert (record.num_tokens, record.embedding_dim, record.embedding_dtype) == (2, 3, dtype)
    assert record.model_fingerprint == "f" * 64
    assert record.embedding.dtype == np.float32
    np.testing.assert_array_equal(record.embedding, expected)


def test_embedding_bytes_are_little_endian_row_major():
    # 1.0 is 0x3F800000 in float32 and 0x3F80 in bfloat16; bytes go least significant first.
    one_two = np.array([[1.0, -2.0]], np.float32)
    assert schema.embedding_bytes(one_two, "float32") == bytes([0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0])
    assert schema.embedding_bytes(one_two, "bfloat16") == bytes([0x80, 0x3F, 0x00, 0xC0])
    assert schema.embedding_bytes(one_two, "float16") == bytes([0x00, 0x3C, 0x00, 0xC0])


@pytest.mark.parametrize(
    "value, dtype",
    [(np.nan, "float32"), (np.inf, "bfloat16"), (1e5, "float16"), (np.finfo(np.float32).max, "bfloat16")],
)
def test_embedding_bytes_refuses_non_finite_values(value, dtype):
    # 1e5 overflows float16 (max 65504); float32's max rounds up to bfloat16 infinity.
    with pytest.raises(ValueError, match="not finite"):
        schema.embedding_bytes(np.full((1, 2), value, np.float32), dtype)


def test_encoded_example_has_exactly_the_schema_features():
    tf = pytest.importorskip("tensorflow")
    example = tf.train.Example.FromString(_record_bytes())
    kinds = {name: feature.WhichOneof("kind") for name, feature in example.features.feature.items()}
    assert kinds == {
        "key": "bytes_list",
        "source": "bytes_list",
        "segment_index": "int64_list",
        "start_seconds": "float_list",
        "duration_seconds": "float_list",
        "num_tokens": "int64_list",
        "embedding_dim": "int64_list",
        "embedding_dtype": "bytes_list",
        "embedding": "bytes_list",
        "model_fingerprint": "bytes_list",
        "audio_sha256": "bytes_list",
        "metadata": "bytes_list",
    }


def test_decoded_example_rejects_other_examples():
    example = tf_example.Example()
    example.features.feature["audio"].bytes_list.value.append(b"RIFF")
    with pytest.raises(ValueError, match="Not an embedding record"):
        schema.decoded_example(example.SerializeToString())


def test_tfrecord_frame_matches_tensorflow_writer(tmp_path):
    tf = pytest.importorskip("tensorflow")
    payloads = [b"", b"x", _record_bytes()]
    with tf.io.TFRecordWriter(str(tmp_path / "tf.tfrecord")) as writer:
        for payload in payloads:
            writer.write(payload)
    assert (tmp_path / "tf.tfrecord").read_bytes() == b"".join(tfrecord.tfrecord_frame(p) for p in payloads)


@pytest.mark.parametrize(
    "cut, message",
    [
        (lambda data: data[:5], "truncated in its length header"),
        (lambda data: data[:-2], "is truncated"),
        (lambda data: data[:20] + bytes([data[20] ^ 1]) + data[21:], "corrupt data"),
        (lambda data: bytes([data[0] ^ 1]) + data[1:], "corrupt length header"),
    ],
)
def test_tfrecord_payloads_detect_damage(cut, message):
    import io

    data = cut(tfrecord.tfrecord_frame(_record_bytes()))
    with pytest.raises(ValueError, match=message):
        list(tfrecord.tfrecord_payloads(io.BytesIO(data), "shard"))


def test_read_records_reads_plain_and_gzip_files_in_name_order(tmp_path):
    (tmp_path / "out-00001-of-00002.tfrecord.gz").write_bytes(
        gzip.compress(tfrecord.tfrecord_frame(_record_bytes(key="b@0")))
    )
    (tmp_path / "out-00000-of-00002.tfrecord").write_bytes(tfrecord.tfrecord_frame(_record_bytes(key="a@0")))
    assert [record.key for record in records.read_records(str(tmp_path / "out-*"))] == ["a@0", "b@0"]


@pytest.mark.parametrize("dtype", schema.EMBEDDING_DTYPES)
def test_tf_parse_example_equals_numpy_reader(dtype):
    tf = pytest.importorskip("tensorflow")
    serialized = _record_bytes(dtype=dtype)
    parsed = next(iter(tf.data.Dataset.from_tensors(serialized).map(records.tf_parse_example)))
    expected = schema.decoded_example(serialized)
    np.testing.assert_array_equal(parsed["embedding"].numpy(), expected.embedding)
    assert parsed["embedding"].dtype == tf.float32
    assert parsed["key"].numpy().decode() == expected.key
    assert int(parsed["num_tokens"]) == 2 and float(parsed["start_seconds"]) == 30.0


def test_numpy_reader_does_not_import_tensorflow(tmp_path):
    path = tmp_path / "out-00000-of-00001.tfrecord"
    path.write_bytes(tfrecord.tfrecord_frame(_record_bytes()))
    script = (
        "import sys; from gemma4_audio_embed.records import read_records; "
        f"assert [r.num_tokens for r in read_records({str(path)!r})] == [2]; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'"
    )
    subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, check=True, timeout=120)
