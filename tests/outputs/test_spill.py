"""Tests for outputs/spill.py: records spilled as they come, read back in any order, locally and from gs://."""

import pytest

from gemma4_audio_embed.outputs import spill
from gemma4_audio_embed.outputs.spill import SpillRecords
from gemma4_audio_embed.outputs.spill import spilled_records

RECORDS = [bytes([index]) * (10 + index) for index in range(7)]  # 10 to 16 bytes, each its own byte


def _spill(folder: str, records) -> list:
    """One bundle of `SpillRecords`: the pieces it passes on."""
    step = SpillRecords(folder)
    step.start_bundle()
    pieces = [piece for index, record in enumerate(records) for piece in step.process(({"key": f"k{index}"}, record))]
    step.finish_bundle()
    return pieces


def test_pieces_say_where_each_record_is_and_read_back_in_any_order(tmp_path):
    pieces = _spill(str(tmp_path / "spill"), RECORDS)
    assert [piece.row["key"] for piece in pieces] == [f"k{index}" for index in range(7)]
    assert [(piece.offset, piece.length) for piece in pieces[:3]] == [(0, 10), (10, 11), (21, 12)]
    assert len({piece.spill_file for piece in pieces}) == 1
    order = [6, 0, 3, 1, 5, 2, 4]
    assert list(spilled_records([pieces[index] for index in order])) == [RECORDS[index] for index in order]


def test_a_bundle_starts_a_new_spill_file_past_the_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(spill, "SPILL_FILE_BYTES", 30)  # 10 + 11 + 12 = 33 bytes: the 4th record starts file 2
    pieces = _spill(str(tmp_path / "spill"), RECORDS)
    files = [piece.spill_file for piece in pieces]
    assert files[:3] == [files[0]] * 3 and files[3] != files[0] and pieces[3].offset == 0
    assert len(set(files)) == 3  # 13 + 14 + 15 = 42 bytes in file 2, then 16 in file 3
    assert list(spilled_records(pieces[::-1])) == RECORDS[::-1]


def test_a_spill_file_shorter_than_a_piece_says_so(tmp_path):
    pieces = _spill(str(tmp_path / "spill"), RECORDS[:2])
    with open(pieces[0].spill_file, "r+b") as f:
        f.truncate(15)
    with pytest.raises(OSError, match="ends before byte 21 of a spilled record"):
        list(spilled_records(pieces))


def test_remote_spill_files_are_read_back_in_any_order(gcs_bucket):
    pieces = _spill(f"{gcs_bucket}/out/emb.temp-r/spill", RECORDS)
    order = [3, 6, 0, 5, 1, 4, 2]
    assert list(spilled_records([pieces[index] for index in order])) == [RECORDS[index] for index in order]
