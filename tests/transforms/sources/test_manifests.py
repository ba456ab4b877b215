"""Tests for transforms/sources/manifests.py: fields, path resolution, spans and bad lines."""

import io

import pytest

from transforms.elements import EncodedAudio
from transforms.sources import BadInput
from transforms.sources.manifests import manifest_inputs


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
        EncodedAudio("gs://b/lists/m.jsonl#utt1", "gs://b/lists/a.wav", None, 1.5, 2.0),
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
        ('{"path": "a.wav", "duration": "long"}', "Line 1: "),
    ],
)
def test_bad_lines_are_bad_inputs(line, message):
    (item,) = _inputs(line + "\n")
    assert isinstance(item, BadInput) and item.key == "gs://b/lists/m.jsonl#1"
    assert message in str(item.error)
