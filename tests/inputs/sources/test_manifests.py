"""Tests for inputs/sources/manifests.py: fields, path resolution, spans and bad lines."""

import io
import json

import pytest

from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.keys import UniqueKeys
from gemma4_audio_embed.inputs.limits import ReadLimits
from gemma4_audio_embed.inputs.sources import BadInput
from gemma4_audio_embed.inputs.sources.manifests import manifest_inputs


def _inputs(text):
    return list(manifest_inputs(io.BytesIO(text.encode()), "gs://b/lists/m.jsonl"))


def test_reads_paths_spans_and_ids():
    items = _inputs(
        '{"audio_filepath": "a.wav", "offset": 1.5, "duration": 2.0, "id": "utt1"}\n'
        "\n"
        '{"path": "/data/b.flac"}\n'
        '{"path": "gs://other/c.mp3", "duration": 3}\n'
    )
    assert items == [
        EncodedAudio("gs://b/lists/m.jsonl#utt1", "gs://b/lists/a.wav", None, 1.5, 2.0, metadata={"id": "utt1"}),
        EncodedAudio("gs://b/lists/m.jsonl#3", "/data/b.flac", None, 0.0, None),
        EncodedAudio("gs://b/lists/m.jsonl#4", "gs://other/c.mp3", None, 0.0, 3.0),
    ]


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "Line 1: "),
        ('["a.wav"]', "Expected a JSON object"),
        ('{"file": "a.wav"}', "`audio_filepath` or `path`"),
        ('{"path": "a.wav", "offset": -1}', "offset >= 0"),
        ('{"path": "a.wav", "duration": 0}', "duration > 0"),
        (
            '{"path": "a.wav", "duration": "long"}',
            "Expected `duration` to be a finite number of seconds. Received: duration='long'",
        ),
        ('{"path": "a.wav", "offset": NaN}', "Received: offset=nan"),
        ('{"path": "a.wav", "duration": Infinity}', "Received: duration=inf"),
        ('{"path": "a.wav", "offset": true}', "Received: offset=True"),
    ],
)
def test_bad_lines_are_bad_inputs(line, message):
    (item,) = _inputs(line + "\n")
    assert isinstance(item, BadInput) and item.key == "gs://b/lists/m.jsonl#1"
    assert message in str(item.error)


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_line():
    items = _inputs('\ufeff{"path": "a.wav", "id": "first"}\n{"path": "b.wav", "id": "second"}\n')
    assert [item.key for item in items] == ["gs://b/lists/m.jsonl#first", "gs://b/lists/m.jsonl#second"]


def test_a_json_array_of_objects_is_one_entry_per_item():
    items = _inputs('[\n  {"path": "a.wav", "id": "x"},\n  {"path": "b.wav"},\n  "c.wav"\n]\n')
    assert items[:2] == [
        EncodedAudio("gs://b/lists/m.jsonl#x", "gs://b/lists/a.wav", None, metadata={"id": "x"}),
        EncodedAudio("gs://b/lists/m.jsonl#2", "gs://b/lists/b.wav", None),  # item number, from 1
    ]
    assert isinstance(items[2], BadInput) and str(items[2].error).startswith("Item 3: Expected a JSON object")
    assert len(items) == 3


def test_a_broken_json_array_makes_the_file_unreadable():
    with pytest.raises(ValueError):
        _inputs('[{"path": "a.wav"},\n')


def test_repeated_ids_get_distinct_keys_with_their_line_number():
    keys = UniqueKeys("m.jsonl")
    text = '{"path": "a.wav", "id": "u"}\n{"path": "b.wav", "id": "u"}\n{"path": "c.wav", "id": 3}\n{"path": "d.wav"}\n'
    items = list(manifest_inputs(io.BytesIO(text.encode()), "m.jsonl", keys))
    assert [item.key for item in items] == ["m.jsonl#u", "m.jsonl#u#2", "m.jsonl#3", "m.jsonl#4"]
    assert keys.repeats == 1


def test_a_json_array_after_blank_lines_is_still_an_array():
    items = _inputs('\n\n  \n[\n  {"path": "a.wav"},\n  {"path": "b.wav"}\n]\n')
    assert [item.key for item in items] == ["gs://b/lists/m.jsonl#1", "gs://b/lists/m.jsonl#2"]


def test_a_deep_or_overlong_line_is_its_own_bad_input_and_the_lines_after_it_are_read():
    limits = ReadLimits(max_manifest_line_bytes=200, max_json_depth=8)
    text = (
        '{"path": "a.wav", "meta": '
        + "[" * 9
        + "]" * 9
        + "}\n"  # 9 deep inside the object: 10 in all
        + '{"path": "b.wav", "text": "'
        + "x" * 300
        + '"}\n'
        + '{"path": "c.wav", "meta": '
        + "[" * 7
        + "]" * 7
        + "}\n"  # 8 deep: at the cap
    )
    items = list(manifest_inputs(io.BytesIO(text.encode()), "m.jsonl", limits=limits))
    assert [type(item).__name__ for item in items] == ["BadInput", "BadInput", "EncodedAudio"]
    assert str(items[0].error) == "Line 1: its JSON nests 10 deep, over the cap of 8 (--max_json_depth)."
    assert "Line 2: it is over 200 bytes (--max_manifest_line_bytes)" in str(items[1].error)
    assert items[2].source.endswith("/c.wav")


def test_a_json_array_is_streamed_item_by_item_and_a_deep_item_is_its_own_bad_input():
    limits = ReadLimits(max_manifest_line_bytes=64, max_json_depth=3)
    items = [{"path": f"{index}.wav"} for index in range(500)]  # 10 KB in all, far over 64 bytes
    text = json.dumps([*items[:2], {"path": "deep.wav", "m": [[[1]]]}, *items[2:]])
    found = list(manifest_inputs(io.BytesIO(text.encode()), "m.json", limits=limits))
    assert len(found) == 501 and [item.source.rsplit("/", 1)[1] for item in found[:2]] == ["0.wav", "1.wav"]
    assert str(found[2].error) == "Item 3: its JSON nests 4 deep, over the cap of 3 (--max_json_depth)."
    long_item = b'[{"path": "a.wav"}, {"path": "' + b"x" * 100 + b'"}, {"path": "b.wav"}]'
    first, long, last = manifest_inputs(io.BytesIO(long_item), "m.json", limits=limits)
    assert str(long.error) == "Item 2: it is over 64 bytes (--max_manifest_line_bytes)." and last.source.endswith(
        "b.wav"
    )
    unending = b'[{"path": "a.wav"}, {"path": "' + b"x" * 100000
    with pytest.raises(ValueError, match="item 2 of its JSON array is over 64 bytes"):
        list(manifest_inputs(io.BytesIO(unending), "m.json", limits=limits))
