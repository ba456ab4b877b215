"""Caps on what one input file may make a reader hold or do, and the bounded reads behind them.

A hostile corpus can hide a bomb in any container: a gzip of one 2 GiB manifest line, a tar
member of 1 GiB, a TFRecord length field of exabytes with a valid checksum, a Parquet cell of
300 MB, JSON nested a million deep. Each reader checks its cap before it allocates, and what
passes a cap costs one dead letter naming it (`--max_*` flags), never the job.
"""

import json
import re
from typing import NamedTuple

import numpy as np

MIB = 1 << 20
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string, escapes included
_BRACKET_STEPS = np.zeros(256, np.int64)  # +1 for each byte that opens an array or object, -1 for one that closes
_BRACKET_STEPS[[ord("["), ord("{")]], _BRACKET_STEPS[[ord("]"), ord("}")]] = 1, -1


class ReadLimits(NamedTuple):
    """The caps of the readers, each a `--max_*` flag.

    Attributes:
        max_manifest_line_bytes: int. Bytes of one manifest entry: a JSONL line, or an item of a
            JSON array. Defaults to 1 MiB.
        max_json_depth: int. Nesting depth of one JSON value (a manifest entry, a tar `.json`
            member). Defaults to 64.
        max_member_bytes: int. Bytes of a tar member read into memory; a larger audio member of
            an uncompressed tar is streamed from the tar when it is decoded instead. Defaults to 64 MiB.
        max_cell_bytes: int. Bytes of one Parquet audio cell. Defaults to 256 MiB.
        max_record_bytes: int. Bytes of one TFRecord record, checked from its length field
            before it is read. Defaults to 256 MiB.
        max_decompressed_bytes: int. Bytes decompressed from one compressed input file
            (`.gz`, `.tgz`, `.zst`, ...). Defaults to 64 GiB.
    """

    max_manifest_line_bytes: int = MIB
    max_json_depth: int = 64
    max_member_bytes: int = 64 * MIB
    max_cell_bytes: int = 256 * MIB
    max_record_bytes: int = 256 * MIB
    max_decompressed_bytes: int = 64 << 30

    def checked(self) -> "ReadLimits":
        """Returns itself; raises ValueError naming a cap that is not a positive int."""
        for name, value in self._asdict().items():
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")
        return self


DEFAULT_READ_LIMITS = ReadLimits()


def json_depth(text: bytes) -> int:
    """The deepest nesting of arrays and objects in the JSON text `text` (0 for a scalar).

    Counted on the bytes, outside strings, without parsing: what `bounded_json` checks before
    `json.loads`, whose recursion a deep value would exhaust.
    """
    if text.count(b"[") + text.count(b"{") <= 1:  # the common flat entry: no need to look closer
        return text.count(b"[") + text.count(b"{")
    steps = _BRACKET_STEPS[np.frombuffer(_STRING.sub(b"", text), np.uint8)]
    return int(np.cumsum(steps).max(initial=0))


def bounded_json(text: bytes | str, max_depth: int, flag: str = "--max_json_depth"):
    """`json.loads(text)` once its nesting is at most `max_depth`.

    Raises:
        ValueError: `text` is not JSON, or nests deeper than `max_depth` (naming `flag`).
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    depth = json_depth(raw)
    if depth > max_depth:
        raise ValueError(f"its JSON nests {depth} deep, over the cap of {max_depth} ({flag}).")
    return json.loads(text)


class CappedStream:
    """A binary stream that raises once more than `max_bytes` have been read from it.

    Wraps the decompressed stream of a compressed input file, so a decompression bomb stops at
    the cap: what was read before it stays read (the inputs found go on), the file is a dead letter.

    Args:
        stream: binary stream.
        max_bytes: int. Bytes that may be read.
        name: str. The file, as errors name it.
    """

    def __init__(self, stream, max_bytes: int, name: str):
        self._stream, self._max_bytes, self._name, self._read = stream, max_bytes, name, 0

    def _counted(self, data: bytes) -> bytes:
        self._read += len(data)
        if self._read > self._max_bytes:
            raise ValueError(
                f"{self._name} decompresses to more than {self._max_bytes} bytes, the cap "
                "(--max_decompressed_bytes); the rest of it is not read."
            )
        return data

    def read(self, size: int = -1) -> bytes:
        return self._counted(self._stream.read(size))

    def readline(self, *args) -> bytes:
        return self._counted(self._stream.readline(*args))

    def seek(self, *args):
        return self._stream.seek(*args)

    def tell(self) -> int:
        return self._stream.tell()

    def seekable(self) -> bool:
        return self._stream.seekable()

    def close(self) -> None:
        self._stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def bounded_lines(stream, max_bytes: int, chunk_bytes: int = 1 << 16):
    """Yields the lines of a binary stream, newline removed, or None for a line over `max_bytes`.

    Never holds more than `max_bytes + chunk_bytes` bytes: a longer line is skipped in chunks
    up to its newline.
    """
    pending, oversized = b"", False
    while True:
        chunk = stream.read(chunk_bytes)
        if not chunk:
            if pending or oversized:
                yield None if oversized else pending
            return
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield None if oversized or len(line) > max_bytes else line
            oversized = False
        if len(pending) > max_bytes:
            pending, oversized = b"", True
