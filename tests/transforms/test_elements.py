"""Tests for transforms/elements.py."""

import pytest

from transforms.elements import ClipInfo
from transforms.elements import clip_key
from transforms.elements import input_file


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
