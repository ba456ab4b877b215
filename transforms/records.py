"""The embedding record: its `tf.train.Example` schema, its encoder, and readers with and without TensorFlow.

Each record holds one clip's valid tokens, never padding. Features, exactly:

| feature | type | meaning |
|---|---|---|
| `key` | bytes | clip key, `<input key>@<segment index>` |
| `source` | bytes | URI of the input file |
| `segment_index` | int64 | window index within the input, from 0 |
| `start_seconds` | float | window start in the source audio |
| `duration_seconds` | float | window length, N / 16000 |
| `num_tokens` | int64 | T, valid tokens: ceil(floor((N - 1) / 160) / 4) |
| `embedding_dim` | int64 | D, width of each token |
| `embedding_dtype` | bytes | `float32`, `bfloat16` or `float16` |
| `embedding` | bytes | little-endian row-major `[T, D]`; bfloat16 as the upper 16 bits of float32 |
| `model_fingerprint` | bytes | hex SHA-256 of the encoder config and weights |
| `audio_sha256` | bytes | hex SHA-256 of the window's 16 kHz float32 samples (little-endian) |
| `metadata` | bytes | the input's fields (transcript, language, ...) as a UTF-8 JSON object |

The NumPy side (`encoded_example`, `decoded_example`, `read_records`) needs only protobuf and
google-crc32c, no TensorFlow: the `tf.train.Example` messages are rebuilt here from their
field numbers (tensorflow/core/example/{example,feature}.proto), which is all the wire format
carries. `tf_parse_example` is the `tf.data` parse function; it imports TensorFlow when called.

Axis legend: T valid tokens, D embedding width.
"""

import json
import struct
from typing import Iterator
from typing import NamedTuple

import google_crc32c
import numpy as np
from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory

EMBEDDING_DTYPES = ("float32", "bfloat16", "float16")
_STORAGE_DTYPES = {"float32": np.dtype("<f4"), "bfloat16": np.dtype("<u2"), "float16": np.dtype("<f2")}
BYTES_FEATURES = ("key", "source", "embedding_dtype", "embedding", "model_fingerprint", "audio_sha256", "metadata")
INT64_FEATURES = ("segment_index", "num_tokens", "embedding_dim")
FLOAT_FEATURES = ("start_seconds", "duration_seconds")
_CRC_MASK_DELTA = 0xA282EAD8  # TFRecord's crc32c masking constant


class Record(NamedTuple):
    """One decoded record; `embedding` is `float32 [T, D]` whatever dtype it was stored in, `metadata` a dict."""

    key: str
    source: str
    segment_index: int
    start_seconds: float
    duration_seconds: float
    num_tokens: int
    embedding_dim: int
    embedding_dtype: str
    embedding: np.ndarray
    model_fingerprint: str
    audio_sha256: str
    metadata: dict


def _example_message_classes():
    """Builds `Example` and `Features` message classes with tf.train.Example's wire layout."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="gemma4_audio_embed/example.proto", package="gemma4_audio_embed.example", syntax="proto3"
    )
    label_repeated = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
    label_optional = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    types = descriptor_pb2.FieldDescriptorProto
    for name, value_type in [
        ("BytesList", types.TYPE_BYTES),
        ("FloatList", types.TYPE_FLOAT),
        ("Int64List", types.TYPE_INT64),
    ]:
        message = proto.message_type.add(name=name)
        message.field.add(name="value", number=1, label=label_repeated, type=value_type)
    feature = proto.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, (name, type_name) in enumerate(
        [("bytes_list", "BytesList"), ("float_list", "FloatList"), ("int64_list", "Int64List")], start=1
    ):
        feature.field.add(
            name=name,
            number=number,
            label=label_optional,
            type=types.TYPE_MESSAGE,
            type_name=f".gemma4_audio_embed.example.{type_name}",
            oneof_index=0,
        )
    features = proto.message_type.add(name="Features")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, label=label_optional, type=types.TYPE_STRING)
    entry.field.add(
        name="value",
        number=2,
        label=label_optional,
        type=types.TYPE_MESSAGE,
        type_name=".gemma4_audio_embed.example.Feature",
    )
    features.field.add(
        name="feature",
        number=1,
        label=label_repeated,
        type=types.TYPE_MESSAGE,
        type_name=".gemma4_audio_embed.example.Features.FeatureEntry",
    )
    example = proto.message_type.add(name="Example")
    example.field.add(
        name="features",
        number=1,
        label=label_optional,
        type=types.TYPE_MESSAGE,
        type_name=".gemma4_audio_embed.example.Features",
    )
    file = descriptor_pool.DescriptorPool().Add(proto)
    return message_factory.GetMessageClass(file.message_types_by_name["Example"])


Example = _example_message_classes()


def bfloat16_bits(values: np.ndarray) -> np.ndarray:
    """Rounds float32 values to bfloat16, nearest-even as TensorFlow casts, as `uint16` bit patterns."""
    bits = np.asarray(values, np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round half to even on the dropped 16 bits
    return rounded.astype(np.uint16)


def float32_from_bfloat16_bits(bits: np.ndarray) -> np.ndarray:
    """Widens bfloat16 bit patterns (`uint16`) to float32 exactly."""
    return (np.asarray(bits, np.uint16).astype(np.uint32) << 16).view(np.float32)


def embedding_bytes(embedding: np.ndarray, embedding_dtype: str) -> bytes:
    """Serializes `float32 [T, D]` as little-endian row-major `embedding_dtype`.

    Raises ValueError when the embedding holds NaN or infinity, before or after the cast (a
    float16 overflow), so that no record ever carries a non-finite value.
    """
    if embedding_dtype not in EMBEDDING_DTYPES:
        raise ValueError(
            f"`embedding_dtype` must be one of {EMBEDDING_DTYPES}. Received: {embedding_dtype!r}"
        )
    embedding = np.asarray(embedding, np.float32)
    if embedding_dtype == "bfloat16":
        stored = bfloat16_bits(embedding)
        widened = float32_from_bfloat16_bits(stored)
    else:
        with np.errstate(over="ignore"):  # an overflow is reported below
            stored = embedding.astype(_STORAGE_DTYPES[embedding_dtype])
        widened = stored
    is_finite = np.isfinite(embedding) & np.isfinite(widened)
    if not is_finite.all():
        raise ValueError(
            f"{np.count_nonzero(~is_finite)} of the {embedding.size} values of an embedding of shape "
            f"{embedding.shape} are not finite as float32 or as {embedding_dtype}; it is not written."
        )
    return np.ascontiguousarray(stored, _STORAGE_DTYPES[embedding_dtype]).tobytes()


def encoded_example(
    *,
    key: str,
    source: str,
    segment_index: int,
    start_seconds: float,
    duration_seconds: float,
    embedding: np.ndarray,
    embedding_dtype: str,
    model_fingerprint: str,
    audio_sha256: str = "",
    metadata: str = "{}",
) -> bytes:
    """Returns a serialized `tf.train.Example` for one clip's `float32 [T, D]` embedding.

    `metadata` is the input's fields as JSON text (`elements.metadata_json`), stored as UTF-8.
    """
    embedding = np.asarray(embedding)
    if embedding.ndim != 2:
        raise ValueError(f"`embedding` must have shape [T, D]. Received: shape={embedding.shape}")
    example = Example()
    feature = example.features.feature
    values = {
        "key": key.encode(),
        "source": source.encode(),
        "embedding_dtype": embedding_dtype.encode(),
        "embedding": embedding_bytes(embedding, embedding_dtype),
        "model_fingerprint": model_fingerprint.encode(),
        "audio_sha256": audio_sha256.encode(),
        "metadata": metadata.encode("utf-8"),
    }
    for name, value in values.items():
        feature[name].bytes_list.value.append(value)
    for name, value in [
        ("segment_index", segment_index),
        ("num_tokens", embedding.shape[0]),
        ("embedding_dim", embedding.shape[1]),
    ]:
        feature[name].int64_list.value.append(int(value))
    for name, value in [("start_seconds", start_seconds), ("duration_seconds", duration_seconds)]:
        feature[name].float_list.value.append(float(value))
    return example.SerializeToString(deterministic=True)  # same bytes in every process


def example_features(serialized: bytes) -> dict:
    """Parses any serialized `tf.train.Example` into `{name: list of values}` (bytes, float or int)."""
    example = Example.FromString(serialized)
    features = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        features[name] = list(getattr(feature, kind).value) if kind else []
    return features


def decoded_example(serialized: bytes) -> Record:
    """Parses one embedding record, checking the schema; the embedding comes back as `float32 [T, D]`."""
    features = example_features(serialized)
    expected = set(BYTES_FEATURES + INT64_FEATURES + FLOAT_FEATURES)
    if set(features) != expected:
        raise ValueError(
            f"Not an embedding record: expected features {sorted(expected)}, found {sorted(features)}."
        )
    value = {name: values[0] for name, values in features.items()}
    dtype = value["embedding_dtype"].decode()
    if dtype not in EMBEDDING_DTYPES:
        raise ValueError(f"Unknown embedding_dtype {dtype!r}; expected one of {EMBEDDING_DTYPES}.")
    stored = np.frombuffer(value["embedding"], _STORAGE_DTYPES[dtype])
    shape = (value["num_tokens"], value["embedding_dim"])
    if stored.size != shape[0] * shape[1]:
        raise ValueError(
            f"The embedding holds {stored.size} values, but num_tokens x embedding_dim = {shape}."
        )
    embedding = float32_from_bfloat16_bits(stored) if dtype == "bfloat16" else stored.astype(np.float32)
    return Record(
        key=value["key"].decode(),
        source=value["source"].decode(),
        segment_index=value["segment_index"],
        start_seconds=value["start_seconds"],
        duration_seconds=value["duration_seconds"],
        num_tokens=shape[0],
        embedding_dim=shape[1],
        embedding_dtype=dtype,
        embedding=embedding.reshape(shape),
        model_fingerprint=value["model_fingerprint"].decode(),
        audio_sha256=value["audio_sha256"].decode(),
        metadata=json.loads(value["metadata"].decode("utf-8")),
    )


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF


def tfrecord_frame(payload: bytes) -> bytes:
    """Frames one record as TFRecord does: length, masked crc32c of the length, data, masked crc32c."""
    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", _masked_crc(length)) + payload + struct.pack("<I", _masked_crc(payload))


def tfrecord_payloads(stream, name: str = "<stream>") -> Iterator[bytes]:
    """Yields the records of a TFRecord stream (already decompressed), checking every crc32c.

    Raises ValueError naming `name` and the record index on a truncated or corrupt record.
    """
    index = 0
    while True:
        header = stream.read(12)
        if not header:
            return
        if len(header) < 12:
            raise ValueError(f"{name}: record {index} is truncated in its length header.")
        (length,) = struct.unpack("<Q", header[:8])
        if struct.unpack("<I", header[8:])[0] != _masked_crc(header[:8]):
            raise ValueError(f"{name}: record {index} has a corrupt length header (crc32c mismatch).")
        body = stream.read(length + 4)
        if len(body) < length + 4:
            raise ValueError(f"{name}: record {index} is truncated ({len(body)} of {length + 4} bytes).")
        payload = body[:length]
        if struct.unpack("<I", body[length:])[0] != _masked_crc(payload):
            raise ValueError(f"{name}: record {index} has corrupt data (crc32c mismatch).")
        yield payload
        index += 1


def read_records(file_pattern: str) -> Iterator[Record]:
    """Yields every record in the files matching `file_pattern`, in file-name order.

    TFRecord files and, by their `.array_record` suffix, ArrayRecord files are read; local
    paths and any URI Beam's FileSystems can open (`gs://...`) work; `.gz` files are
    decompressed. No TensorFlow is needed.

    Example:

    >>> for record in read_records("out/embeddings-*.tfrecord"):  # doctest: +SKIP
    ...     print(record.key, record.embedding.shape)
    """
    from apache_beam.io.filesystems import FileSystems

    paths = sorted(metadata.path for metadata in FileSystems.match([file_pattern])[0].metadata_list)
    from transforms.record_files import record_file_payloads

    for path in paths:
        for payload in record_file_payloads(path):
            yield decoded_example(payload)


def tf_parse_example(serialized, metadata_fields=()):
    """`tf.data` parse function: a scalar string tensor in, a dict of tensors out.

    `embedding` comes back as `float32 [num_tokens, embedding_dim]` whatever dtype it was stored
    in; the other features keep their schema types (`tf.string`, `tf.int64`, `tf.float32`).
    `metadata` is the UTF-8 JSON text (`json.loads(record["metadata"].numpy())` gives the
    dict); each of `metadata_fields` also comes back decoded, as `metadata/<name>`: a `tf.string`
    holding the text of a string field, the JSON of any other value, or `""` when absent.

    Example:

    >>> import tensorflow as tf  # doctest: +SKIP
    >>> files = tf.io.gfile.glob("out/embeddings-*.tfrecord")
    >>> dataset = tf.data.TFRecordDataset(files).map(tf_parse_example)
    >>> for record in dataset:
    ...     print(record["key"].numpy(), record["embedding"].shape)
    """
    import tensorflow as tf

    spec = {name: tf.io.FixedLenFeature([], tf.string) for name in BYTES_FEATURES}
    spec.update({name: tf.io.FixedLenFeature([], tf.int64) for name in INT64_FEATURES})
    spec.update({name: tf.io.FixedLenFeature([], tf.float32) for name in FLOAT_FEATURES})
    record = tf.io.parse_single_example(serialized, spec)

    def widened(stored_dtype):
        return lambda: tf.cast(
            tf.io.decode_raw(record["embedding"], stored_dtype, little_endian=True), tf.float32
        )

    flat = tf.case(
        [
            (tf.equal(record["embedding_dtype"], "bfloat16"), widened(tf.bfloat16)),
            (tf.equal(record["embedding_dtype"], "float16"), widened(tf.float16)),
        ],
        default=widened(tf.float32),
    )
    record["embedding"] = tf.reshape(flat, tf.stack([record["num_tokens"], record["embedding_dim"]]))
    if metadata_fields:
        fields = tuple(metadata_fields)

        def field_texts(text):
            metadata = json.loads(text.numpy().decode("utf-8"))
            values = [metadata.get(name) for name in fields]
            return [value if isinstance(value, str) else "" if value is None else json.dumps(value) for value in values]

        texts = tf.py_function(field_texts, [record["metadata"]], [tf.string] * len(fields))
        for name, text in zip(fields, texts):
            record[f"metadata/{name}"] = tf.ensure_shape(text, [])
    return record
