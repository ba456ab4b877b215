"""What a WAV or AIFF header declares about its audio: where the data chunk starts and its size, and
the one WAV sample layout FFmpeg misreads.

Only these headers state a length a decoder can be held to (the FLAC total comes from FFmpeg's
demuxer, `decode_audio`). A size of 0 or 0xFFFFFFFF is what a streaming recorder writes when it
cannot seek back (tinyalsa, NAudio; RF64 keeps the real size elsewhere): it declares nothing.
Read with `seek` and `read` over the chunk headers only, so a remote file costs a few small reads.

`pcm_wav_format` finds the WAV files of uncompressed samples the decoder reads itself
(`audio.pcm_wav`): the common PCM and float layouts, which FFmpeg would decode to the same
samples at a higher cost, and integer PCM whose valid bits are fewer than its 32-bit containers
(24 in 32, as some recorders write), which FFmpeg opens as `pcm_f24le` and decodes to noise and NaN.
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


# WAVE format tags and the WAVE_FORMAT_EXTENSIBLE SubFormat GUIDs they stand for.
WAVE_FORMAT_PCM, WAVE_FORMAT_IEEE_FLOAT = 1, 3
KSDATAFORMAT_SUBTYPE_IEEE_FLOAT = struct.pack("<IHH8s", 3, 0, 0x10, bytes.fromhex("800000aa00389b71"))
# (format tag, bits per sample) -> FFmpeg's name of the sample format that `pcm_wav_format` reads.
_PCM_SAMPLE_FORMATS = {
    (WAVE_FORMAT_PCM, 8): "u8",
    (WAVE_FORMAT_PCM, 16): "s16",
    (WAVE_FORMAT_PCM, 32): "s32",
    (WAVE_FORMAT_IEEE_FLOAT, 32): "flt",
}
MAX_CHANNELS = 512  # FFmpeg's FF_SANE_NB_CHANNELS: a file declaring more is left to FFmpeg, which refuses it
_SUBFORMAT_TAGS = {KSDATAFORMAT_SUBTYPE_PCM: WAVE_FORMAT_PCM, KSDATAFORMAT_SUBTYPE_IEEE_FLOAT: WAVE_FORMAT_IEEE_FLOAT}


class PcmWav(NamedTuple):
    """A RIFF (or RIFX) WAVE file of uncompressed samples that `audio.pcm_wav` reads (`pcm_wav_format`).

    Attributes:
        channels: int. Interleaved channels.
        sample_rate: int. Hz.
        sample_format: str. FFmpeg's name of the stored samples: `u8`, `s16`, `s32` or `flt`.
        padded: bool. Integer PCM with fewer valid bits than its 32-bit containers (24 in 32),
            which FFmpeg misreads; read as the int32 it holds.
        data: DataChunk or None. The data chunk; None when its size declares nothing (only for
            a padded file, read to the end).
        data_offset: int. Byte offset of the first sample.
        byte_order: str. `"<"` (RIFF) or `">"` (RIFX) for multi-byte samples.
    """

    channels: int
    sample_rate: int
    sample_format: str
    padded: bool
    data: DataChunk | None
    data_offset: int
    byte_order: str = "<"


def _fmt_layout(fmt: bytes, order: str = "<"):
    """`(channels, rate, sample_format, padded)` of a WAVE fmt chunk's first 40 bytes (or fewer), or None.

    `order` is the file's byte order: `"<"` (RIFF) or `">"` (RIFX, plain tags only)."""
    if len(fmt) < 16:
        return None
    tag, channels, rate, _, block_align, bits = struct.unpack(order + "HHIIHH", fmt[:16])
    padded = False
    if tag == WAVE_FORMAT_EXTENSIBLE:
        if (
            order != "<"
            or len(fmt) < 40
            or struct.unpack("<H", fmt[16:18])[0] < 22
            or fmt[24:40] not in _SUBFORMAT_TAGS
        ):
            return None
        tag, valid_bits = _SUBFORMAT_TAGS[fmt[24:40]], struct.unpack("<H", fmt[18:20])[0]
        if tag == WAVE_FORMAT_PCM and bits == 32 and 0 < valid_bits < 32:
            padded = True
        elif valid_bits not in (0, bits):  # 0: a writer that left it unset
            return None
    sample_format = _PCM_SAMPLE_FORMATS.get((tag, bits))
    if sample_format is None or not 0 < channels <= MAX_CHANNELS or rate <= 0 or block_align != bits // 8 * channels:
        return None
    return channels, rate, sample_format, padded


def pcm_wav_format(stream) -> PcmWav | None:
    """The layout of a little-endian RIFF WAVE file of uncompressed samples the job reads without
    FFmpeg; None for every other file. Leaves `stream` at offset 0.

    Read directly: integer PCM of 8, 16 or 32 bits and 32-bit float, plain or
    WAVE_FORMAT_EXTENSIBLE, whose data chunk declares its size; FFmpeg decodes these to the
    same samples (tested), at about 2 ms of CPU more per input, most of it opening the file
    (bench/RESULTS.md, host cost). And integer PCM padded into 32-bit containers (24 valid bits
    in 32), which FFmpeg opens as `pcm_f24le` and decodes to noise and NaN, with any size.
    Big-endian RIFX files of those plain layouts are read too (FFmpeg would decode them
    byte-swapped; `audio.ffmpeg_input` refuses every other RIFX file). Everything else (RF64,
    24-bit packed, A-law, ADPCM, a size of 0 or 0xFFFFFFFF on plain PCM, a fmt chunk after the
    data) is left to FFmpeg.

    Args:
        stream: seekable binary file-like object.
    """
    try:
        if stream.read(4) == b"RF64":  # its sizes live in a ds64 chunk: left to FFmpeg
            return None
        chunks = _chunks(stream)
        form, order = next(chunks, (None, None))
        if form != "WAVE":
            return None
        layout, fmt_seen = None, False
        for chunk_id, offset, size in chunks:
            if chunk_id == b"fmt ":
                if fmt_seen:  # which one a decoder would take is not ours to guess
                    return None
                fmt_seen = True
                stream.seek(offset + 8)
                layout = _fmt_layout(stream.read(min(size, 40)), order)
            elif chunk_id == b"data" and layout is not None:
                declared = size not in UNKNOWN_SIZES
                if not (declared or layout[3]):
                    return None
                stream.seek(0, io.SEEK_END)
                held = max(stream.tell() - offset - 8, 0)
                data = DataChunk(offset + 8, size, held) if declared else None
                return PcmWav(*layout, data, offset + 8, order)
        return None
    finally:
        stream.seek(0)
