"""Tests for inputs/keys.py and audio/clips.py: clip keys and what a key says of its input file."""

import os

import pytest

from gemma4_audio_embed.audio.clips import ClipInfo
from gemma4_audio_embed.inputs.keys import clip_key
from gemma4_audio_embed.inputs.keys import has_undecodable_bytes
from gemma4_audio_embed.inputs.keys import input_file
from gemma4_audio_embed.inputs.keys import key_part
from gemma4_audio_embed.inputs.keys import undecodable_escaped


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


def test_a_name_that_is_not_utf8_is_percent_encoded_in_its_key_and_comes_back_as_bytes():
    path = os.fsdecode(b"/d/caf\xe9 #1.wav")  # Latin-1 bytes: 0xE9 does not decode as UTF-8
    key = key_part(path)
    assert key == "/d/caf%E9 %231.wav" and key.encode("utf-8")  # valid UTF-8, so Beam and JSON take it
    assert has_undecodable_bytes(key) and not has_undecodable_bytes(key_part("/d/100%E9.wav"))  # a literal "%E9"
    assert os.fsencode(input_file(key + "@0")) == b"/d/caf\xe9 #1.wav"
    assert undecodable_escaped("/d/café.wav") == "/d/café.wav"  # valid UTF-8 stays as it is
