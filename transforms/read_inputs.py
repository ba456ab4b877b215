"""Finding and reading the inputs: file patterns to EncodedAudio, one per clip-bearing entry.

`MatchInputs` expands globs (local or `gs://`); `ReadInputs` opens each file with the reader of
its format (`transforms/sources/`).
"""

import posixpath
from typing import Sequence

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems

from transforms.dead_letters import dead_letter
from transforms.metrics import INPUTS_READ
from transforms.metrics import counter
from transforms.sources import BadInput
from transforms.sources.audio_files import audio_file_inputs
from transforms.sources.manifests import manifest_inputs
from transforms.sources.parquet_shards import parquet_shard_inputs
from transforms.sources.tar_shards import tar_shard_inputs
from transforms.sources.tfrecord_shards import tfrecord_shard_inputs

INPUT_FORMATS = ("auto", "audio", "tar", "tfrecord", "parquet", "manifest")
_FORMATS_BY_EXTENSION = {
    ".tar": "tar",
    ".tar.gz": "tar",
    ".tgz": "tar",
    ".tfrecord": "tfrecord",
    ".tfrecords": "tfrecord",
    ".tfrecord.gz": "tfrecord",
    ".tfrecords.gz": "tfrecord",
    ".parquet": "parquet",
    ".jsonl": "manifest",
    ".json": "manifest",
    ".jsonl.gz": "manifest",
}


def detected_format(uri: str) -> str:
    """The input format `auto` picks for `uri`, from its extension; anything unlisted is audio."""
    name = posixpath.basename(uri).lower()
    for extension in sorted(_FORMATS_BY_EXTENSION, key=len, reverse=True):
        if name.endswith(extension):
            return _FORMATS_BY_EXTENSION[extension]
    return "audio"


class MatchInputs(beam.PTransform):
    """Expands file patterns (globs or paths, local or `gs://`) into FileMetadata, one per file.

    Args:
        patterns: list of str. A pattern that matches nothing fails the job, as a literal
            path that does not exist does.
    """

    def __init__(self, patterns: Sequence[str]):
        super().__init__()
        if not patterns:
            raise ValueError("`patterns` must name at least one input file or glob. Received: []")
        self.patterns = list(patterns)

    def expand(self, pbegin):
        return (
            pbegin
            | "Patterns" >> beam.Create(self.patterns)
            | "Match" >> fileio.MatchAll(fileio.EmptyMatchTreatment.DISALLOW)
        )


class ReadInputs(beam.DoFn):
    """Reads each matched file with its format's reader and yields its EncodedAudio inputs.

    Entries that are unusable on their own (a tar sample without audio, a manifest line that
    is not JSON) go out as dead letters on `DEAD_LETTER_TAG`, next to Beam's own; a file that
    cannot be read at all raises, after the inputs found before the fault (run it with
    `with_exception_handling(partial=True)`). Every input and every unreadable file counts
    once in `inputs_read`.

    Args:
        input_format: str. One of `INPUT_FORMATS`; `"auto"` decides per file by extension.
        tfrecord_audio_feature: str. Bytes feature of the audio in TFRecord inputs.
        tfrecord_id_feature: str. Optional id feature of TFRecord inputs.
        parquet_audio_column: str. Audio struct column of Parquet inputs.
        parquet_id_column: str. Optional id column of Parquet inputs.
    """

    def __init__(
        self,
        input_format: str = "auto",
        tfrecord_audio_feature: str = "audio",
        tfrecord_id_feature: str = "id",
        parquet_audio_column: str = "audio",
        parquet_id_column: str = "id",
    ):
        if input_format not in INPUT_FORMATS:
            raise ValueError(
                f"`input_format` must be one of {INPUT_FORMATS}. Received: input_format={input_format!r}"
            )
        self.input_format = input_format
        self.tfrecord_audio_feature = tfrecord_audio_feature
        self.tfrecord_id_feature = tfrecord_id_feature
        self.parquet_audio_column = parquet_audio_column
        self.parquet_id_column = parquet_id_column

    def setup(self):
        self._inputs_read = counter(INPUTS_READ)

    def _inputs(self, uri: str, input_format: str, stream):
        if input_format == "tar":
            return tar_shard_inputs(stream, uri)
        if input_format == "tfrecord":
            return tfrecord_shard_inputs(stream, uri, self.tfrecord_audio_feature, self.tfrecord_id_feature)
        if input_format == "parquet":
            return parquet_shard_inputs(stream, uri, self.parquet_audio_column, self.parquet_id_column)
        return manifest_inputs(stream, uri)

    def process(self, metadata: FileMetadata):
        uri = metadata.path
        input_format = detected_format(uri) if self.input_format == "auto" else self.input_format
        if input_format == "audio":
            self._inputs_read.inc()
            yield from audio_file_inputs(uri)
            return
        # Tar, TFRecord and manifest files may be gzipped (AUTO: by extension); Parquet compresses inside.
        compression = CompressionTypes.UNCOMPRESSED if input_format == "parquet" else CompressionTypes.AUTO
        try:
            with FileSystems.open(uri, compression_type=compression) as stream:
                for item in self._inputs(uri, input_format, stream):
                    self._inputs_read.inc()
                    yield dead_letter(item, item.error) if isinstance(item, BadInput) else item
        except Exception:
            self._inputs_read.inc()  # the unreadable file itself is an input, in the dead letters
            raise
