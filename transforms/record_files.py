"""Record files: TFRecord (optionally gzipped) or ArrayRecord, written atomically, read back checked.

Both formats hold the same serialized `tf.train.Example`s (`transforms.records`). A file is
written under a temporary name beside its final one and renamed when complete, as Beam's
file-based sinks finalize, so a reader never sees half a file. ArrayRecord's writer only
writes local paths (Google's ArrayRecord Beam sink cannot write `gs://`), so an ArrayRecord
file is written to a local temporary file first and then copied through Beam's FileSystems.
"""

import os
import shutil
import tempfile
import uuid
from typing import Iterable
from typing import Iterator

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.records import tfrecord_frame
from transforms.records import tfrecord_payloads

RECORD_FORMATS = ("tfrecord", "array_record")
# One record per chunk: every record is read without decoding its neighbours, as random access
# (Grain's global shuffle) wants; the embeddings barely compress, so no compression either.
ARRAY_RECORD_OPTIONS = "group_size:1,uncompressed"
_COPY_BYTES = 1 << 24  # 16 MiB per read when copying a local file to its destination


def record_suffix(record_format: str, compression: str = "none") -> str:
    """File suffix of record files: `.tfrecord`, `.tfrecord.gz` (gzip) or `.array_record`."""
    if record_format not in RECORD_FORMATS:
        raise ValueError(f"`record_format` must be one of {RECORD_FORMATS}. Received: {record_format!r}")
    if record_format == "array_record":
        if compression != "none":
            raise ValueError(
                f"ArrayRecord files are written uncompressed; pass no output compression. Received: {compression!r}"
            )
        return ".array_record"
    return ".tfrecord.gz" if compression == "gzip" else ".tfrecord"


def _copied(local_path: str, path: str) -> None:
    """Copies a local file to `path` (local or any FileSystems URI), under a temporary name, then renames."""
    temporary = f"{path}.tmp-{uuid.uuid4().hex}"
    with open(local_path, "rb") as source, FileSystems.create(
        temporary, compression_type=CompressionTypes.UNCOMPRESSED
    ) as target:
        shutil.copyfileobj(source, target, _COPY_BYTES)
    FileSystems.rename([temporary], [path])


def write_record_file(path: str, payloads: Iterable[bytes]) -> int:
    """Writes `payloads` to the record file `path` in the format its suffix names, atomically.

    Args:
        path: str. Local path or URI ending in `.tfrecord`, `.tfrecord.gz` or `.array_record`.
        payloads: iterable of serialized records, written in order.

    Returns:
        The number of records written.
    """
    count = 0
    if path.endswith(".array_record"):
        from array_record.python.array_record_module import ArrayRecordWriter

        folder = tempfile.mkdtemp(prefix="gemma4_embed_records_")
        try:
            local = os.path.join(folder, "records.array_record")
            writer = ArrayRecordWriter(local, ARRAY_RECORD_OPTIONS)
            for payload in payloads:
                writer.write(payload)
                count += 1
            writer.close()
            _copied(local, path)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return count
    temporary = f"{path}.tmp-{uuid.uuid4().hex}"
    compression = CompressionTypes.GZIP if path.endswith(".gz") else CompressionTypes.UNCOMPRESSED
    with FileSystems.create(temporary, compression_type=compression) as f:
        for payload in payloads:
            f.write(tfrecord_frame(payload))
            count += 1
    FileSystems.rename([temporary], [path])
    return count


def record_file_payloads(path: str) -> Iterator[bytes]:
    """Yields the serialized records of one record file (either format), checking its framing.

    TFRecord frames are checked by their crc32c; ArrayRecord chunks by the checks its reader
    makes. Raises ValueError naming `path` on a truncated or corrupt file.
    """
    if not path.endswith(".array_record"):
        with FileSystems.open(path) as stream:
            yield from tfrecord_payloads(stream, path)
        return
    from array_record.python.array_record_module import ArrayRecordReader

    with tempfile.TemporaryDirectory(prefix="gemma4_embed_records_") as folder:
        local = path
        if FileSystems.get_scheme(path) not in (None, "file"):
            local = os.path.join(folder, "records.array_record")
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as source, open(
                local, "wb"
            ) as target:
                shutil.copyfileobj(source, target, _COPY_BYTES)
        try:
            reader = ArrayRecordReader(local)
            try:
                payloads = reader.read_all()
            finally:
                reader.close()
        except Exception as e:  # noqa: BLE001 - riegeli raises RuntimeError or ValueError by fault
            raise ValueError(f"{path}: not a readable ArrayRecord file: {e}") from e
    yield from payloads
