"""Writing a file whole or not at all: a unique temporary name beside the final one, then a rename.

Every file the job writes itself (records, index, stamp, summary) goes through `atomic_file`,
as Beam's file-based sinks finalize: a reader never sees half a file under its final name, and
two attempts at one file (a retried bundle, a speculative worker) never share a temporary.
Works on every Beam filesystem (local, `gs://`); on GCS the rename is a copy and a delete.
"""

import contextlib
import uuid

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from gemma4_audio_embed.outputs.layout import TEMPORARY_MARK


def temporary_path(path: str) -> str:
    """A fresh temporary name beside `path`: `<path>.tmp-<32 hex digits>`."""
    return f"{path}{TEMPORARY_MARK}{uuid.uuid4().hex}"


@contextlib.contextmanager
def atomic_file(path: str, compression_type: str = CompressionTypes.UNCOMPRESSED):
    """Opens a temporary file for binary writing; renames it to `path` when the block ends without error.

    On an error the temporary file is deleted (best effort) and the error propagates; `path`
    is untouched. An existing file at `path` is replaced whole.

    Args:
        path: str. Final path, local or any FileSystems URI.
        compression_type: a `CompressionTypes` value for the written stream. Defaults to none.

    Yields:
        A writable binary file object.
    """
    temporary = temporary_path(path)
    stream = FileSystems.create(temporary, compression_type=compression_type)
    try:
        yield stream
        stream.close()
    except BaseException:
        with contextlib.suppress(Exception):
            stream.close()
        with contextlib.suppress(Exception):
            FileSystems.delete([temporary])
        raise
    FileSystems.rename([temporary], [path])  # replaces: os.rename locally, copy then delete on GCS


def write_atomically(path: str, data: bytes) -> None:
    """Writes `data` to `path` through `atomic_file`."""
    with atomic_file(path) as f:
        f.write(data)
