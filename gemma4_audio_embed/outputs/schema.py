"""The embedding record's schema, said once: the field table, and the codec, `Record` type and index schema it gives.

Each record is one clip's valid tokens as a `tf.train.Example` (never padding); the Parquet
index holds the same fields but the embedding, plus the file each record is in. `FIELDS` is the
one table: `encoded_example`/`decoded_example` (the codec), `Record` (what readers return),
`index_schema()` (the index's leading columns), `gemma4_audio_embed.records.tf_parse_example`
(the `tf.data` spec) and the schema table of `docs/outputs.md` (`schema_table()`) all come from it.

The NumPy side needs only protobuf (`gemma4_audio_embed.tf_example`), no TensorFlow, Keras or
Beam; pyarrow is imported by `index_schema` alone.

Axis legend: T valid tokens, D embedding width.
"""

import dataclasses
import json
from typing import NamedTuple

import numpy as np

from gemma4_audio_embed.tf_example import Example
from gemma4_audio_embed.tf_example import example_features

EMBEDDING_DTYPES = ("float32", "bfloat16", "float16")
_STORAGE_DTYPES = {"float32": np.dtype("<f4"), "bfloat16": np.dtype("<u2"), "float16": np.dtype("<f2")}


@dataclasses.dataclass(frozen=True)
class Field:
    """One field of the record or the index.

    Attributes:
        name: str. Feature name in the Example, column name in the index, attribute of `Record`.
        kind: str. `"text"` (UTF-8 bytes feature, string column), `"int64"`, `"float"` (float32
            feature, float64 column), `"embedding"` (raw bytes, record only) or `"json"` (a UTF-8
            JSON object: a dict in `Record`, its text in the index).
        meaning: str. What it holds, for the docs.
        in_record: bool. Whether the Example carries it.
        in_index: bool. Whether the index has a column for it.
    """

    name: str
    kind: str
    meaning: str
    in_record: bool = True
    in_index: bool = True


FIELDS = (
    Field("key", "text", "clip key, `<input key>@<segment index>`"),
    Field("source", "text", "URI of the input file"),
    Field("segment_index", "int64", "window index within the input, from 0"),
    Field("start_seconds", "float", "window start in the source audio"),
    Field("duration_seconds", "float", "window length, N / 16000"),
    Field("num_tokens", "int64", "T, valid tokens: ceil(floor((N - 1) / 160) / 4)"),
    Field("embedding_dim", "int64", "D, width of each token"),
    Field("embedding_dtype", "text", "`float32`, `bfloat16` or `float16`"),
    Field(
        "embedding",
        "embedding",
        "little-endian row-major `[T, D]`; bfloat16 as the upper 16 bits of float32",
        in_index=False,
    ),
    Field("audio_sha256", "text", "hex SHA-256 of the window's 16 kHz float32 samples (little-endian)"),
    Field("model_fingerprint", "text", "hex SHA-256 of the encoder config and weights"),
    Field("record_file", "text", "name of the record file holding the record", in_record=False),
    Field("metadata", "json", "the input's fields (transcript, language, ...) as a UTF-8 JSON object"),
)
RECORD_FIELDS = tuple(field for field in FIELDS if field.in_record)
INDEX_FIELDS = tuple(field for field in FIELDS if field.in_index)
_FEATURE_LISTS = {"text": "bytes_list", "embedding": "bytes_list", "json": "bytes_list"}
_PYTHON_TYPES = {"text": str, "int64": int, "float": float, "embedding": np.ndarray, "json": dict}

Record = NamedTuple("Record", [(field.name, _PYTHON_TYPES[field.kind]) for field in RECORD_FIELDS])
Record.__doc__ = """One decoded record: `embedding` is `float32 [T, D]` whatever dtype it was stored in,
`metadata` a dict; the other fields as `FIELDS` describes them."""


def feature_list(field: Field) -> str:
    """The `tf.train.Feature` list a field is stored in: `bytes_list`, `int64_list` or `float_list`."""
    return _FEATURE_LISTS.get(field.kind, f"{field.kind}_list")


def index_schema():
    """The index's leading columns, `pyarrow.schema`: the `INDEX_FIELDS` in order (metadata columns follow)."""
    import pyarrow

    types = {"text": pyarrow.string(), "int64": pyarrow.int64(), "float": pyarrow.float64(), "json": pyarrow.string()}
    return pyarrow.schema([(field.name, types[field.kind]) for field in INDEX_FIELDS])


RUN_ID_METADATA = b"gemma4_audio_embed.run_id"  # Parquet key-value metadata of a --skip_existing index file


def index_run_id(schema) -> str | None:
    """The run that wrote an index file whose `pyarrow.Schema` is `schema` (`index.write_index_file`),
    or None when the file does not say (sharded outputs, earlier versions)."""
    value = (schema.metadata or {}).get(RUN_ID_METADATA)
    return None if value is None else value.decode()


def schema_table() -> str:
    """The field table as Markdown, for `docs/outputs.md` (a test keeps the page equal to it)."""
    types = {"text": "bytes", "json": "bytes", "embedding": "bytes", "int64": "int64", "float": "float"}
    lines = ["| feature | record type | in | meaning |", "|---|---|---|---|"]
    for field in FIELDS:
        where = "record, index" if field.in_record and field.in_index else "record" if field.in_record else "index"
        lines.append(f"| `{field.name}` | {types[field.kind]} | {where} | {field.meaning} |")
    return "\n".join(lines)


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
        raise ValueError(f"`embedding_dtype` must be one of {EMBEDDING_DTYPES}. Received: {embedding_dtype!r}")
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

    `metadata` is the input's fields as JSON text (`inputs.encoded_audio.metadata_json`), stored
    as UTF-8; `num_tokens` and `embedding_dim` come from the embedding's shape.
    """
    embedding = np.asarray(embedding)
    if embedding.ndim != 2:
        raise ValueError(f"`embedding` must have shape [T, D]. Received: shape={embedding.shape}")
    values = {
        "key": key,
        "source": source,
        "segment_index": segment_index,
        "start_seconds": start_seconds,
        "duration_seconds": duration_seconds,
        "num_tokens": embedding.shape[0],
        "embedding_dim": embedding.shape[1],
        "embedding_dtype": embedding_dtype,
        "embedding": embedding_bytes(embedding, embedding_dtype),
        "audio_sha256": audio_sha256,
        "model_fingerprint": model_fingerprint,
        "metadata": metadata,
    }
    example = Example()
    for field in RECORD_FIELDS:
        value = values[field.name]
        stored = value.encode("utf-8") if isinstance(value, str) else value
        stored = int(stored) if field.kind == "int64" else float(stored) if field.kind == "float" else stored
        getattr(example.features.feature[field.name], feature_list(field)).value.append(stored)
    return example.SerializeToString(deterministic=True)  # same bytes in every process


def decoded_example(serialized: bytes) -> Record:
    """Parses one embedding record, checking the schema; the embedding comes back as `float32 [T, D]`.

    Raises ValueError when the features are not exactly `RECORD_FIELDS`, the dtype is unknown
    or the embedding's size disagrees with `num_tokens x embedding_dim`.
    """
    features = example_features(serialized)
    expected = {field.name for field in RECORD_FIELDS}
    if set(features) != expected:
        raise ValueError(f"Not an embedding record: expected features {sorted(expected)}, found {sorted(features)}.")
    value = {name: values[0] for name, values in features.items()}
    dtype = value["embedding_dtype"].decode()
    if dtype not in EMBEDDING_DTYPES:
        raise ValueError(f"Unknown embedding_dtype {dtype!r}; expected one of {EMBEDDING_DTYPES}.")
    stored = np.frombuffer(value["embedding"], _STORAGE_DTYPES[dtype])
    shape = (value["num_tokens"], value["embedding_dim"])
    if stored.size != shape[0] * shape[1]:
        raise ValueError(f"The embedding holds {stored.size} values, but num_tokens x embedding_dim = {shape}.")
    embedding = float32_from_bfloat16_bits(stored) if dtype == "bfloat16" else stored.astype(np.float32)
    decoded = {}
    for field in RECORD_FIELDS:
        raw = value[field.name]
        if field.kind == "text":
            decoded[field.name] = raw.decode("utf-8")
        elif field.kind == "json":
            decoded[field.name] = json.loads(raw.decode("utf-8"))
        elif field.kind == "embedding":
            decoded[field.name] = embedding.reshape(shape)
        else:
            decoded[field.name] = raw
    return Record(**decoded)
