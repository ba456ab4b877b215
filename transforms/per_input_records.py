"""Resumable output: one record file per input file, so a rerun can skip what is already done.

With `--skip_existing` the job writes the records of each input file (an audio file, or a whole
tar, TFRecord, Parquet or manifest shard) to its own file, named by a hash of the file's URI:

    <output>-by-input/<sha256(source)[:32]><suffix>

The file (and its index beside it, `<hash>.index.parquet`) is written by
`transforms.write_records` under a temporary name and renamed when complete, so its presence
is the completion marker. A rerun over the same inputs and output matches those names at launch and
skips every input whose file exists; deleting a file (or an interrupted run that never wrote it)
makes that input run again. An input that produced no record at all (every clip dead-lettered)
has no file and is retried by every rerun, which dead-letters it again. Records are sorted by
(segment index, key) inside a file, so a rerun writes the same bytes.
"""

import hashlib

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.metrics import counter

INPUTS_SKIPPED = "inputs_skipped"  # input files skipped because their record file exists


def input_records_path(output: str, source: str, suffix: str) -> str:
    """Path of the record file of input file `source` under output prefix `output`."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:32]
    return f"{output}-by-input/{digest}{suffix}"


def completed_record_files(output: str, suffix: str) -> frozenset:
    """Paths of the per-input record files already under `output` (empty on a first run)."""
    try:
        match = FileSystems.match([f"{output}-by-input/*{suffix}"])[0]
    except Exception:  # noqa: BLE001 - Beam raises BeamIOError (or a backend error) for "no such folder"
        return frozenset()
    return frozenset(metadata.path for metadata in match.metadata_list)


class SkipCompletedInputs(beam.DoFn):
    """Passes on matched input files (FileMetadata) whose record file is not in `completed`.

    Args:
        output: str. Output prefix.
        suffix: str. Record file suffix (`.tfrecord`, `.tfrecord.gz` or `.array_record`).
        completed: frozenset of str. Record files found at launch (`completed_record_files`).
    """

    def __init__(self, output: str, suffix: str, completed: frozenset):
        self.output = output
        self.suffix = suffix
        self.completed = completed

    def setup(self):
        self._skipped = counter(INPUTS_SKIPPED)

    def process(self, metadata):
        if input_records_path(self.output, metadata.path, self.suffix) in self.completed:
            self._skipped.inc()
            return
        yield metadata
