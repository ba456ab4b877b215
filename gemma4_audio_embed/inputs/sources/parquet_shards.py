"""Reader of Parquet shards with an audio column, in the layouts Hugging Face `datasets` writes.

The audio column may be
- a struct of encoded `bytes` and a `path` (`datasets.Audio` with `decode=False`, and as stored),
- a struct of a decoded `array` and its `sampling_rate` (what `datasets` writes after decoding),
  with or without a `path`: the array wins,
- a plain binary column of encoded files, or a string column of paths.
Binary and string fields may be the large (64-bit offset) types.

Every other column is the row's metadata (scalars, lists and structs as their Python values),
except binary ones and nested values holding binary data, which are left out rather than
base64-encoded: such columns are media (a second audio, an image), which would swell every
record past the metadata cap.
"""

from collections.abc import Iterator

import numpy as np
import pyarrow
import pyarrow.parquet

from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.keys import UniqueKeys
from gemma4_audio_embed.inputs.limits import DEFAULT_READ_LIMITS
from gemma4_audio_embed.inputs.samples import float_samples
from gemma4_audio_embed.inputs.sources import BadInput
from gemma4_audio_embed.inputs.sources import metadata_of
from gemma4_audio_embed.inputs.sources import resolved_path

ROWS_PER_BATCH = 64  # rows read at a time, so a shard is never loaded whole


def _decoded_samples(cell: pyarrow.Scalar) -> np.ndarray:
    """A list (mono, `[R]`) or list of lists (`[C, R]`, as `datasets` keeps channels) as `float32 [R, C]` or `[R]`."""
    values = cell.values
    if pyarrow.types.is_list(values.type) or pyarrow.types.is_large_list(values.type):
        channels = [float_samples(channel.values.to_numpy(zero_copy_only=False)) for channel in values]
        if len({channel.shape[0] for channel in channels}) > 1:
            raise ValueError(f"Its channels differ in length: {[channel.shape[0] for channel in channels]}.")
        return np.stack(channels, axis=1)  # [R, C]
    return float_samples(values.to_numpy(zero_copy_only=False))  # [R]


def _cell_bytes(cell: pyarrow.Scalar) -> int:
    """Bytes the audio of a cell takes in Arrow, counted without copying it: encoded bytes, or
    the values of a decoded array."""
    if not cell.is_valid:
        return 0
    if pyarrow.types.is_binary(cell.type) or pyarrow.types.is_large_binary(cell.type):
        return cell.as_buffer().size
    if pyarrow.types.is_list(cell.type) or pyarrow.types.is_large_list(cell.type):
        values = cell.values
        return values.nbytes
    if pyarrow.types.is_struct(cell.type):
        return sum(_cell_bytes(cell[field.name]) for field in cell.type if field.name in ("bytes", "array"))
    return 0


def _row_input(cell: pyarrow.Scalar, key: str, uri: str, row: int, max_cell_bytes: int) -> EncodedAudio | BadInput:
    """The input of one row's audio cell; a cell of no known layout, or over `max_cell_bytes`, is a
    BadInput naming the row."""
    try:
        cell = cell.value if pyarrow.types.is_dictionary(cell.type) else cell
        size = _cell_bytes(cell)
        if size > max_cell_bytes:
            raise ValueError(f"its audio cell holds {size} bytes, over the cap of {max_cell_bytes} (--max_cell_bytes).")
        return _cell_input(cell, key, uri, row)
    except (ValueError, TypeError, pyarrow.ArrowException) as e:
        return BadInput(key, uri, ValueError(f"Row {row}: {e}"))


def _oversized_row_group(shard: pyarrow.parquet.ParquetFile, group: int, audio_column: str, max_cell_bytes: int):
    """The error of a row group whose audio column, decompressed, holds more than `max_cell_bytes`
    per row: one cell or more must be over the cap, and reading the group would hold them. None
    for any other group."""
    metadata = shard.metadata.row_group(group)
    size = sum(
        metadata.column(column).total_uncompressed_size
        for column in range(metadata.num_columns)
        if metadata.column(column).path_in_schema.split(".")[0] == audio_column
    )
    if size <= max_cell_bytes * max(metadata.num_rows, 1):
        return None
    return ValueError(
        f"Row group {group}'s audio column decompresses to {size} bytes for {metadata.num_rows} row(s), "
        f"over the cap of {max_cell_bytes} bytes per cell (--max_cell_bytes); it is not read."
    )


def _cell_input(cell: pyarrow.Scalar, key: str, uri: str, row: int) -> EncodedAudio | BadInput:
    if pyarrow.types.is_binary(cell.type) or pyarrow.types.is_large_binary(cell.type):
        data = cell.as_py()
        if data:
            return EncodedAudio(key=key, source=uri, data=data)
    elif pyarrow.types.is_string(cell.type) or pyarrow.types.is_large_string(cell.type):
        if cell.as_py():
            return EncodedAudio(key=key, source=resolved_path(cell.as_py(), uri), data=None)
    elif pyarrow.types.is_struct(cell.type) and cell.is_valid:
        fields = {name: cell[name] for name in (field.name for field in cell.type)}
        array, rate = fields.get("array"), fields.get("sampling_rate")
        if array is not None and array.is_valid:
            rate = rate.as_py() if rate is not None and rate.is_valid else None
            if not (isinstance(rate, int) and rate > 0):
                raise ValueError(f"It has an audio array but no positive integer `sampling_rate`: {rate!r}.")
            return EncodedAudio(key=key, source=uri, data=None, samples=_decoded_samples(array), sample_rate=rate)
        if fields.get("bytes") is not None and fields["bytes"].as_py():
            return EncodedAudio(key=key, source=uri, data=fields["bytes"].as_py())
        if fields.get("path") is not None and fields["path"].as_py():
            return EncodedAudio(key=key, source=resolved_path(fields["path"].as_py(), uri), data=None)
    shown = repr(cell.as_py()) if cell.is_valid else "null"
    return BadInput(key, uri, ValueError(f"Row {row} has no audio bytes, array or path: {shown:.200}."))


def parquet_shard_inputs(
    stream,
    uri: str,
    audio_column: str,
    id_column: str,
    keys: UniqueKeys | None = None,
    max_cell_bytes: int = DEFAULT_READ_LIMITS.max_cell_bytes,
) -> Iterator[EncodedAudio | BadInput]:
    """Yields one input per row of the Parquet shard at `uri` (see the module docstring for layouts).

    A `path` is resolved against the shard's folder if relative. The input key is `<uri>#<id>`
    when the row has a non-null `id_column`, otherwise `<uri>#<row index>`; a repeated id gets
    a distinct key from `keys` (`<uri>#<id>#<row index>`). Its other non-binary columns,
    `id_column` included, are its metadata.

    Args:
        stream: seekable binary stream of the shard.
        uri: str. URI of the shard.
        audio_column: str. Name of the audio column.
        id_column: str. Name of the optional id column.
        keys: UniqueKeys. Keys given so far in the shard. Defaults to a new one.
        max_cell_bytes: int. Bytes of one audio cell; a row over it is a BadInput naming the cap
            (`--max_cell_bytes`), its cell never copied out of Arrow. A row group whose audio
            column holds more than this per row is not read at all: each of its rows is such a
            BadInput. Defaults to 256 MiB.
    """
    keys = UniqueKeys(uri) if keys is None else keys
    shard = pyarrow.parquet.ParquetFile(stream)
    names = shard.schema_arrow.names
    if audio_column not in names:
        raise ValueError(f"{uri} has no column {audio_column!r}; its columns are {names}.")
    other = [name for name in names if name != audio_column and not _is_binary(shard.schema_arrow.field(name).type)]
    columns = [audio_column] + other + ([id_column] if id_column in names and id_column not in other else [])
    row = 0
    for group in range(shard.num_row_groups):
        oversized = _oversized_row_group(shard, group, audio_column, max_cell_bytes)
        if oversized is not None:
            ids = shard.read_row_group(group, columns=[id_column]).column(0).to_pylist() if id_column in names else []
            for index in range(shard.metadata.row_group(group).num_rows):
                name = ids[index] if ids and ids[index] is not None else row
                yield BadInput(keys.unique(name, row), uri, ValueError(f"Row {row}: {oversized}"))
                row += 1
            continue
        for batch in shard.iter_batches(batch_size=ROWS_PER_BATCH, row_groups=[group], columns=columns):
            audio = batch.column(audio_column)
            fields = {name: batch.column(name).to_pylist() for name in other}
            ids = batch.column(id_column).to_pylist() if id_column in names else [None] * batch.num_rows
            for index in range(batch.num_rows):
                name = ids[index] if ids[index] is not None else row
                found = _row_input(audio[index], keys.unique(name, row), uri, row, max_cell_bytes)
                if isinstance(found, EncodedAudio):
                    found = found._replace(metadata=metadata_of({column: fields[column][index] for column in other}))
                yield found
                row += 1


def _is_binary(arrow_type: pyarrow.DataType) -> bool:
    """Whether a column's values are, or hold, binary data."""
    if pyarrow.types.is_binary(arrow_type) or pyarrow.types.is_large_binary(arrow_type):
        return True
    if pyarrow.types.is_fixed_size_binary(arrow_type):
        return True
    return any(_is_binary(arrow_type.field(i).type) for i in range(arrow_type.num_fields))
