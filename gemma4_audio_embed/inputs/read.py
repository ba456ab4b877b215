"""Finding and reading the inputs: file patterns to EncodedAudio, one per clip-bearing entry.

`MatchInputs` expands globs (local or `gs://`) and input lists into distinct files
(`inputs/file_match.py`); `ReadInputs` checks each file (`inputs/files.py`), opens it with the
reader of its format (`inputs/sources/`) under the read caps (`inputs/limits.py`) and accounts
for every entry: an input, a dead letter, or a counted skip.
"""

import logging
import os
import posixpath
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems

from gemma4_audio_embed.inputs.dead_letter import dead_letter
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.encoded_audio import metadata_json
from gemma4_audio_embed.inputs.file_match import listed_files
from gemma4_audio_embed.inputs.file_match import matched_files
from gemma4_audio_embed.inputs.files import COMPRESSION_BY_SUFFIX
from gemma4_audio_embed.inputs.files import UNCOMPRESSED
from gemma4_audio_embed.inputs.files import checked_file
from gemma4_audio_embed.inputs.files import compression_of
from gemma4_audio_embed.inputs.files import opened_file
from gemma4_audio_embed.inputs.files import resolved_roots
from gemma4_audio_embed.inputs.keys import UniqueKeys
from gemma4_audio_embed.inputs.keys import has_undecodable_bytes
from gemma4_audio_embed.inputs.limits import DEFAULT_READ_LIMITS
from gemma4_audio_embed.inputs.limits import CappedStream
from gemma4_audio_embed.inputs.limits import ReadLimits
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
from gemma4_audio_embed.metrics import UNDECODABLE_NAMES
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
COMPRESSION_EXTENSIONS = tuple(COMPRESSION_BY_SUFFIX)  # what input files are decompressed by


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
    _, matches = path_and_matches
    first = next(iter(matches))
    return FileMetadata(normalized_path(first.path), first.size_in_bytes, first.last_updated_in_seconds)


def _path_key(metadata: FileMetadata) -> bytes:
    """The bytes that identify a matched file: its normal path as the file system spells it."""
    path = normalized_path(metadata.path)
    return os.fsencode(path) if FileSystems.get_scheme(path) is None else path.encode()


class _MatchFiles(ConfigRepr, beam.DoFn):
    """`("pattern", glob)` or `("list", uri)` to the FileMetadata of each file it names, but the job's own outputs."""

    def __init__(self, excluded_prefix: str | None):
        self.excluded_prefix = excluded_prefix

    def process(self, source):
        kind, value = source
        found = matched_files(value) if kind == "pattern" else listed_files(value)
        count = 0
        for metadata in found:
            count += 1
            if self.excluded_prefix and normalized_path(metadata.path).startswith(self.excluded_prefix):
                logging.warning("Not reading %s: it is one of the job's own output files.", metadata.path)
                continue
            yield metadata
        if kind == "pattern" and not count:
            raise ValueError(f"--input pattern {value!r} matches no file.")


class MatchInputs(ConfigRepr, beam.PTransform):
    """Expands file patterns (globs or paths, local or `gs://`) and input lists into FileMetadata, one per distinct file.

    Local patterns are matched by the bytes of names (`inputs/file_match.py`: a backslash or a
    name that is not UTF-8 is found), and what they name that is no regular file is passed on
    for the reader to refuse. Local paths are made absolute and normal (`normalized_path`), and
    a file matched by several patterns or spellings (`a/*.wav,a/x.wav`, `a//x.wav`, `./a/x.wav`)
    comes out once, so it is read once and its inputs keep unique keys.

    Args:
        patterns: list of str. A pattern that matches nothing fails the job, as a literal
            path that does not exist does.
        input_lists: list of str. Files listing one path per line, each taken literally
            (`--input_list`). Defaults to none.
        excluded_prefix: str or None. Paths starting with it are the job's own outputs
            (`OutputLayout.owned_prefix`) and are never read. Defaults to None.
    """

    def __init__(self, patterns: Sequence[str], input_lists: Sequence[str] = (), excluded_prefix: str | None = None):
        super().__init__()
        if not patterns and not input_lists:
            raise ValueError(
                "`patterns` must name at least one input file or glob, or `input_lists` a list. Received: []"
            )
        self.patterns = list(patterns)
        self.input_lists = list(input_lists)
        self.excluded_prefix = None if excluded_prefix is None else normalized_path(excluded_prefix)

    def expand(self, pbegin):
        sources = [("pattern", pattern) for pattern in self.patterns] + [("list", uri) for uri in self.input_lists]
        return (
            pbegin
            | "Patterns" >> beam.Create(sources)
            | "Match" >> beam.ParDo(_MatchFiles(self.excluded_prefix))
            | "KeyByPath" >> beam.Map(lambda metadata: (_path_key(metadata), metadata))
            | "GroupByPath" >> beam.GroupByKey()
            | "OnePerPath" >> beam.Map(_one_per_path)
        )


class ReadInputs(ConfigRepr, TallyingDoFn):
    """Reads each matched file with its format's reader and yields its EncodedAudio inputs.

    Each file is checked before it is opened (`inputs.files.checked_file`): a folder, FIFO,
    socket or device, a path under `/dev`, `/proc` or `/sys`, or outside `allowed_roots`, is a
    dead letter found by `stat`, never a blocking open. Readers hold no more than `limits` allow.

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
        allowed_roots: sequence of str. Folders (local) and URI prefixes (`gs://b/corpus`) every
            file read must lie under, links resolved (`--allowed_roots`). Defaults to none: any
            path but `/dev`, `/proc` and `/sys`.
        limits: ReadLimits. The readers' caps. Defaults to `ReadLimits()`.

    Inputs whose key holds a name that is not UTF-8 (percent-encoded, `inputs.keys`) are
    counted in `undecodable_names`.
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
        allowed_roots: Sequence[str] = (),
        limits: ReadLimits = DEFAULT_READ_LIMITS,
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
        self.allowed_roots = tuple(allowed_roots)
        self.limits = limits.checked()
        self._roots = resolved_roots(allowed_roots)

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

    def _inputs(self, uri: str, input_format: str, stream, keys: UniqueKeys, compressed: bool):
        if input_format == "tar":
            return tar_shard_inputs(stream, uri, keys, self.limits, compressed)
        if input_format == "tfrecord":
            return tfrecord_shard_inputs(
                stream,
                uri,
                self.tfrecord_audio_feature,
                self.tfrecord_id_feature,
                self.tfrecord_sample_rate,
                keys,
                self.limits.max_record_bytes,
            )
        if input_format == "parquet":
            return parquet_shard_inputs(
                stream, uri, self.parquet_audio_column, self.parquet_id_column, keys, self.limits.max_cell_bytes
            )
        return manifest_inputs(stream, uri, keys, self.limits)

    def _counted(self, item):
        self.tally.add(INPUTS_READ)
        if has_undecodable_bytes(item.key):
            self.tally.add(UNDECODABLE_NAMES)

    def process(self, metadata: FileMetadata):
        uri = metadata.path
        input_format = detected_format(uri) if self.input_format == "auto" else self.input_format
        if input_format == "audio":
            (found,) = audio_file_inputs(uri)
            self._counted(found)
            checked_file(uri, self._roots)  # raises for a special file: the file's dead letter, counted above
            yield self._with_kept_metadata(found)
            return
        # Tar, TFRecord and manifest files may be compressed (by suffix); Parquet compresses inside.
        compression = UNCOMPRESSED if input_format == "parquet" else compression_of(uri)
        compressed = compression != UNCOMPRESSED
        keys = UniqueKeys(uri)
        try:
            with opened_file(uri, self._roots, compression) as stream:
                bounded = CappedStream(stream, self.limits.max_decompressed_bytes, uri) if compressed else stream
                for item in self._inputs(uri, input_format, bounded, keys, compressed):
                    self._counted(item)
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
