"""The record index: one Parquet row per record, to query clips, lengths and labels without the embeddings.

Columns, in order: the `INDEX_FIELDS` (`outputs.schema.FIELDS` in the index: what the record
holds apart from its embedding, plus `record_file`, the file it is in, and `metadata`, its JSON text), then one column per metadata
field that is a scalar in every record holding it (`MetadataColumns`): bool, int64, float64 or
string (a field whose records disagree in type is a string column of their JSON). A metadata
field named like an index field gets the column `metadata.<name>`; list and object fields
live only in `metadata`.
"""

import io
import json

import apache_beam as beam
import pyarrow
import pyarrow.parquet

from gemma4_audio_embed.outputs.atomic import write_atomically
from gemma4_audio_embed.outputs.schema import RUN_ID_METADATA
from gemma4_audio_embed.outputs.schema import index_schema

INDEX_FIELDS = index_schema()  # the index's leading columns, from outputs.schema.FIELDS
_SCALAR_TYPES = {bool: "bool", int: "int", float: "float", str: "string"}
_ARROW_TYPES = {"bool": pyarrow.bool_(), "int": pyarrow.int64(), "float": pyarrow.float64(), "string": pyarrow.string()}


def metadata_column(name: str) -> str:
    """The index column of metadata field `name`: `metadata.<name>` for a name of an index field or
    one that starts `metadata.` itself (so `key` and `metadata.key` get two columns), else `name`."""
    return f"metadata.{name}" if name in INDEX_FIELDS.names or name.startswith("metadata.") else name


def _kind(value) -> str:
    """A metadata value's column kind; an int beyond int64 is kept as its JSON text."""
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return "json"
    return _SCALAR_TYPES.get(type(value), "nested")


class MetadataColumns(beam.CombineFn):
    """Combines index rows into `{metadata field: column type}` over the scalar fields.

    A field seen as a list or object anywhere gets no column; ints and floats together are
    float; any other mix is string. Nulls do not count.
    """

    def create_accumulator(self):
        return {}

    def add_input(self, accumulator, row):
        for name, value in json.loads(row["metadata"]).items():
            if value is not None:
                accumulator.setdefault(name, set()).add(_kind(value))
        return accumulator

    def merge_accumulators(self, accumulators):
        merged = {}
        for accumulator in accumulators:
            for name, kinds in accumulator.items():
                merged.setdefault(name, set()).update(kinds)
        return merged

    def extract_output(self, accumulator):
        columns = {}
        for name, kinds in sorted(accumulator.items()):
            if "nested" in kinds:
                continue
            columns[name] = "float" if kinds == {"int", "float"} else next(iter(kinds)) if len(kinds) == 1 else "json"
        return columns


def index_table(rows: list, columns: dict) -> pyarrow.Table:
    """The index rows as a table: the `INDEX_FIELDS`, then `columns` (`MetadataColumns`) in order."""
    fields = list(INDEX_FIELDS) + [
        pyarrow.field(metadata_column(name), _ARROW_TYPES.get(kind, pyarrow.string())) for name, kind in columns.items()
    ]
    data = {name: [row[name] for row in rows] for name in INDEX_FIELDS.names}
    metadata = [json.loads(row["metadata"]) for row in rows]
    for name, kind in columns.items():
        values = [fields.get(name) for fields in metadata]
        if kind == "json":
            values = [None if value is None else json.dumps(value, ensure_ascii=False) for value in values]
        elif kind == "float":
            values = [None if value is None else float(value) for value in values]
        data[metadata_column(name)] = values
    return pyarrow.table(data, schema=pyarrow.schema(fields))


def write_index_file(path: str, rows: list, columns: dict, run_id: str | None = None) -> None:
    """Writes `index_table(rows, columns)` as one Parquet file at `path` (local or any FileSystems URI), atomically.

    With `run_id`, the file's key-value metadata `RUN_ID_METADATA` names the run that wrote it
    (`--skip_existing` index files: a reader tells a dead letter of an earlier run, for an input
    a later run embedded, from one of the run that wrote the input; `schema.index_run_id`).
    """
    table = index_table(rows, columns)
    if run_id is not None:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), RUN_ID_METADATA: run_id.encode()})
    buffer = io.BytesIO()
    pyarrow.parquet.write_table(table, buffer)
    write_atomically(path, buffer.getvalue())
