"""Writing the records with their index: sharded by key, or one file per input (`--skip_existing`).

Records reach the writer as `(index row, serialized record)` from `EncodeRecord` and go straight
to spill files (`outputs.spill`, in the same fused step), so only `RecordPiece`s, a row and a
place per record, cross the shuffle that groups them by output file. Each record file is then
assembled whole by one worker, which streams its records back from the spill files sorted by
(source, segment index, key), so that a rerun writes the same bytes, and writes beside it the
Parquet index of exactly its records (`outputs.index`), so every index row names the file its
record is in:

    sharded:   OutputLayout.shard_files    <output>-SSSSS-of-NNNNN<suffix>, <output>-index-SSSSS-of-NNNNN.parquet
    per input: OutputLayout.input_files    <output>-by-input/<hash><suffix>, <output>-by-input/<hash>.index.parquet

A record goes to shard `int(sha256(key)[:16], 16) % NNNNN`, with NNNNN = `num_shards`, or,
when that is 0, one shard per `SHARD_BYTES` of records (at least one); a shard that no record
falls in is written empty, so every SSSSS of NNNNN exists. Sharded files are written to the
run's staging folder and moved into place by the run's last step once every file is there and
checked (`outputs.commit`); per-input files go to their final names directly, each index file
renamed into place before its record file, whose presence marks an input done. Writing a file
is idempotent (a temporary name, then a rename), so a transient error is retried
(`retries.retried`) without duplicating or losing a record.
"""

import hashlib
import math
import posixpath
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from gemma4_audio_embed.inputs.keys import input_file
from gemma4_audio_embed.outputs.index import MetadataColumns
from gemma4_audio_embed.outputs.index import write_index_file
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.outputs.record_files import write_record_file
from gemma4_audio_embed.outputs.spill import SpillRecords
from gemma4_audio_embed.outputs.spill import spilled_records
from gemma4_audio_embed.reprs import ConfigRepr
from gemma4_audio_embed.retries import retried

SHARD_BYTES = 1 << 28  # 256 MiB of records per shard when --num_shards is 0


def shard_of(key: str, num_shards: int) -> int:
    """The shard, in [0, num_shards), of the record with clip key `key`."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) % num_shards


class WrittenFile(NamedTuple):
    """A record file and its index as one writer wrote them.

    Attributes:
        record_file: str. Its final path.
        index_file: str. The final path of its index.
        written_record_file: str. Where it was written: `record_file`, or its staged copy.
        written_index_file: str. Likewise for the index.
        records: int. Records in the file (and rows in its index).
        size_in_bytes: int. Size of the record file as written.
    """

    record_file: str
    index_file: str
    written_record_file: str
    written_index_file: str
    records: int
    size_in_bytes: int


def _order(piece) -> tuple:
    return piece.row["source"], piece.row["segment_index"], piece.row["key"]


class _WriteFile(ConfigRepr, beam.DoFn):
    """`((record file, index file), pieces)` -> writes both, records in (source, segment index, key)
    order, into `staging_folder` when given; yields a `WrittenFile`. A `None` piece stands for no record.
    With `run_id`, the index file names the run that wrote it (per-input files)."""

    def __init__(self, staging_folder: str | None, run_id: str | None = None):
        self.staging_folder = staging_folder
        self.run_id = run_id

    def process(self, element, columns):
        (record_path, index_path), pieces = element
        ordered = sorted((piece for piece in pieces if piece is not None), key=_order)
        # The file's name, not its path: an output copied or moved elsewhere keeps a valid index.
        rows = [{**piece.row, "record_file": posixpath.basename(record_path)} for piece in ordered]
        written_record, written_index = record_path, index_path
        if self.staging_folder is not None:
            written_record = FileSystems.join(self.staging_folder, posixpath.basename(record_path))
            written_index = FileSystems.join(self.staging_folder, posixpath.basename(index_path))

        def write() -> int:
            write_index_file(written_index, rows, columns, self.run_id)
            return write_record_file(written_record, spilled_records(ordered))

        records = retried(write, what=f"writing {record_path}")
        (metadata,) = FileSystems.match([written_record])[0].metadata_list
        yield WrittenFile(record_path, index_path, written_record, written_index, records, metadata.size_in_bytes)


class WriteRecords(ConfigRepr, beam.PTransform):
    """Writes `(index row, record bytes)` pairs as record files with their index files.

    Args:
        layout: OutputLayout. Where the files go; `layout.per_input` writes one file per input
            file (`--skip_existing`) instead of shards.
        run_id: str. This run's id: its spill files go to `layout.spill_folder(run_id)`, its
            shards to `layout.staging_folder(run_id)`.
        num_shards: int. Shards; 0 sizes them by `SHARD_BYTES`. Ignored per input. Defaults to 0.

    Returns:
        A PCollection of `WrittenFile`, one per record file written.
    """

    def __init__(self, *, layout: OutputLayout, run_id: str, num_shards: int = 0):
        super().__init__()
        if num_shards < 0:
            raise ValueError(f"`num_shards` must be >= 0. Received: {num_shards}")
        self.layout = layout
        self.run_id = run_id
        self.num_shards = num_shards

    def expand(self, rows_and_records):
        layout = self.layout
        pieces = rows_and_records | "Spill" >> beam.ParDo(SpillRecords(layout.spill_folder(self.run_id)))
        columns = (
            pieces
            | "Rows" >> beam.Map(lambda piece: piece.row)
            | "MetadataColumns" >> beam.CombineGlobally(MetadataColumns())
        )
        if layout.per_input:
            keyed = pieces | "ByInput" >> beam.Map(
                lambda piece: (layout.input_files(input_file(piece.row["key"])), piece)
            )  # by the input file (a manifest, not the audio it names), as SkipCompletedInputs skips
        else:
            if self.num_shards:
                num_shards = pieces.pipeline | "NumShards" >> beam.Create([self.num_shards])
            else:
                num_shards = (
                    pieces
                    | "RecordBytes" >> beam.Map(lambda piece: piece.length)
                    | "TotalBytes" >> beam.CombineGlobally(sum)
                    | "ShardsBySize" >> beam.Map(lambda total: max(1, math.ceil(total / SHARD_BYTES)))
                )
            by_shard = pieces | "ByShard" >> beam.Map(
                lambda piece, n: (layout.shard_files(shard_of(piece.row["key"], n), n), piece),
                n=beam.pvalue.AsSingleton(num_shards),
            )
            every_shard = num_shards | "EveryShard" >> beam.FlatMap(
                lambda n: [(layout.shard_files(shard, n), None) for shard in range(n)]
            )  # so that a shard no record falls in is written, empty
            keyed = (by_shard, every_shard) | "WithEveryShard" >> beam.Flatten()
        staging = None if layout.per_input else layout.staging_folder(self.run_id)
        return (
            keyed
            | "GroupByFile" >> beam.GroupByKey()
            | "WriteFiles"
            >> beam.ParDo(
                _WriteFile(staging, self.run_id if layout.per_input else None), columns=beam.pvalue.AsSingleton(columns)
            )
        )
