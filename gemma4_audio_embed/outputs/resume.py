"""Resumable output: one record file per input file, so a rerun can skip what is already done.

With `--skip_existing` the job writes the records of each input file (an audio file, or a whole
tar, TFRecord, Parquet or manifest shard) to its own file, named by a hash of the file's URI:

    <output>-by-input/<sha256(source)[:32]><suffix>      (`OutputLayout.input_files`)

The file (and its index beside it, `<hash>.index.parquet`) is written by
`outputs.writer` under a temporary name and renamed when complete, so its presence
is the completion marker. A rerun over the same inputs and output matches those names at launch and
skips every input whose file exists; deleting a file (or an interrupted run that never wrote it)
makes that input run again. An input that produced no record at all (every clip dead-lettered)
has no file and is retried by every rerun, which dead-letters it again. Records are sorted by
(source, segment index, key) inside a file (`outputs.writer`), so a rerun writes the same bytes.
"""

from apache_beam.io.filesystems import FileSystems

from gemma4_audio_embed.metrics import INPUTS_SKIPPED
from gemma4_audio_embed.metrics import TallyingDoFn
from gemma4_audio_embed.outputs.layout import OutputLayout


def completed_record_files(layout: OutputLayout) -> frozenset:
    """Paths of the per-input record files already under `layout` (empty on a first run).

    A prefix whose `-by-input` folder does not exist yet matches nothing; any other failure to
    list it (permissions, the network) raises, rather than passing for "nothing done" and
    embedding every input again.
    """
    match = FileSystems.match([layout.per_input_records_glob])[0]
    return frozenset(metadata.path for metadata in match.metadata_list)


class SkipCompletedInputs(TallyingDoFn):
    """Passes on matched input files (FileMetadata) whose record file is not in `completed`; tallies
    the others as `inputs_skipped`.

    Args:
        layout: OutputLayout. The output's files (`input_files` names an input's record file).
        completed: frozenset of str. Record files found at launch (`completed_record_files`).
    """

    def __init__(self, layout: OutputLayout, completed: frozenset):
        self.layout = layout
        self.completed = completed

    def __repr__(self):
        return f"SkipCompletedInputs(layout={self.layout!r}, completed=<{len(self.completed)} files>)"

    def process(self, metadata):
        if self.layout.input_files(metadata.path)[0] in self.completed:
            self.tally.add(INPUTS_SKIPPED)
            return
        yield metadata
