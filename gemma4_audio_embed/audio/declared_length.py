"""What a WAV or AIFF header declares about its audio: where the data chunk starts and its size.

Only these headers state a length a decoder can be held to (the FLAC total comes from FFmpeg's
demuxer, `decode_audio`). A size of 0 or 0xFFFFFFFF is what a streaming recorder writes when it
cannot seek back (tinyalsa, NAudio; RF64 keeps the real size elsewhere): it declares nothing.
Read with `seek` and `read` over the chunk headers only, so a remote file costs a few small reads.
"""

import io
import struct
from typing import NamedTuple

UNKNOWN_SIZES = (0, 0xFFFFFFFF)
# Chunk sizes little- or big-endian. RF64 keeps its real sizes in a ds64 chunk; its RIFF and
# data sizes are 0xFFFFFFFF, which declare nothing.
_RIFF_IDS = {b"RIFF": "<", b"RIFX": ">", b"RF64": "<"}
_MAX_CHUNKS = 64  # chunks walked before the data chunk; real files have a handful


class DataChunk(NamedTuple):
    """The audio payload a header declares.

    Attributes:
        offset: int. Byte offset of the first audio byte in the file.
        size: int. Bytes the header declares, neither 0 nor 0xFFFFFFFF.
        held: int. Bytes the file holds from `offset` to its end.
    """

    offset: int
    size: int
    held: int


def is_wave(header: bytes) -> bool:
    """Whether a file's first 12 bytes open a RIFF, RIFX or RF64 WAVE file."""
    return header[:4] in _RIFF_IDS and header[8:12] == b"WAVE"


def declared_data_chunk(stream) -> DataChunk | None:
    """The data chunk declared by the RIFF/RIFX WAVE or AIFF/AIFF-C header at the start of `stream`.

    Returns None for any other file, and for a size that declares nothing (`UNKNOWN_SIZES`).
    Leaves `stream` at offset 0.

    Args:
        stream: seekable binary file-like object.
    """
    try:
        stream.seek(0)
        header = stream.read(12)
        if len(header) < 12:
            return None
        if is_wave(header):
            order, data_id = _RIFF_IDS[header[:4]], b"data"
        elif header[:4] == b"FORM" and header[8:12] in (b"AIFF", b"AIFC"):
            order, data_id = ">", b"SSND"
        else:
            return None
        offset = 12
        for _ in range(_MAX_CHUNKS):
            stream.seek(offset)
            chunk = stream.read(8)
            if len(chunk) < 8:
                return None
            (size,) = struct.unpack(order + "I", chunk[4:])
            if chunk[:4] == data_id:
                if size in UNKNOWN_SIZES:
                    return None
                stream.seek(0, io.SEEK_END)
                file_size = stream.tell()
                if data_id == b"SSND":  # 8 bytes of offset and block size precede the samples
                    offset, size = offset + 8, size - 8
                return DataChunk(offset + 8, size, max(file_size - offset - 8, 0))
            offset += 8 + size + (size & 1)  # chunks are padded to an even size
        return None
    finally:
        stream.seek(0)
