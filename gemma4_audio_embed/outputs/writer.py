"""Writing the records with their index: sharded by key, or one file per input (`--skip_existing`).

Records reach the writer as `(index row, serialized record)` from `EncodeRecord`. Each record
file is written whole by one worker (`record_files.write_record_file`: temporary name, then a
rename), its records sorted by (source, segment index, key) so that a rerun writes the same
bytes, and beside it the Parquet index of exactly its records (`outputs.index`), so every
index row names the file its record is in:

    sharded:   OutputLayout.shard_files    <output>-SSSSS-of-NNNNN<suffix>, <output>-index-SSSSS-of-NNNNN.parquet
    per input: OutputLayout.input_files    <output>-by-input/<hash><suffix>, <output>-by-input/<hash>.index.parquet

A record goes to shard `int(sha256(key)[:16], 16) % NNNNN`, with NNNNN = `num_shards`, or,
when that is 0, one shard per `SHARD_BYTES` of records (at least one); a shard that no record
falls in is written empty, so every SSSSS of NNNNN exists. The index file is
renamed into place before its record file, whose presence marks an input done.
"""

import hashlib
import math
import posixpath

import apache_beam as beam

from gemma4_audio_embed.inputs.keys import input_file
from gemma4_audio_embed.outputs.index import MetadataColumns
from gemma4_audio_embed.outputs.index import write_index_file
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.outputs.record_files import write_record_file
from gemma4_audio_embed.reprs import ConfigRepr

SHARD_BYTES = 1 << 28  # 256 MiB of records per shard when --num_shards is 0


def shard_of(key: str, num_shards: int) -> int:
    """The shard, in [0, num_shards), of the record with clip key `key`."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) % num_shards


class _WriteFiles(beam.DoFn):
    """Writes one group's record file and index file; yields its index rows, `record_file` filled in.

    Elements: `((record file, index file), iterable of (index row, record bytes))`.
    """

    def process(self, element, columns):
        (record_path, index_path), rows_and_records = element
        present = (item for item in rows_and_records if item is not None)
        ordered = sorted(present, key=lambda item: (item[0]["source"], item[0]["segment_index"], item[0]["key"]))
        # The file's name, not its path: an output copied or moved elsewhere keeps a valid index.
        rows = [{**row, "record_file": posixpath.basename(record_path)} for row, _ in ordered]
        write_index_file(index_path, rows, columns)
        write_record_file(record_path, (record for _, record in ordered))
        yield from rows


class WriteRecords(ConfigRepr, beam.PTransform):
    """Writes `(index row, record bytes)` pairs as record files with their index files.

    Args:
        layout: OutputLayout. Where the files go; `layout.per_input` writes one file per input
            file (`--skip_existing`) instead of shards.
        num_shards: int. Shards; 0 sizes them by `SHARD_BYTES`. Ignored per input. Defaults to 0.

    Returns:
        A PCollection of the index rows written.
    """

    def __init__(self, layout: OutputLayout, num_shards: int = 0):
        super().__init__()
        if num_shards < 0:
            raise ValueError(f"`num_shards` must be >= 0. Received: {num_shards}")
        self.layout = layout
        self.num_shards = num_shards

    def expand(self, rows_and_records):
        layout = self.layout
        columns = (
            rows_and_records
            | "Rows" >> beam.Map(lambda item: item[0])
            | "MetadataColumns" >> beam.CombineGlobally(MetadataColumns())
        )
        if layout.per_input:
            keyed = rows_and_records | "ByInput" >> beam.Map(
                lambda item: (layout.input_files(input_file(item[0]["key"])), item)
            )  # by the input file (a manifest, not the audio it names), as SkipCompletedInputs skips
        else:
            if self.num_shards:
                num_shards = rows_and_records.pipeline | "NumShards" >> beam.Create([self.num_shards])
            else:
                num_shards = (
                    rows_and_records
                    | "RecordBytes" >> beam.Map(lambda item: len(item[1]))
                    | "TotalBytes" >> beam.CombineGlobally(sum)
                    | "ShardsBySize" >> beam.Map(lambda total: max(1, math.ceil(total / SHARD_BYTES)))
                )
            by_shard = rows_and_records | "ByShard" >> beam.Map(
                lambda item, n: (layout.shard_files(shard_of(item[0]["key"], n), n), item),
                n=beam.pvalue.AsSingleton(num_shards),
            )
            every_shard = num_shards | "EveryShard" >> beam.FlatMap(
                lambda n: [(layout.shard_files(shard, n), None) for shard in range(n)]
            )  # so that a shard no record falls in is written, empty
            keyed = (by_shard, every_shard) | "WithEveryShard" >> beam.Flatten()
        return (
            keyed
            | "GroupByFile" >> beam.GroupByKey()
            | "WriteFiles" >> beam.ParDo(_WriteFiles(), columns=beam.pvalue.AsSingleton(columns))
        )
