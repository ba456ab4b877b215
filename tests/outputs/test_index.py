"""Tests for outputs/index.py: metadata columns of the index, their names and kinds."""

import json

import pytest

from gemma4_audio_embed.outputs.index import INDEX_FIELDS
from gemma4_audio_embed.outputs.index import MetadataColumns
from gemma4_audio_embed.outputs.index import index_table
from gemma4_audio_embed.outputs.index import metadata_column


@pytest.mark.parametrize(
    "name, column",
    [
        ("language", "language"),
        ("key", "metadata.key"),
        ("metadata.key", "metadata.metadata.key"),
        ("metadata", "metadata.metadata"),
    ],
)
def test_metadata_columns_never_take_an_index_field_or_each_other(name, column):
    assert metadata_column(name) == column


def _row(metadata: dict) -> dict:
    row = {name: None for name in INDEX_FIELDS.names}
    return {**row, "key": "k", "metadata": json.dumps(metadata)}


def _columns(*metadata):
    combine = MetadataColumns()
    accumulator = combine.create_accumulator()
    for fields in metadata:
        accumulator = combine.add_input(accumulator, _row(fields))
    return combine.extract_output(accumulator)


def test_an_int_beyond_int64_is_kept_as_its_json_text():
    columns = _columns({"n": 2**63}, {"n": 5})
    assert columns == {"n": "json"}
    table = index_table([_row({"n": 2**63}), _row({"n": 5})], columns)
    assert table.column("n").to_pylist() == ["9223372036854775808", "5"]


def test_a_field_and_its_prefixed_twin_get_two_columns():
    fields = {"key": "K", "metadata.key": "MK"}
    table = index_table([_row(fields)], _columns(fields))
    assert table.column("metadata.key").to_pylist() == ["K"]
    assert table.column("metadata.metadata.key").to_pylist() == ["MK"]
