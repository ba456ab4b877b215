"""TFRecord framing without TensorFlow: the writer's frames and a checked reader of any TFRecord stream.

A frame is `uint64 length | uint32 masked crc32c(length) | data | uint32 masked crc32c(data)`,
little-endian (tensorflow/core/lib/io/record_writer.cc). The input reader (TFRecord inputs) and
the record writer both use this module.
"""

import struct
from collections.abc import Iterator

import google_crc32c

_CRC_MASK_DELTA = 0xA282EAD8  # TFRecord's crc32c masking constant


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
