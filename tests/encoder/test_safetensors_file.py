"""Tests for encoder/safetensors_file.py's header reader: a file that is no safetensors is a ValueError."""

import io
import struct

import pytest

from gemma4_audio_embed.encoder.safetensors_file import _read_header


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "fewer than the 8-byte header length"),
        (b"\x01\x02", "fewer than the 8-byte header length"),
        (struct.pack("<Q", 10**15), "header length field is over 100000000 bytes"),
        (struct.pack("<Q", 100) + b"{}", "Truncated safetensors header: 2 of 100 bytes"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object but a list"),
        (struct.pack("<Q", 5) + b"{nope", "not JSON"),
    ],
    ids=["empty", "short", "absurd_length", "truncated", "list", "not_json"],
)
def test_a_file_that_is_no_safetensors_raises_value_error(data, message):
    with pytest.raises(ValueError, match=message):
        _read_header(io.BytesIO(data))


def test_a_header_gives_its_data_offset_and_entries_without_metadata():
    header = b'{"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'
    offset, entries = _read_header(io.BytesIO(struct.pack("<Q", len(header)) + header))
    assert offset == 8 + len(header) and list(entries) == ["w"]
