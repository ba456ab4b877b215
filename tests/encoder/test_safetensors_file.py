"""Tests for encoder/safetensors_file.py: headers, shard names confined, special files refused, extents checked."""

import io
import json
import os
import struct

import pytest

from gemma4_audio_embed.encoder.safetensors_file import INDEX_FILE
from gemma4_audio_embed.encoder.safetensors_file import CheckpointTensors
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


def _write_checkpoint(folder, shard_name="model-00001-of-00001.safetensors", data_offsets=(0, 16), data=b"\0" * 16):
    """A sharded checkpoint of one F32 [4] tensor `t` whose index names `shard_name`."""
    header = json.dumps({"t": {"dtype": "F32", "shape": [4], "data_offsets": list(data_offsets)}}).encode()
    (folder / "real.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + data)
    (folder / INDEX_FILE).write_text(json.dumps({"weight_map": {"t": shard_name}}))
    return CheckpointTensors(str(folder))


@pytest.mark.parametrize("shard", ["../../../../../../etc/passwd", "/etc/passwd", "a/../../x", "~/x", "a\\..\\x"])
def test_an_index_naming_a_shard_outside_the_folder_is_refused_unread(tmp_path, shard):
    with pytest.raises(ValueError, match="its index names a shard .* outside the checkpoint folder; refused") as raised:
        _write_checkpoint(tmp_path, shard)
    assert "root:" not in str(raised.value)  # no byte of /etc/passwd in the message


def test_a_shard_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo.safetensors")
    tensors = _write_checkpoint(tmp_path, "fifo.safetensors")
    with pytest.raises(ValueError, match="fifo.safetensors' is not a regular file \\(a FIFO, device or folder\\)"):
        tensors.shape("t")  # stat before open: a FIFO would block open() until a writer came


@pytest.mark.parametrize(
    "data_offsets, data, message",
    [
        ((0, 16), b"\0" * 16, None),
        ((0, 12), b"\0" * 16, "data_offsets \\[0, 12\\] do not hold its F32 \\[4\\] \\(16 bytes\\)"),
        ((8, 4), b"\0" * 16, "data_offsets \\[8, 4\\] do not hold"),
        ((10**12, 10**12 + 16), b"\0" * 16, "ends at byte [0-9]+, past the end of the file"),
        ((0, 16), b"\0" * 10, "past the end of the file \\([0-9]+ bytes\\): the shard is truncated"),
    ],
    ids=["good", "short", "reversed", "bogus_offset", "truncated"],
)
def test_a_tensors_extent_is_checked_against_its_shape_and_the_file(tmp_path, data_offsets, data, message):
    tensors = _write_checkpoint(tmp_path, "real.safetensors", data_offsets, data)
    if message is None:
        assert tensors.read("t").tolist() == [0.0] * 4
    else:
        with pytest.raises(ValueError, match=message):
            tensors.shape("t")
