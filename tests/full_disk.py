"""A Beam filesystem for tests whose disk fills up: `fulldisk://<local path>`.

It is the local filesystem under another scheme, except that writes through `create` raise
`OSError(ENOSPC)` once `FullDisk.budget` bytes have been written in all (None: no limit). Beam
finds filesystems by scheme among `FileSystem` subclasses, so importing this module registers it.
"""

import errno

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystem import MatchResult
from apache_beam.io.localfilesystem import LocalFileSystem

SCHEME = "fulldisk"
PREFIX = f"{SCHEME}://"


def local(path: str) -> str:
    return path[len(PREFIX) :] if path.startswith(PREFIX) else path


class FullDisk:
    """The disk's state, shared by every instance Beam makes: bytes left to write, or None."""

    budget = None


class _FillingStream:
    def __init__(self, stream):
        self._stream = stream

    def write(self, data):
        if FullDisk.budget is not None:
            if len(data) > FullDisk.budget:
                FullDisk.budget = 0
                raise OSError(errno.ENOSPC, "No space left on device")
            FullDisk.budget -= len(data)
        return self._stream.write(data)

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._stream.close()


class FullDiskFileSystem(LocalFileSystem):
    """The local filesystem under `fulldisk://`; every call goes to a plain `LocalFileSystem` on the local path."""

    @classmethod
    def scheme(cls):
        return SCHEME

    @property
    def _disk(self):
        return LocalFileSystem(pipeline_options=None)

    def join(self, basepath, *paths):
        return PREFIX + self._disk.join(local(basepath), *paths)

    def split(self, path):
        head, tail = self._disk.split(local(path))
        return PREFIX + head, tail

    def mkdirs(self, path):
        return self._disk.mkdirs(local(path))

    def create(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        return _FillingStream(self._disk.create(local(path), mime_type, compression_type))

    def open(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        return self._disk.open(local(path), mime_type, compression_type)

    def match(self, patterns, limits=None):
        results = self._disk.match([local(pattern) for pattern in patterns], limits)
        return [
            MatchResult(
                PREFIX + result.pattern,
                [
                    FileMetadata(PREFIX + m.path, m.size_in_bytes, m.last_updated_in_seconds)
                    for m in result.metadata_list
                ],
            )
            for result in results
        ]

    def rename(self, source_file_names, destination_file_names):
        return self._disk.rename([local(p) for p in source_file_names], [local(p) for p in destination_file_names])

    def copy(self, source_file_names, destination_file_names):
        return self._disk.copy([local(p) for p in source_file_names], [local(p) for p in destination_file_names])

    def exists(self, path):
        return self._disk.exists(local(path))

    def size(self, path):
        return self._disk.size(local(path))

    def delete(self, paths):
        return self._disk.delete([local(p) for p in paths])
