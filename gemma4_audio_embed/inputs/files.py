"""Opening the files a corpus names, confined: special files refused, links resolved, `--allowed_roots` enforced.

A corpus from the internet names files itself: a manifest line, a Parquet path cell, a symbolic
link among the matched files. Every file the job reads as input is checked here first:

- A local path is resolved through its links (`os.path.realpath`); one that resolves under
  `/dev`, `/proc` or `/sys` is refused, whatever it is (`/proc/self/environ` is a regular file).
- With `allowed_roots`, a path whose resolved form lies under none of them is refused; a
  remote URI (`gs://...`) must start with one of the remote roots.
- It is `stat`ed before any open, and anything but a regular file (a FIFO, socket, device or
  folder) is refused, so no open ever blocks. The open itself is non-blocking and checks, on the
  open descriptor, that it holds the very file it `stat`ed.

Each refusal is a `RefusedPath` (a ValueError) naming the path and why: one dead letter.
"""

import io
import os
import re
import stat

from gemma4_audio_embed.inputs.keys import undecodable_escaped

# Beam's file systems are imported only to open a remote or compressed file, so the decoder
# process (`audio.decode_process`) starts without Beam.
UNCOMPRESSED = "uncompressed"  # apache_beam's CompressionTypes.UNCOMPRESSED
_SCHEME = re.compile(r"[a-zA-Z][-a-zA-Z0-9+.]*://")  # as FileSystems.get_scheme finds one

SPECIAL_ROOTS = ("/dev", "/proc", "/sys")  # never read, whatever --allowed_roots says
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class RefusedPath(ValueError):
    """A path the job will not open: a special file, or outside `--allowed_roots`."""


def is_local(uri: str) -> bool:
    """Whether `uri` is a local path (no `scheme://`)."""
    return _SCHEME.match(uri) is None


def _under(path: str, root: str) -> bool:
    return path == root.rstrip("/") or path.startswith(root if root.endswith("/") else root + "/")


def resolved_roots(roots) -> tuple[str, ...]:
    """`--allowed_roots` in the form `confined_path` compares: local roots resolved through their
    links (`os.path.realpath`), remote ones (`gs://b/corpus`) as given, without a trailing `/`.

    Raises ValueError for an empty root.
    """
    checked = []
    for root in roots or ():
        if not root.strip():
            raise ValueError(f"An allowed root must name a folder or URI prefix. Received: {root!r}")
        checked.append(os.path.realpath(root) if is_local(root) else root.rstrip("/"))
    return tuple(checked)


def confined_path(uri: str, roots: tuple[str, ...] = ()) -> str:
    """`uri` resolved through its links (local) or as it is (remote), once checked against the roots.

    Args:
        uri: str. A local path or a URI.
        roots: tuple of str. `resolved_roots(...)`; empty allows every path but the special ones.

    Raises:
        RefusedPath: the path resolves under `SPECIAL_ROOTS`, or under none of `roots`.
    """
    shown = undecodable_escaped(uri)
    if not is_local(uri):
        if roots and not any(_under(uri, root) for root in roots if not is_local(root)):
            raise RefusedPath(f"{shown} is outside --allowed_roots {list(roots)}; refused unread.")
        return uri
    resolved = os.path.realpath(uri)
    via = "" if resolved == os.path.abspath(uri) else f" (a link to {undecodable_escaped(resolved)})"
    if any(_under(resolved, root) for root in SPECIAL_ROOTS):
        raise RefusedPath(f"{shown}{via} lies under {', '.join(SPECIAL_ROOTS)}, which the job never reads.")
    if roots and not any(_under(resolved, root) for root in roots if is_local(root)):
        raise RefusedPath(f"{shown}{via} is outside --allowed_roots {list(roots)}; refused unread.")
    return resolved


def _kind(mode: int) -> str | None:
    """What a file of `mode` is when it is no regular file ("a FIFO (named pipe)", ...); None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for is_kind, name in _KINDS if is_kind(mode)), "no regular file")


def checked_file(uri: str, roots: tuple[str, ...] = ()) -> str:
    """`confined_path(uri, roots)`, after `stat` says it is a regular file (local paths); nothing is opened.

    Raises:
        RefusedPath: see `confined_path`, or the path is a folder, FIFO, socket or device.
        FileNotFoundError: there is no such file.
    """
    path = confined_path(uri, roots)
    if is_local(uri):
        kind = _kind(os.stat(path).st_mode)
        if kind is not None:
            raise RefusedPath(f"{undecodable_escaped(uri)} is {kind}; the job reads regular files only.")
    return path


def opened_file(uri: str, roots: tuple[str, ...] = (), compression: str = UNCOMPRESSED):
    """Opens `uri` for binary reading once `checked_file` passes it; never blocks on a special file.

    A local file is opened non-blocking at its resolved path and must be, on the open descriptor,
    the regular file `stat` saw; a remote one through Beam's file systems. `compression` (a
    `CompressionTypes` value; AUTO decides by suffix) wraps the stream in Beam's decompressor.

    Raises:
        RefusedPath, FileNotFoundError: see `checked_file`.
    """
    if not is_local(uri):
        from apache_beam.io.filesystems import FileSystems

        confined_path(uri, roots)
        return FileSystems.open(uri, compression_type=compression)
    path = checked_file(uri, roots)
    seen = os.stat(path)
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    opened = os.fstat(descriptor)
    if _kind(opened.st_mode) is not None or (opened.st_dev, opened.st_ino) != (seen.st_dev, seen.st_ino):
        os.close(descriptor)
        raise RefusedPath(f"{undecodable_escaped(uri)} changed while it was opened; refused.")
    os.set_blocking(descriptor, True)
    raw = open(descriptor, "rb", closefd=True)
    if compression == UNCOMPRESSED:
        return raw
    from apache_beam.io.filesystem import CompressedFile
    from apache_beam.io.filesystem import CompressionTypes

    if compression == CompressionTypes.AUTO:
        compression = CompressionTypes.detect_compression_type(uri)
    return raw if compression == UNCOMPRESSED else CompressedFile(raw, compression)


class ByteRange(io.RawIOBase):
    """A read-only, seekable view of `size` bytes of `stream` from `offset`: a member inside an uncompressed tar.

    Args:
        stream: seekable binary stream, closed with the view.
        offset: int. First byte of the view in `stream`.
        size: int. Bytes in the view.
    """

    def __init__(self, stream, offset: int, size: int):
        super().__init__()
        self._stream, self._offset, self._size, self._position = stream, offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(base + position, 0)
        return self._position

    def readinto(self, buffer) -> int:
        count = max(min(len(buffer), self._size - self._position), 0)
        if not count:
            return 0
        self._stream.seek(self._offset + self._position)
        data = self._stream.read(count)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()
