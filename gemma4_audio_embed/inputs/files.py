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

A compressed file (`.gz`, `.bz2`, `.xz`, `.zst`, `.deflate`) is decompressed by a reader that
never inflates more than it is asked for (`decompressed`): Beam's own decompressor inflates
each 16 MiB it reads whole, so a 1 MB gzip of zeros became 1 GiB in one call.
"""

import bz2
import gzip
import io
import lzma
import os
import re
import stat
import zlib

from gemma4_audio_embed.inputs.keys import undecodable_escaped

# Beam's file systems are imported only to open a remote or compressed file, so the decoder
# process (`audio.decode_process`) starts without Beam.
UNCOMPRESSED = "uncompressed"  # apache_beam's CompressionTypes.UNCOMPRESSED
AUTO = "auto"  # apache_beam's CompressionTypes.AUTO: decided by suffix
# Beam's compression types (CompressionTypes) by the suffixes it gives them.
COMPRESSION_BY_SUFFIX = {
    ".gz": "gzip",
    ".bz2": "bzip2",
    ".deflate": "deflate",
    ".zst": "zstd",
    ".zstd": "zstd",
    ".xz": "lzma",
    ".lzma": "lzma",
}
_ZSTD_MAX_WINDOW = 1 << 31  # as Beam reads zstd
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


def compression_of(uri: str) -> str:
    """Beam's compression type of `uri` by its suffix (`gzip`, `bzip2`, ...), else `uncompressed`."""
    return next((kind for suffix, kind in COMPRESSION_BY_SUFFIX.items() if uri.lower().endswith(suffix)), UNCOMPRESSED)


class _ZlibReader(io.RawIOBase):
    """A zlib (`.deflate`) stream, inflated at most as many bytes as each read asks for."""

    def __init__(self, raw):
        super().__init__()
        self._raw, self._inflater, self._pending = raw, zlib.decompressobj(), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while True:
            if not self._pending:
                self._pending = self._raw.read(1 << 16)
                if not self._pending:
                    data = self._inflater.flush()[: len(buffer)]
                    buffer[: len(data)] = data
                    return len(data)
            data = self._inflater.decompress(self._pending, len(buffer))
            self._pending = self._inflater.unconsumed_tail
            if data or self._inflater.eof:
                buffer[: len(data)] = data
                return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


def decompressed(raw, compression: str):
    """`raw` (a binary stream) read through a decompressor of Beam's `compression` type that inflates
    no more than each read asks for; `raw` itself when `uncompressed`.

    Raises ValueError for an unknown compression type.
    """
    if compression == UNCOMPRESSED:
        return raw
    if compression == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if compression == "bzip2":
        return bz2.BZ2File(raw)
    if compression == "lzma":
        return lzma.LZMAFile(raw)
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW).stream_reader(raw, read_across_frames=True)
    if compression == "deflate":
        return io.BufferedReader(_ZlibReader(raw))
    raise ValueError(
        f"Unknown compression {compression!r}; expected one of {sorted(set(COMPRESSION_BY_SUFFIX.values()))}."
    )


def opened_file(uri: str, roots: tuple[str, ...] = (), compression: str = UNCOMPRESSED):
    """Opens `uri` for binary reading once `checked_file` passes it; never blocks on a special file.

    A local file is opened non-blocking at its resolved path and must be, on the open descriptor,
    the regular file `stat` saw; a remote one through Beam's file systems. `compression` (Beam's
    type names; `auto` decides by suffix) reads it through `decompressed`.

    Raises:
        RefusedPath, FileNotFoundError: see `checked_file`.
    """
    compression = compression_of(uri) if compression == AUTO else compression
    if not is_local(uri):
        from apache_beam.io.filesystems import FileSystems

        confined_path(uri, roots)
        return decompressed(FileSystems.open(uri, compression_type=UNCOMPRESSED), compression)
    path = checked_file(uri, roots)
    seen = os.stat(path)
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    opened = os.fstat(descriptor)
    if _kind(opened.st_mode) is not None or (opened.st_dev, opened.st_ino) != (seen.st_dev, seen.st_ino):
        os.close(descriptor)
        raise RefusedPath(f"{undecodable_escaped(uri)} changed while it was opened; refused.")
    os.set_blocking(descriptor, True)
    return decompressed(open(descriptor, "rb", closefd=True), compression)


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
