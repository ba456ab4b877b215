"""Tests for audio/padded_pcm.py: a WAVE_FORMAT_EXTENSIBLE file of 24-bit PCM in 32-bit containers."""

import io
import struct

import numpy as np
import pytest
from synthetic_audio import audio_bytes
from synthetic_audio import tone

from gemma4_audio_embed.audio.declared_length import padded_pcm_format
from gemma4_audio_embed.audio.decode import decoded_clips
from gemma4_audio_embed.audio.span import InputError
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio

PCM_GUID = struct.pack("<IHH8s", 1, 0, 0x10, bytes.fromhex("800000aa00389b71"))


def extensible_wav(samples_24: np.ndarray, rate: int, valid_bits: int = 24, guid: bytes = PCM_GUID) -> bytes:
    """A WAVE_FORMAT_EXTENSIBLE file of `int32 [R, C]` 24-bit values, each in the top of a 32-bit container."""
    frames, channels = samples_24.shape
    data = (samples_24.astype("<i4") << 8).tobytes()
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * 4 * channels, 4 * channels, 32, 22, valid_bits, 3)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt + guid)) + fmt + guid
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _clips(data, **span):
    return list(decoded_clips(EncodedAudio("x.wav", "x.wav", None, **span), io.BytesIO(data), 30.0))


def test_24_in_32_decodes_to_the_level_of_a_24_bit_read():
    stereo = np.round(tone(1.0, 16000, channels=2) * (2**23 - 1)).astype(np.int32)  # 24-bit values
    padded = extensible_wav(stereo, 16000)
    assert padded_pcm_format(io.BytesIO(padded)).valid_bits == 24
    (clip,) = _clips(padded)
    (reference,) = _clips(audio_bytes(stereo / 2**23, 16000, subtype="PCM_24"))  # the same audio, 24-bit PCM
    assert np.isfinite(clip.waveform).all()
    np.testing.assert_array_equal(clip.waveform, reference.waveform)
    (span,) = _clips(padded, offset_seconds=0.25, duration_seconds=0.5)
    np.testing.assert_array_equal(span.waveform, reference.waveform[4000:12000])


def test_other_extensible_layouts_are_left_to_ffmpeg():
    stereo = np.zeros((100, 2), np.int32)
    assert padded_pcm_format(io.BytesIO(extensible_wav(stereo, 16000, valid_bits=32))) is None  # plain s32
    assert padded_pcm_format(io.BytesIO(extensible_wav(stereo, 16000, guid=b"\x03" + PCM_GUID[1:]))) is None  # float
    assert padded_pcm_format(io.BytesIO(audio_bytes(tone(0.1), 16000))) is None


def test_a_truncated_padded_file_is_an_error_naming_both_lengths():
    padded = extensible_wav(np.zeros((16000, 1), np.int32), 16000)
    with pytest.raises(InputError, match="x.wav is truncated: its data chunk declares 64000 bytes \\(1.000 s\\)"):
        _clips(padded[: len(padded) - 32000])
