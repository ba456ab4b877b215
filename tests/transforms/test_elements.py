"""Tests for transforms/elements.py."""

from transforms.elements import ClipInfo
from transforms.elements import clip_key


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
