"""Tests for audio/pcm_wav.py: WAV files of uncompressed samples read without FFmpeg.

A plain PCM or float WAV must decode to exactly what FFmpeg decodes it to; a WAVE_FORMAT_EXTENSIBLE
file of 24-bit PCM in 32-bit containers (which FFmpeg misreads) to what a 24-bit file of the same
audio decodes to.
"""

import io
import struct

import numpy as np
import pytest
from synthetic_audio import PCM_GUID
from synthetic_audio import audio_bytes
from synthetic_audio import riff_wave
from synthetic_audio import tone

from gemma4_audio_embed.audio import decode
from gemma4_audio_embed.audio.declared_length import pcm_wav_format
from gemma4_audio_embed.audio.decode import decoded_clips
from gemma4_audio_embed.audio.span import InputError
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio

FLOAT_GUID = b"\x03" + PCM_GUID[1:]


def extensible_wav(samples_24: np.ndarray, rate: int, valid_bits: int = 24, guid: bytes = PCM_GUID) -> bytes:
    """A WAVE_FORMAT_EXTENSIBLE file of `int32 [R, C]` 24-bit values, each in the top of a 32-bit container."""
    frames, channels = samples_24.shape
    data = (samples_24.astype("<i4") << 8).tobytes()
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * 4 * channels, 4 * channels, 32, 22, valid_bits, 3)
    return riff_wave(fmt + guid, data)


def extensible_s16(samples: np.ndarray, rate: int) -> bytes:
    """A WAVE_FORMAT_EXTENSIBLE file of `int16 [R, C]` PCM, 16 valid bits."""
    frames, channels = samples.shape
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * 2 * channels, 2 * channels, 16, 22, 16, 3)
    return riff_wave(fmt + PCM_GUID, samples.astype("<i2").tobytes())


def plain_s16(samples: np.ndarray, rate: int, **chunks) -> bytes:
    """A plain (tag 1) PCM WAV of `int16 [R, C]`, with extra chunks and sizes as `riff` takes them."""
    frames, channels = samples.shape
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    return riff_wave(fmt, samples.astype("<i2").tobytes(), **chunks)


def _ffmpeg_clips(data, monkeypatch, **span):
    """The clips FFmpeg's reading gives (the direct reading turned off)."""
    with monkeypatch.context() as patch:
        patch.setattr(decode, "pcm_wav_format", lambda stream: None)
        return _clips(data, **span)


def _assert_same_clips(ours, theirs):
    assert [clip.info for clip in ours] == [clip.info for clip in theirs]
    for mine, reference in zip(ours, theirs):
        np.testing.assert_array_equal(mine.waveform, reference.waveform)


def _int16(seconds, rate, channels, seed=0):
    return np.round(tone(seconds, rate, channels=channels, seed=seed).reshape(-1, channels) * 32767).astype(np.int16)


def _clips(data, **span):
    return list(decoded_clips(EncodedAudio("x.wav", "x.wav", None, **span), io.BytesIO(data), 30.0))


def test_24_in_32_decodes_to_the_level_of_a_24_bit_read():
    stereo = np.round(tone(1.0, 16000, channels=2) * (2**23 - 1)).astype(np.int32)  # 24-bit values
    padded = extensible_wav(stereo, 16000)
    assert pcm_wav_format(io.BytesIO(padded)).padded
    (clip,) = _clips(padded)
    (reference,) = _clips(audio_bytes(stereo / 2**23, 16000, subtype="PCM_24"))  # the same audio, 24-bit PCM
    assert np.isfinite(clip.waveform).all()
    np.testing.assert_array_equal(clip.waveform, reference.waveform)
    (span,) = _clips(padded, offset_seconds=0.25, duration_seconds=0.5)
    np.testing.assert_array_equal(span.waveform, reference.waveform[4000:12000])


@pytest.mark.parametrize(
    "rate, channels, subtype",
    [
        (16000, 1, "PCM_16"),
        (16000, 2, "PCM_16"),
        (44100, 2, "PCM_16"),  # resampled: the same blocks reach soxr
        (8000, 3, "PCM_16"),  # 6-byte frames: FFmpeg's packets hold whole frames
        (48000, 1, "PCM_32"),
        (22050, 2, "PCM_U8"),
        (16000, 2, "FLOAT"),
    ],
)
def test_a_plain_wav_is_read_directly_to_the_samples_ffmpeg_gives(rate, channels, subtype, monkeypatch):
    data = audio_bytes(tone(7.3, rate, channels=channels), rate, subtype=subtype)
    assert pcm_wav_format(io.BytesIO(data)) is not None
    _assert_same_clips(_clips(data), _ffmpeg_clips(data, monkeypatch))


def test_a_span_of_a_plain_wav_is_read_directly_to_the_samples_ffmpeg_gives(monkeypatch):
    data = audio_bytes(tone(9.0, 44100, channels=2), 44100, subtype="PCM_16")
    span = {"offset_seconds": 1.25, "duration_seconds": 6.5}
    _assert_same_clips(_clips(data, **span), _ffmpeg_clips(data, monkeypatch, **span))


def test_an_extensible_16_bit_wav_is_read_directly_to_the_samples_ffmpeg_gives(monkeypatch):
    data = extensible_s16(_int16(2.0, 16000, 2), 16000)
    assert pcm_wav_format(io.BytesIO(data)).sample_format == "s16"
    _assert_same_clips(_clips(data), _ffmpeg_clips(data, monkeypatch))


def test_chunks_around_the_data_and_an_odd_trailing_byte_read_as_ffmpeg_reads_them(monkeypatch):
    samples = _int16(1.5, 16000, 2)
    listed = b"LIST" + struct.pack("<I", 5) + b"INFOx\0"  # odd size, padded to even
    data = plain_s16(samples, 16000, before_data=listed, after_data=b"\x01" + listed)
    data = data[: -len(listed) - 1] + data[-len(listed) - 1 :]  # unchanged: chunks after the data are ignored
    assert pcm_wav_format(io.BytesIO(data)) is not None
    _assert_same_clips(_clips(data), _ffmpeg_clips(data, monkeypatch))
    odd = plain_s16(samples, 16000, data_size=len(samples.tobytes()) + 1, after_data=b"\x07")  # half a frame more
    _assert_same_clips(_clips(odd), _ffmpeg_clips(odd, monkeypatch))


def test_a_slightly_short_plain_wav_reads_what_it_holds_as_ffmpeg_does(monkeypatch):
    samples = _int16(1.0, 16000, 1)
    short = plain_s16(samples, 16000)[: -2 * 80]  # 5 ms short: within the tolerance
    _assert_same_clips(_clips(short), _ffmpeg_clips(short, monkeypatch))
    assert _clips(short)[0].info.num_samples == 16000 - 80


def test_a_truncated_plain_wav_is_an_error_naming_both_lengths(monkeypatch):
    truncated = plain_s16(_int16(1.0, 16000, 1), 16000)[:-16000]
    with pytest.raises(InputError, match="x.wav is truncated: its data chunk declares 32000 bytes \\(1.000 s\\)"):
        _clips(truncated)
    with pytest.raises(InputError, match="x.wav is truncated: its data chunk declares 32000 bytes"):
        _ffmpeg_clips(truncated, monkeypatch)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(extensible_wav(np.zeros((100, 2), np.int32), 16000, valid_bits=32), id="extensible-s32"),
        pytest.param(
            extensible_wav(np.zeros((100, 2), np.int32), 16000, valid_bits=32, guid=FLOAT_GUID), id="extensible-float"
        ),
        pytest.param(audio_bytes(tone(0.1), 16000), id="plain-s16"),
        pytest.param(audio_bytes(tone(0.1), 16000, subtype="FLOAT"), id="plain-float"),
    ],
)
def test_extensible_and_plain_layouts_are_read_directly_and_not_as_padded(data):
    layout = pcm_wav_format(io.BytesIO(data))
    assert layout is not None and not layout.padded


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(audio_bytes(tone(0.1), 16000, subtype="PCM_24"), id="24-bit-packed"),
        pytest.param(audio_bytes(tone(0.1), 16000, subtype="ULAW"), id="u-law"),
        pytest.param(audio_bytes(tone(0.1), 16000, subtype="DOUBLE"), id="float64"),
        pytest.param(audio_bytes(tone(0.1), 16000, format="RF64", subtype="PCM_16"), id="rf64"),
        pytest.param(plain_s16(_int16(0.1, 16000, 1), 16000, data_size=0), id="unknown-size-0"),
        pytest.param(plain_s16(_int16(0.1, 16000, 1), 16000, data_size=0xFFFFFFFF), id="unknown-size-max"),
        pytest.param(
            plain_s16(_int16(0.1, 16000, 1), 16000, before_data=b"fmt " + struct.pack("<I", 16) + bytes(16)),
            id="second-fmt",
        ),
        pytest.param(
            riff_wave(struct.pack("<HHIIHH", 1, 2, 16000, 64000, 2, 16), bytes(400)), id="block-align-mismatch"
        ),
        pytest.param(riff_wave(struct.pack("<HHIIHH", 1, 0, 16000, 0, 0, 16), bytes(400)), id="no-channels"),
        pytest.param(riff_wave(struct.pack("<HHIIHH", 1, 513, 16000, 0, 1026, 16), bytes(4104)), id="513-channels"),
        pytest.param(audio_bytes(tone(0.1), 16000, format="FLAC"), id="flac"),
    ],
)
def test_every_other_file_is_left_to_ffmpeg(data):
    assert pcm_wav_format(io.BytesIO(data)) is None


def test_a_truncated_padded_file_is_an_error_naming_both_lengths():
    padded = extensible_wav(np.zeros((16000, 1), np.int32), 16000)
    with pytest.raises(InputError, match="x.wav is truncated: its data chunk declares 64000 bytes \\(1.000 s\\)"):
        _clips(padded[: len(padded) - 32000])


def _rifx_s16(samples: np.ndarray, rate: int) -> bytes:
    """A big-endian RIFX WAVE file of `int16 [R, C]` PCM: sizes, fmt fields and samples big-endian."""
    frames, channels = samples.shape
    fmt = struct.pack(">HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    return riff_wave(fmt, samples.astype(">i2").tobytes(), order=">")


def test_a_big_endian_rifx_wav_decodes_to_the_samples_of_the_same_audio_in_riff():
    samples = _int16(1.5, 16000, 2)
    rifx = _rifx_s16(samples, 16000)
    assert pcm_wav_format(io.BytesIO(rifx)).byte_order == ">"
    (clip,) = _clips(rifx)
    (reference,) = _clips(plain_s16(samples, 16000))
    np.testing.assert_array_equal(clip.waveform, reference.waveform)


def test_a_rifx_wav_of_another_layout_is_refused_naming_rifx():
    rifx = bytearray(_rifx_s16(_int16(0.1, 16000, 1), 16000))
    rifx[20:22] = struct.pack(">H", 7)  # mu-law: left to FFmpeg, which would decode it byte-swapped
    with pytest.raises(
        InputError, match=r"x.wav as audio: a big-endian \(RIFX\) WAV of a layout the job does not read"
    ):
        _clips(bytes(rifx))


def test_an_extensible_wav_ffmpeg_has_no_decoder_for_is_an_error_naming_it():
    odd = extensible_wav(np.zeros((100, 1), np.int32), 16000, valid_bits=40)
    assert pcm_wav_format(io.BytesIO(odd)) is None
    with pytest.raises(InputError, match=r"x.wav as audio: FFmpeg has no decoder for its audio"):
        _clips(odd)
