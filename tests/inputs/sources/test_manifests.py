"""Tests for inputs/sources/manifests.py: fields, path resolution, spans and bad lines."""

import io

import pytest

from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.keys import UniqueKeys
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
