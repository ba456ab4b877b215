"""What a WAV or AIFF header declares about its audio: where the data chunk starts and its size, and
the one WAV sample layout FFmpeg misreads.

Only these headers state a length a decoder can be held to (the FLAC total comes from FFmpeg's
demuxer, `decode_audio`). A size of 0 or 0xFFFFFFFF is what a streaming recorder writes when it
cannot seek back (tinyalsa, NAudio; RF64 keeps the real size elsewhere): it declares nothing.
Read with `seek` and `read` over the chunk headers only, so a remote file costs a few small reads.

`padded_pcm_format` finds a WAVE_FORMAT_EXTENSIBLE file of integer PCM whose valid bits are
fewer than its 32-bit containers (24 in 32, as some recorders write): FFmpeg opens it as
`pcm_f24le` and decodes noise and NaN, so the decoder reads it as the integers it holds.
"""

import io
import struct
from typing import NamedTuple

UNKNOWN_SIZES = (0, 0xFFFFFFFF)
# Chunk sizes little- or big-endian. RF64 keeps its real sizes in a ds64 chunk; its RIFF and
# data sizes are 0xFFFFFFFF, which declare nothing.
_RIFF_IDS = {b"RIFF": "<", b"RIFX": ">", b"RF64": "<"}
_MAX_CHUNKS = 64  # chunks walked before the data chunk; real files have a handful
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# The SubFormat GUID of integer PCM in WAVE_FORMAT_EXTENSIBLE: 00000001-0000-0010-8000-00aa00389b71.
KSDATAFORMAT_SUBTYPE_PCM = struct.pack("<IHH8s", 1, 0, 0x10, bytes.fromhex("800000aa00389b71"))


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


def _chunks(stream):
    """Yields the form, `"WAVE"` or `"AIFF"`, and its byte order, `"<"` or `">"`; then
    `(chunk id, offset of its header, size)` of each chunk, up to the sound data or `_MAX_CHUNKS`.

    Yields nothing for any other file. The sound data chunk is named b"data" (AIFF's SSND too).
    """
    stream.seek(0)
    header = stream.read(12)
    if len(header) < 12:
        return
    if is_wave(header):
        form, order, data_id = "WAVE", _RIFF_IDS[header[:4]], b"data"
    elif header[:4] == b"FORM" and header[8:12] in (b"AIFF", b"AIFC"):
        form, order, data_id = "AIFF", ">", b"SSND"
    else:
        return
    yield form, order
    offset = 12
    for _ in range(_MAX_CHUNKS):
        stream.seek(offset)
        chunk = stream.read(8)
        if len(chunk) < 8:
            return
        (size,) = struct.unpack(order + "I", chunk[4:])
        yield (b"data" if chunk[:4] == data_id else chunk[:4]), offset, size
        if chunk[:4] == data_id:
            return
        offset += 8 + size + (size & 1)  # chunks are padded to an even size


def declared_data_chunk(stream) -> DataChunk | None:
    """The data chunk declared by the RIFF/RIFX WAVE or AIFF/AIFF-C header at the start of `stream`.

    Returns None for any other file, and for a size that declares nothing (`UNKNOWN_SIZES`).
    Leaves `stream` at offset 0.

    Args:
        stream: seekable binary file-like object.
    """
    try:
        chunks = _chunks(stream)
        is_aiff = next(chunks, (None, None))[0] == "AIFF"
        for chunk_id, offset, size in chunks:
            if chunk_id != b"data":
                continue
            if size in UNKNOWN_SIZES:
                return None
            stream.seek(0, io.SEEK_END)
            file_size = stream.tell()
            if is_aiff:  # 8 bytes of offset and block size precede the samples
                offset, size = offset + 8, size - 8
            return DataChunk(offset + 8, size, max(file_size - offset - 8, 0))
        return None
    finally:
        stream.seek(0)


class PaddedPcm(NamedTuple):
    """Integer PCM in 32-bit little-endian containers, fewer bits valid (`padded_pcm_format`).

    Attributes:
        channels: int. Interleaved channels.
        sample_rate: int. Hz.
        valid_bits: int. Significant bits, at the top of each container.
        data: DataChunk or None. The data chunk, None when its size declares nothing (read to the end).
        data_offset: int. Byte offset of the first sample.
    """

    channels: int
    sample_rate: int
    valid_bits: int
    data: DataChunk | None
    data_offset: int


def padded_pcm_format(stream) -> PaddedPcm | None:
    """The layout of a little-endian WAVE_FORMAT_EXTENSIBLE file of integer PCM in 32-bit containers
    with fewer valid bits (24 in 32); None for every other file. Leaves `stream` at offset 0.

    Args:
        stream: seekable binary file-like object.
    """
    try:
        chunks = _chunks(stream)
        if next(chunks, (None, None)) != ("WAVE", "<"):
            return None
        layout = None
        for chunk_id, offset, size in chunks:
            if chunk_id == b"fmt " and size >= 40:
                stream.seek(offset + 8)
                fmt = stream.read(40)
                if len(fmt) < 40:
                    return None
                tag, channels, rate, _, block_align, bits, extra, valid_bits = struct.unpack("<HHIIHHHH", fmt[:20])
                if (
                    tag == WAVE_FORMAT_EXTENSIBLE
                    and extra >= 22
                    and fmt[24:40] == KSDATAFORMAT_SUBTYPE_PCM
                    and bits == 32
                    and 0 < valid_bits < 32
                    and channels > 0
                    and block_align == 4 * channels
                ):
                    layout = (channels, rate, valid_bits)
            elif chunk_id == b"data" and layout is not None:
                declared = size not in UNKNOWN_SIZES
                stream.seek(0, io.SEEK_END)
                held = max(stream.tell() - offset - 8, 0)
                return PaddedPcm(*layout, DataChunk(offset + 8, size, held) if declared else None, offset + 8)
        return None
    finally:
        stream.seek(0)
