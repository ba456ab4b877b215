"""Tests for inputs/sources/audio_files.py."""

from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.sources.audio_files import audio_file_inputs


def test_one_streamed_input_per_file():
    assert list(audio_file_inputs("gs://b/a.flac")) == [EncodedAudio("gs://b/a.flac", "gs://b/a.flac", None)]
