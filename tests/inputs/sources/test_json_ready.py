"""Tests for `json_ready` and `metadata_of` in inputs/sources/__init__.py: what metadata values become."""

import datetime
import decimal

import numpy as np
import pytest

from gemma4_audio_embed.inputs.sources import SKIPPED
from gemma4_audio_embed.inputs.sources import json_ready
from gemma4_audio_embed.inputs.sources import metadata_of


@pytest.mark.parametrize(
    "value, expected",
    [
        ("日本語", "日本語"),
        (3, 3),
        (True, True),
        (None, None),
        (0.5, 0.5),
        (float("nan"), None),  # JSON has no NaN
        (float("inf"), None),
        (np.int64(7), 7),
        (np.float32(0.25), 0.25),
        (datetime.date(2024, 5, 1), "2024-05-01"),
        (decimal.Decimal("1.10"), "1.10"),
        ([1, "a", None], [1, "a", None]),
        ({"k": [1.5]}, {"k": [1.5]}),
        (b"\x00", SKIPPED),
        ([b"\x00", 1], SKIPPED),  # binary inside: the whole value is left out
        ({"img": b"\xff"}, SKIPPED),
    ],
)
def test_json_ready(value, expected):
    assert json_ready(value) == expected


def test_metadata_of_leaves_out_binary_fields_and_is_none_when_empty():
    assert metadata_of({"text": "a", "blob": b"\x00"}) == {"text": "a"}
    assert metadata_of({"blob": b"\x00"}) is None
    assert metadata_of({}) is None
