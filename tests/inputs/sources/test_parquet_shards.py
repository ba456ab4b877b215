"""Tests for inputs/sources/parquet_shards.py: HF `datasets` audio layouts, paths and ids."""

import numpy as np
import pyarrow
import pyarrow.parquet
import pytest
from synthetic_audio import write_parquet

from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.keys import UniqueKeys
from gemma4_audio_embed.inputs.sources import BadInput
from gemma4_audio_embed.inputs.sources.parquet_shards import parquet_shard_inputs


def test_reads_bytes_paths_and_ids(tmp_path):
    path = write_parquet(
        tmp_path / "s.parquet",
        [
            {"audio": {"bytes": b"A", "path": "a.wav"}, "id": "first"},
            {"audio": {"bytes": None, "path": "sub/b.flac"}},
            {"audio": {"bytes": None, "path": "gs://b/c.mp3"}, "id": "third"},
            {"audio": None},
        ],
    )
    with open(path, "rb") as stream:
        items = list(parquet_shard_inputs(stream, str(path), "audio", "id"))
    assert items[:3] == [
        EncodedAudio(f"{path}#first", str(path), b"A", metadata={"id": "first"}),
        EncodedAudio(f"{path}#1", f"{tmp_path}/sub/b.flac", None, metadata={"id": None}),
        EncodedAudio(f"{path}#third", "gs://b/c.mp3", None, metadata={"id": "third"}),
    ]
    assert isinstance(items[3], BadInput) and items[3].key == f"{path}#3"


def test_missing_audio_column_raises(tmp_path):
    path = write_parquet(tmp_path / "s.parquet", [{"audio": {"bytes": b"A", "path": None}}])
    with open(path, "rb") as stream, pytest.raises(ValueError, match="no column 'speech'"):
        list(parquet_shard_inputs(stream, str(path), "speech", "id"))


def _read(path, **kwargs):
    with open(path, "rb") as stream:
        return list(parquet_shard_inputs(stream, str(path), "audio", "id", **kwargs))


def _write(path, columns):
    pyarrow.parquet.write_table(pyarrow.table(columns), path)
    return path


def test_decoded_array_and_sampling_rate_struct_is_read_and_wins_over_a_path(tmp_path):
    audio_type = pyarrow.struct(
        [("array", pyarrow.list_(pyarrow.float32())), ("sampling_rate", pyarrow.int64()), ("path", pyarrow.string())]
    )
    rows = [
        {"array": [0.5, -0.25, 0.125], "sampling_rate": 8000, "path": "does/not/exist.wav"},
        {"array": None, "sampling_rate": None, "path": "b.wav"},
        {"array": [0.1], "sampling_rate": None, "path": None},
    ]
    path = _write(tmp_path / "s.parquet", {"audio": pyarrow.array(rows, type=audio_type)})
    first, second, third = _read(path)
    assert (first.key, first.data, first.sample_rate) == (f"{path}#0", None, 8000)
    np.testing.assert_array_equal(first.samples, np.array([0.5, -0.25, 0.125], np.float32))
    assert second == EncodedAudio(f"{path}#1", f"{tmp_path}/b.wav", None)
    assert isinstance(
        third, BadInput
    ) and "Row 2: It has an audio array but no positive integer `sampling_rate`" in str(third.error)


def test_a_decoded_array_of_channels_becomes_samples_by_channels(tmp_path):
    audio_type = pyarrow.struct(
        [("array", pyarrow.list_(pyarrow.list_(pyarrow.float64()))), ("sampling_rate", pyarrow.int32())]
    )
    rows = [{"array": [[0.5, 0.25], [-0.5, 0.75]], "sampling_rate": 16000}]  # [C=2, R=2], as `datasets` keeps channels
    (item,) = _read(_write(tmp_path / "s.parquet", {"audio": pyarrow.array(rows, type=audio_type)}))
    np.testing.assert_array_equal(item.samples, np.array([[0.5, -0.5], [0.25, 0.75]], np.float32))  # [R, C]


@pytest.mark.parametrize("binary_type", [pyarrow.binary(), pyarrow.large_binary()], ids=["binary", "large_binary"])
def test_a_plain_binary_column_holds_encoded_files(tmp_path, binary_type):
    path = _write(tmp_path / "s.parquet", {"audio": pyarrow.array([b"RIFF", None], type=binary_type)})
    first, second = _read(path)
    assert first == EncodedAudio(f"{path}#0", str(path), b"RIFF")
    assert isinstance(second, BadInput) and "Row 1 has no audio bytes, array or path: null" in str(second.error)


def test_large_types_inside_the_struct_and_a_string_column_of_paths(tmp_path):
    audio_type = pyarrow.struct([("bytes", pyarrow.large_binary()), ("path", pyarrow.large_string())])
    path = _write(
        tmp_path / "s.parquet",
        {
            "audio": pyarrow.array([{"bytes": b"A", "path": None}, {"bytes": None, "path": "x.flac"}], type=audio_type),
            "clip": pyarrow.array(["c.wav", "gs://b/d.wav"], type=pyarrow.large_string()),
        },
    )
    assert _read(path) == [
        EncodedAudio(f"{path}#0", str(path), b"A", metadata={"clip": "c.wav"}),
        EncodedAudio(f"{path}#1", f"{tmp_path}/x.flac", None, metadata={"clip": "gs://b/d.wav"}),
    ]
    with open(path, "rb") as stream:
        paths = [item.source for item in parquet_shard_inputs(stream, str(path), "clip", "id")]
    assert paths == [f"{tmp_path}/c.wav", "gs://b/d.wav"]


def test_repeated_and_special_ids_get_distinct_keys(tmp_path):
    keys = UniqueKeys(str(tmp_path / "s.parquet"))
    path = write_parquet(
        tmp_path / "s.parquet",
        [{"audio": {"bytes": b"A", "path": None}, "id": name} for name in ("dup", "dup", "spk#1", "take@2", None)],
    )
    assert [item.key for item in _read(path, keys=keys)] == [
        f"{path}#dup",
        f"{path}#dup#1",  # row 1
        f"{path}#spk%231",  # separators in ids are escaped (key_part)
        f"{path}#take%402",
        f"{path}#4",  # a null id: the row index
    ]
    assert keys.repeats == 1


def test_integer_arrays_are_pcm_scaled_to_floats(tmp_path):
    audio_type = pyarrow.struct([("array", pyarrow.list_(pyarrow.int16())), ("sampling_rate", pyarrow.int64())])
    rows = [{"array": [16384, -32768], "sampling_rate": 16000}]
    (item,) = _read(_write(tmp_path / "s.parquet", {"audio": pyarrow.array(rows, type=audio_type)}))
    np.testing.assert_array_equal(item.samples, np.array([0.5, -1.0], np.float32))


def test_a_row_of_the_wrong_types_is_a_bad_input_and_the_rest_are_read(tmp_path):
    audio_type = pyarrow.struct([("array", pyarrow.list_(pyarrow.float32())), ("sampling_rate", pyarrow.string())])
    rows = [{"array": [0.1], "sampling_rate": "16000"}, {"array": [0.1], "sampling_rate": None}]
    path = _write(tmp_path / "s.parquet", {"audio": pyarrow.array(rows, type=audio_type)})
    first, second = _read(path)
    assert isinstance(
        first, BadInput
    ) and "Row 0: It has an audio array but no positive integer `sampling_rate`: '16000'" in str(first.error)
    assert isinstance(second, BadInput) and second.key == f"{path}#1"


def test_a_dictionary_encoded_column_of_paths_is_read(tmp_path):
    paths = pyarrow.array(["a.wav", "a.wav", "b.wav"]).dictionary_encode()
    path = _write(tmp_path / "s.parquet", {"audio": paths, "id": pyarrow.array([b"k1", b"k2", b"k3"])})
    assert [(item.key, item.source) for item in _read(path)] == [
        (f"{path}#k1", f"{tmp_path}/a.wav"),  # a binary id reads as UTF-8
        (f"{path}#k2", f"{tmp_path}/a.wav"),
        (f"{path}#k3", f"{tmp_path}/b.wav"),
    ]


def test_a_cell_over_the_cap_is_a_bad_input_and_an_oversized_row_group_is_not_read(tmp_path):
    table = pyarrow.table(
        {
            "audio": pyarrow.array([b"a" * 10, b"b" * 500, b"c" * 10, b"d" * 10], pyarrow.binary()),
            "id": pyarrow.array(["u0", "u1", "u2", "u3"]),
        }
    )
    one_group, two_groups = tmp_path / "one.parquet", tmp_path / "two.parquet"
    pyarrow.parquet.write_table(table, one_group)  # 530 bytes of audio for 4 rows: the group is read
    with open(one_group, "rb") as stream:
        items = list(parquet_shard_inputs(stream, str(one_group), "audio", "id", max_cell_bytes=300))
    assert [item.key.rsplit("#", 1)[1] for item in items] == ["u0", "u1", "u2", "u3"]
    assert items[0].data == b"a" * 10 and items[2].data == b"c" * 10
    assert str(items[1].error) == "Row 1: its audio cell holds 500 bytes, over the cap of 300 (--max_cell_bytes)."
    pyarrow.parquet.write_table(table, two_groups, row_group_size=2)  # [u0, u1]: over 2 x 200 bytes; [u2, u3]: 20
    with open(two_groups, "rb") as stream:
        items = list(parquet_shard_inputs(stream, str(two_groups), "audio", "id", max_cell_bytes=200))
    assert [type(item).__name__ for item in items] == ["BadInput", "BadInput", "EncodedAudio", "EncodedAudio"]
    assert [item.key.rsplit("#", 1)[1] for item in items] == ["u0", "u1", "u2", "u3"]
    assert str(items[0].error).startswith("Row 0: Row group 0's audio column decompresses to")
    assert "over the cap of 200 bytes per cell (--max_cell_bytes); it is not read." in str(items[1].error)
