"""TFRecord framing without TensorFlow: the writer's frames and a checked reader of any TFRecord stream.

A frame is `uint64 length | uint32 masked crc32c(length) | data | uint32 masked crc32c(data)`,
little-endian (tensorflow/core/lib/io/record_writer.cc). The input reader (TFRecord inputs) and
the record writer both use this module.
"""

import struct
from collections.abc import Iterator
from typing import NamedTuple

import google_crc32c

_CRC_MASK_DELTA = 0xA282EAD8  # TFRecord's crc32c masking constant


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF


def tfrecord_frame(payload: bytes) -> bytes:
    """Frames one record as TFRecord does: length, masked crc32c of the length, data, masked crc32c."""
    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", _masked_crc(length)) + payload + struct.pack("<I", _masked_crc(payload))


class OversizedRecord(NamedTuple):
    """A record whose (checksummed) length is over the reader's cap: skipped unread, in place of its payload.

    Attributes:
        index: int. Its position in the stream, from 0.
        length: int. The bytes its length field declares.
    """

    index: int
    length: int


_SKIP_BYTES = 1 << 20  # read at a time while skipping an oversized record


def tfrecord_payloads(
    stream, name: str = "<stream>", max_length: int | None = None
) -> Iterator[bytes | OversizedRecord]:
    """Yields the records of a TFRecord stream (already decompressed), checking every crc32c.

    With `max_length`, a record whose length field says more is yielded as an `OversizedRecord`
    and skipped `_SKIP_BYTES` at a time, never held: its length is checked before anything is
    allocated for it.

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
        if max_length is not None and length > max_length:
            remaining = length + 4
            while remaining and (skipped := len(stream.read(min(remaining, _SKIP_BYTES)))):
                remaining -= skipped
            if remaining:
                raise ValueError(
                    f"{name}: record {index} is truncated ({length + 4 - remaining} of {length + 4} bytes)."
                )
            yield OversizedRecord(index, length)
            index += 1
            continue
        body = stream.read(length + 4)
        if len(body) < length + 4:
            raise ValueError(f"{name}: record {index} is truncated ({len(body)} of {length + 4} bytes).")
        payload = body[:length]
        if struct.unpack("<I", body[length:])[0] != _masked_crc(payload):
            raise ValueError(f"{name}: record {index} has corrupt data (crc32c mismatch).")
        yield payload
        index += 1


def tfrecord_offsets(stream, name: str = "<stream>") -> list[int]:
    """The byte offset of every record of a seekable, uncompressed TFRecord stream, reading only length headers.

    Each header's crc32c is checked (payloads are checked when read, by `tfrecord_payloads` from
    an offset). Raises ValueError naming `name` and the record index on a truncated header or a
    file shorter than its last header says.
    """
    end = stream.seek(0, 2)  # the stream's size
    offsets, index, offset = [], 0, stream.seek(0)
    while offset < end:
        header = stream.read(12)
        if len(header) < 12:
            raise ValueError(f"{name}: record {index} is truncated in its length header.")
        (length,) = struct.unpack("<Q", header[:8])
        if struct.unpack("<I", header[8:])[0] != _masked_crc(header[:8]):
            raise ValueError(f"{name}: record {index} has a corrupt length header (crc32c mismatch).")
        if offset + 12 + length + 4 > end:
            raise ValueError(f"{name}: record {index} is truncated ({end - offset - 12} of {length + 4} bytes).")
        offsets.append(offset)
        offset = stream.seek(offset + 12 + length + 4)
        index += 1
    return offsets
