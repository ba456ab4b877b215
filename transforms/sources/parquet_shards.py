"""Reader of Parquet shards in the Hugging Face `datasets` layout: an audio struct of `bytes` and `path`."""

from typing import Iterator
from typing import Union

import pyarrow.parquet

from transforms.elements import EncodedAudio
from transforms.sources import BadInput
from transforms.sources import resolved_path

ROWS_PER_BATCH = 64  # rows read at a time, so a shard is never loaded whole


def parquet_shard_inputs(
    stream, uri: str, audio_column: str, id_column: str
) -> Iterator[Union[EncodedAudio, BadInput]]:
    """Yields one input per row of the Parquet shard at `uri`.

    The audio column is a struct with `bytes` (the encoded file) and `path`, as `datasets.Audio`
    stores it. When `bytes` is null the audio is read from `path`, resolved against the shard's
    folder if relative. The input key is `<uri>#<id>` when the row has a non-null `id_column`,
    otherwise `<uri>#<row index>`.

    Args:
        stream: seekable binary stream of the shard.
        uri: str. URI of the shard.
        audio_column: str. Name of the audio struct column.
        id_column: str. Name of the optional id column.
    """
    shard = pyarrow.parquet.ParquetFile(stream)
    names = shard.schema_arrow.names
    if audio_column not in names:
        raise ValueError(f"{uri} has no column {audio_column!r}; its columns are {names}.")
    columns = [audio_column] + ([id_column] if id_column in names else [])
    row = 0
    for batch in shard.iter_batches(batch_size=ROWS_PER_BATCH, columns=columns):
        for record in batch.to_pylist():
            key = f"{uri}#{record[id_column]}" if record.get(id_column) is not None else f"{uri}#{row}"
            row += 1
            audio = record[audio_column]
            if isinstance(audio, dict) and audio.get("bytes"):
                yield EncodedAudio(key=key, source=uri, data=audio["bytes"])
            elif isinstance(audio, dict) and audio.get("path"):
                path = resolved_path(audio["path"], uri)
                yield EncodedAudio(key=key, source=path, data=None)
            else:
                yield BadInput(
                    key=key,
                    source=uri,
                    error=ValueError(f"Row {row - 1} has neither audio bytes nor a path: {audio!r:.200}."),
                )
