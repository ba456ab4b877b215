"""Tests for inputs/limits.py: JSON depth counted before parsing, bounded lines, capped decompression."""

import io

import pytest

from gemma4_audio_embed.inputs.limits import CappedStream
from gemma4_audio_embed.inputs.limits import ReadLimits
from gemma4_audio_embed.inputs.limits import bounded_json
from gemma4_audio_embed.inputs.limits import bounded_lines
from gemma4_audio_embed.inputs.limits import json_depth


@pytest.mark.parametrize(
    "text, depth",
    [
        (b'"x"', 0),
        (b'{"a": 1}', 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"a": "[[[[{{{"}', 1),  # brackets inside strings do not nest
        (b'{"a": "\\"[[["}', 1),  # nor after an escaped quote
        (b"[" * 100000 + b"]" * 100000, 100000),
        (b"[[1], [2], [3]]", 2),  # siblings do not add up
    ],
)
def test_json_depth_table(text, depth):
    assert json_depth(text) == depth


def test_bounded_json_names_the_flag_before_json_recursion_can_fail():
    assert bounded_json('{"a": [1]}', 2) == {"a": [1]}
    with pytest.raises(ValueError, match="its JSON nests 100001 deep, over the cap of 64 \\(--max_json_depth\\)"):
        bounded_json("[" * 100001 + "]" * 100001, 64)


def test_a_line_over_the_cap_is_none_and_the_lines_after_it_are_read():
    # 10 bytes allowed; chunks of 4 bytes so that the long line spans several reads.
    text = b"short\n" + b"x" * 25 + b"\nnext\n\nlast"
    assert list(bounded_lines(io.BytesIO(text), 10, chunk_bytes=4)) == [b"short", None, b"next", b"", b"last"]
    assert list(bounded_lines(io.BytesIO(b"x" * 11), 10, chunk_bytes=4)) == [None]
    assert list(bounded_lines(io.BytesIO(b""), 10)) == []


def test_a_capped_stream_raises_past_its_cap_naming_the_flag():
    stream = CappedStream(io.BytesIO(b"a" * 100), 60, "bomb.jsonl.gz")
    assert stream.read(50) == b"a" * 50
    with pytest.raises(ValueError, match="bomb.jsonl.gz decompresses to more than 60 bytes.*--max_decompressed_bytes"):
        stream.read(50)


def test_read_limits_must_be_positive_ints():
    assert ReadLimits().checked().max_json_depth == 64
    with pytest.raises(ValueError, match="`max_cell_bytes` must be a positive int. Received: max_cell_bytes=0"):
        ReadLimits(max_cell_bytes=0).checked()
