"""Reading the job's records: NumPy (`read_records`), `tf.data` (`tf_parse_example`) and Grain (`decoded_example`).

Importing this module loads none of TensorFlow, Keras or Beam: local files are read with the
standard library, `gs://` and other remote URIs through Beam's FileSystems (imported then), and
`tf_parse_example` imports TensorFlow when it is called. The schema is `outputs.schema.FIELDS`.

Example (NumPy):

>>> for record in read_records("out/embeddings-*.tfrecord"):  # doctest: +SKIP
...     print(record.key, record.embedding.shape)

Example (Grain, ArrayRecord output; random access and a global shuffle):

>>> source = grain.sources.ArrayRecordDataSource(sorted(glob.glob("out/embeddings-*.array_record")))  # doctest: +SKIP
>>> dataset = grain.MapDataset.source(source).shuffle(seed=0).map(decoded_example)  # doctest: +SKIP
"""

import glob
import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Iterator

from gemma4_audio_embed.outputs.layout import ARRAY_RECORD_SUFFIX
from gemma4_audio_embed.outputs.schema import RECORD_FIELDS
from gemma4_audio_embed.outputs.schema import Record
from gemma4_audio_embed.outputs.schema import decoded_example
from gemma4_audio_embed.tfrecord import tfrecord_payloads

__all__ = [
    "Record",
    "decoded_example",
    "is_remote",
    "matched_paths",
    "open_file",
    "read_records",
    "record_file_payloads",
    "tf_parse_example",
]

_ARRAY_RECORD_READ = 256  # ArrayRecord records read per call: memory bounded by the batch, not the file
_COPY_BYTES = 1 << 24  # 16 MiB per read when copying a remote file to a local one


def is_remote(path: str) -> bool:
    """Whether `path` is a URI for Beam's FileSystems (`gs://...`), not a local path or `file://` URI."""
    return "://" in path and not path.startswith("file://")


def open_file(path: str, decompress: bool = False):
    """A binary stream of `path`: local files by the standard library, remote ones through Beam.

    With `decompress`, a `.gz` file is read decompressed. Remote streams seek as local ones do.
    """
    if is_remote(path):
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.filesystems import FileSystems

        compression = CompressionTypes.AUTO if decompress else CompressionTypes.UNCOMPRESSED
        return FileSystems.open(path, compression_type=compression)
    path = path.removeprefix("file://")
    return gzip.open(path, "rb") if decompress and path.endswith(".gz") else open(path, "rb")


def matched_paths(file_pattern: str) -> list[str]:
    """The files matching `file_pattern` (a glob, local or remote), sorted by name."""
    if is_remote(file_pattern):
        from apache_beam.io.filesystems import FileSystems

        return sorted(metadata.path for metadata in FileSystems.match([file_pattern])[0].metadata_list)
    return sorted(glob.glob(file_pattern.removeprefix("file://")))


def record_file_payloads(path: str) -> Iterator[bytes]:
    """Yields the serialized records of one record file (TFRecord, `.gz` or ArrayRecord), checking its framing.

    TFRecord frames are checked by their crc32c; ArrayRecord chunks by the checks its reader
    makes. Raises ValueError naming `path` on a truncated or corrupt file.
    """
    if not path.endswith(ARRAY_RECORD_SUFFIX):
        with open_file(path, decompress=True) as stream:
            yield from tfrecord_payloads(stream, path)
        return
    from array_record.python.array_record_module import ArrayRecordReader

    with tempfile.TemporaryDirectory(prefix="gemma4_embed_records_") as folder:
        local = path.removeprefix("file://")
        if is_remote(path):  # ArrayRecord's reader opens local paths only
            local = os.path.join(folder, "records" + ARRAY_RECORD_SUFFIX)
            with open_file(path) as source, open(local, "wb") as target:
                shutil.copyfileobj(source, target, _COPY_BYTES)
        try:
            reader = ArrayRecordReader(local)
        except Exception as e:  # noqa: BLE001 - riegeli raises RuntimeError or ValueError by fault
            raise ValueError(f"{path}: not a readable ArrayRecord file: {e}") from e
        try:
            total = reader.num_records()
            for start in range(0, total, _ARRAY_RECORD_READ):
                try:
                    payloads = reader.read(start, min(start + _ARRAY_RECORD_READ, total))
                except Exception as e:  # noqa: BLE001 - as above
                    raise ValueError(f"{path}: not a readable ArrayRecord file: {e}") from e
                yield from payloads
        finally:
            reader.close()


def read_records(file_pattern: str) -> Iterator[Record]:
    """Yields every record in the files matching `file_pattern`, in file-name order.

    TFRecord files and, by their `.array_record` suffix, ArrayRecord files are read; local
    paths and any URI Beam's FileSystems can open (`gs://...`) work; `.gz` files are
    decompressed. Raises ValueError naming the file on a truncated or corrupt record.
    """
    for path in matched_paths(file_pattern):
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

    types = {"int64": tf.int64, "float": tf.float32}
    spec = {field.name: tf.io.FixedLenFeature([], types.get(field.kind, tf.string)) for field in RECORD_FIELDS}
    record = tf.io.parse_single_example(serialized, spec)

    def widened(stored_dtype):
        return lambda: tf.cast(tf.io.decode_raw(record["embedding"], stored_dtype, little_endian=True), tf.float32)

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
