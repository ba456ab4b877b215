"""Finding and reading the inputs: file patterns to EncodedAudio, one per clip-bearing entry.

`MatchInputs` expands globs (local or `gs://`) into distinct files; `ReadInputs` opens each file
with the reader of its format (`inputs/sources/`) and accounts for every entry: an input,
a dead letter, or a counted skip.
"""

import os
import posixpath
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems

from gemma4_audio_embed.inputs.dead_letter import dead_letter
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.encoded_audio import metadata_json
from gemma4_audio_embed.inputs.keys import UniqueKeys
from gemma4_audio_embed.inputs.sources import BadInput
from gemma4_audio_embed.inputs.sources import SkippedInput
from gemma4_audio_embed.inputs.sources.audio_files import audio_file_inputs
from gemma4_audio_embed.inputs.sources.manifests import manifest_inputs
from gemma4_audio_embed.inputs.sources.parquet_shards import parquet_shard_inputs
from gemma4_audio_embed.inputs.sources.tar_shards import tar_shard_inputs
from gemma4_audio_embed.inputs.sources.tfrecord_shards import tfrecord_shard_inputs
from gemma4_audio_embed.metrics import ENTRIES_SKIPPED
from gemma4_audio_embed.metrics import INPUTS_READ
from gemma4_audio_embed.metrics import REPEATED_IDS
from gemma4_audio_embed.metrics import TallyingDoFn
from gemma4_audio_embed.reprs import ConfigRepr

INPUT_FORMATS = ("auto", "audio", "tar", "tfrecord", "parquet", "manifest")
_FORMATS_BY_EXTENSION = {
    ".tar": "tar",
    ".tgz": "tar",
    ".tfrecord": "tfrecord",
    ".tfrecords": "tfrecord",
    ".parquet": "parquet",
    ".jsonl": "manifest",
    ".json": "manifest",
}
MAX_METADATA_BYTES = 1 << 16  # 64 KiB of JSON per input, so per record
# What Beam's file systems decompress by suffix (CompressionTypes.detect_compression_type).
COMPRESSION_EXTENSIONS = (".gz", ".bz2", ".deflate", ".zst", ".zstd", ".xz", ".lzma")


def detected_format(uri: str) -> str:
    """The input format `auto` picks for `uri`, from its extension; anything unlisted is audio.

    A compression suffix Beam knows (`.gz`, `.bz2`, `.zst`, ...) is looked through, so
    `list.jsonl.gz` is a manifest and `shard.tar.xz` a tar; Parquet compresses inside.
    """
    name = posixpath.basename(uri).lower()
    for compression in COMPRESSION_EXTENSIONS:
        name = name.removesuffix(compression)
    return _FORMATS_BY_EXTENSION.get(posixpath.splitext(name)[1], "audio")


def normalized_path(path: str) -> str:
    """A local path made absolute and normal (`a//b`, `./a`, `x/../a`); a URI (`gs://...`) as it is."""
    return os.path.abspath(path) if FileSystems.get_scheme(path) is None else path


def _one_per_path(path_and_matches) -> FileMetadata:
    path, matches = path_and_matches
    first = next(iter(matches))
    return FileMetadata(path, first.size_in_bytes, first.last_updated_in_seconds)


class MatchInputs(ConfigRepr, beam.PTransform):
    """Expands file patterns (globs or paths, local or `gs://`) into FileMetadata, one per distinct file.

    Local paths are made absolute and normal (`normalized_path`), and a file matched by several
    patterns or spellings (`a/*.wav,a/x.wav`, `a//x.wav`, `./a/x.wav`) comes out once, so it is
    read once and its inputs keep unique keys.

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
            | "KeyByPath" >> beam.Map(lambda metadata: (normalized_path(metadata.path), metadata))
            | "GroupByPath" >> beam.GroupByKey()
            | "OnePerPath" >> beam.Map(_one_per_path)
        )


class ReadInputs(ConfigRepr, TallyingDoFn):
    """Reads each matched file with its format's reader and yields its EncodedAudio inputs.

    Entries that are unusable on their own (a tar sample without audio, a manifest line that
    is not JSON) go out as dead letters on `DEAD_LETTER_TAG`, next to Beam's own; a file that
    cannot be read at all raises, after the inputs found before the fault (run it with
    `with_exception_handling(partial=True)`). Every input, every bad entry, every skipped entry
    (`entries_skipped`, e.g. `._*` AppleDouble members) and every unreadable file counts once in
    `inputs_read`, so inputs = inputs with records + dead letters + skips. Keys are unique per
    file; entries whose id was taken before count in `repeated_ids`. The counts go out as the
    bundle's tally on `TALLY_TAG` (`metrics.Tally`).

    Args:
        input_format: str. One of `INPUT_FORMATS`; `"auto"` decides per file by extension.
        tfrecord_audio_feature: str. Feature of the audio (encoded bytes or samples) in TFRecord inputs.
        tfrecord_id_feature: str. Optional id feature of TFRecord inputs.
        parquet_audio_column: str. Audio column of Parquet inputs.
        parquet_id_column: str. Optional id column of Parquet inputs.
        tfrecord_sample_rate: int or None. Rate of decoded TFRecord samples without a rate feature.
        metadata_fields: sequence of str or None. Metadata fields to keep (others are
            dropped); None keeps them all. Defaults to None.
        max_metadata_bytes: int. Largest metadata of one input, as its UTF-8 JSON
            (`metadata_json`); an input over it is a dead letter naming its largest field.
            Defaults to `MAX_METADATA_BYTES` (64 KiB).
    """

    def __init__(
        self,
        *,
        input_format: str = "auto",
        tfrecord_audio_feature: str = "audio",
        tfrecord_id_feature: str = "id",
        parquet_audio_column: str = "audio",
        parquet_id_column: str = "id",
        tfrecord_sample_rate: int | None = None,
        metadata_fields: Sequence[str] | None = None,
        max_metadata_bytes: int = MAX_METADATA_BYTES,
    ):
        if input_format not in INPUT_FORMATS:
            raise ValueError(f"`input_format` must be one of {INPUT_FORMATS}. Received: input_format={input_format!r}")
        self.input_format = input_format
        self.tfrecord_audio_feature = tfrecord_audio_feature
        self.tfrecord_id_feature = tfrecord_id_feature
        self.parquet_audio_column = parquet_audio_column
        self.parquet_id_column = parquet_id_column
        self.tfrecord_sample_rate = tfrecord_sample_rate
        if not (isinstance(max_metadata_bytes, int) and max_metadata_bytes > 0):
            raise ValueError(f"`max_metadata_bytes` must be a positive int. Received: {max_metadata_bytes!r}")
        self.metadata_fields = None if metadata_fields is None else tuple(metadata_fields)
        self.max_metadata_bytes = max_metadata_bytes

    def _with_kept_metadata(self, found: EncodedAudio) -> EncodedAudio:
        """`found` with only the `metadata_fields`; raises ValueError naming a field over the cap."""
        metadata = found.metadata or {}
        if self.metadata_fields is not None:
            metadata = {name: metadata[name] for name in self.metadata_fields if name in metadata}
        size = len(metadata_json(metadata).encode())
        if size > self.max_metadata_bytes:
            sizes = {name: len(metadata_json({name: value}).encode()) for name, value in metadata.items()}
            largest = max(sizes, key=sizes.get)
            raise ValueError(
                f"{found.key}: its metadata takes {size} bytes as JSON, over the cap of "
                f"{self.max_metadata_bytes} (--max_metadata_bytes); field {largest!r} alone takes "
                f"{sizes[largest]}. Drop it with --metadata_fields or raise the cap."
            )
        return found._replace(metadata=metadata or None)

    def _inputs(self, uri: str, input_format: str, stream, keys: UniqueKeys):
        if input_format == "tar":
            return tar_shard_inputs(stream, uri, keys)
        if input_format == "tfrecord":
            return tfrecord_shard_inputs(
                stream, uri, self.tfrecord_audio_feature, self.tfrecord_id_feature, self.tfrecord_sample_rate, keys
            )
        if input_format == "parquet":
            return parquet_shard_inputs(stream, uri, self.parquet_audio_column, self.parquet_id_column, keys)
        return manifest_inputs(stream, uri, keys)

    def process(self, metadata: FileMetadata):
        uri = metadata.path
        input_format = detected_format(uri) if self.input_format == "auto" else self.input_format
        if input_format == "audio":
            self.tally.add(INPUTS_READ)
            yield from map(self._with_kept_metadata, audio_file_inputs(uri))
            return
        # Tar, TFRecord and manifest files may be gzipped (AUTO: by extension); Parquet compresses inside.
        compression = CompressionTypes.UNCOMPRESSED if input_format == "parquet" else CompressionTypes.AUTO
        keys = UniqueKeys(uri)
        try:
            with FileSystems.open(uri, compression_type=compression) as stream:
                for item in self._inputs(uri, input_format, stream, keys):
                    self.tally.add(INPUTS_READ)
                    if isinstance(item, SkippedInput):
                        self.tally.add(ENTRIES_SKIPPED)
                    elif isinstance(item, BadInput):
                        yield dead_letter(item, item.error)
                    else:
                        try:
                            yield self._with_kept_metadata(item)
                        except ValueError as e:
                            yield dead_letter(item, e)
        except Exception:
            self.tally.add(INPUTS_READ)  # the unreadable file itself is an input, in the dead letters
            raise
        finally:
            self.tally.add(REPEATED_IDS, keys.repeats)
