"""Tests for inputs/keys.py and audio/clips.py: clip keys and what a key says of its input file."""

import pytest

from gemma4_audio_embed.audio.clips import ClipInfo
from gemma4_audio_embed.inputs.keys import clip_key
from gemma4_audio_embed.inputs.keys import input_file


def test_clip_key_and_duration():
    info = ClipInfo(
        key=clip_key("s.tar#a.wav", 3),
        input_key="s.tar#a.wav",
        source="s.tar",
        segment_index=3,
        start_seconds=90.0,
        num_samples=8000,
    )
    assert info.key == "s.tar#a.wav@3"
    assert info.duration_seconds == 0.5  # 8000 / 16000


@pytest.mark.parametrize(
    "key, uri",
    [
        ("/d/a.wav@0", "/d/a.wav"),
        ("gs://b/s.tar#spk%231.wav@2", "gs://b/s.tar"),
        ("/d/a.wav%400@0", "/d/a.wav@0"),  # a file named `a.wav@0`
        ("/d/100%25.tar#x.wav", "/d/100%.tar"),
        ("/d/m.jsonl#u#3@0", "/d/m.jsonl"),
    ],
)
def test_input_file_is_the_unescaped_first_part_of_a_key(key, uri):
    assert input_file(key) == uri
