"""Tests for audio/declared_length.py: the data chunk a WAV or AIFF header declares."""

import io

import pytest
from synthetic_audio import audio_bytes
from synthetic_audio import ffmpeg_encoded
from synthetic_audio import tone

from gemma4_audio_embed.audio.declared_length import DataChunk
from gemma4_audio_embed.audio.declared_length import declared_data_chunk
from gemma4_audio_embed.audio.declared_length import is_wave


def test_a_pcm_wav_declares_its_data_chunk_after_the_44_byte_header():
    stream = io.BytesIO(audio_bytes(tone(1.0), 16000))  # 16000 samples x 2 bytes
    assert declared_data_chunk(stream) == DataChunk(offset=44, size=32000, held=32000)
    assert stream.tell() == 0


def test_an_aiff_declares_its_sound_data_after_the_ssnd_offset_fields():
    data = ffmpeg_encoded(tone(1.0), 16000, "aiff", "pcm_s16be")
    chunk = declared_data_chunk(io.BytesIO(data))
    assert (chunk.size, chunk.held) == (32000, 32000)
    assert chunk.offset == len(data) - 32000  # the samples end the file


def test_held_counts_the_bytes_a_cut_file_still_has():
    data = audio_bytes(tone(1.0), 16000)[:1044]
    assert declared_data_chunk(io.BytesIO(data)) == DataChunk(offset=44, size=32000, held=1000)


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_sizes_a_streaming_recorder_leaves_declare_nothing(size):
    data = bytearray(audio_bytes(tone(1.0), 16000))
    data[40:44] = size.to_bytes(4, "little")
    assert declared_data_chunk(io.BytesIO(bytes(data))) is None


@pytest.mark.parametrize(
    "data",
    [b"", b"RIFF", audio_bytes(tone(1.0), 16000, format="FLAC"), b"not audio at all, just text"],
    ids=["empty", "short", "flac", "text"],
)
def test_other_files_declare_nothing(data):
    assert declared_data_chunk(io.BytesIO(data)) is None


def test_an_rf64_wav_declares_nothing_here_but_is_a_wave():
    data = ffmpeg_encoded(tone(1.0), 16000, "wav", "pcm_s16le", {"rf64": "always"})
    assert is_wave(data[:12]) and declared_data_chunk(io.BytesIO(data)) is None
