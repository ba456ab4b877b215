"""`OutputLayout`: every path and glob the job writes, skips, reads back or verifies under one `--output` prefix.

    <output>-SSSSS-of-NNNNN<suffix>                  records, sharded by sha256(key)
    <output>-index-SSSSS-of-NNNNN.parquet            the index of that shard's records
    <output>-by-input/<sha256(URI)[:32]><suffix>     records of one input file (--skip_existing)
    <output>-by-input/<hash>.index.parquet           their index
    <output>-dead-letter-SSSSS-of-NNNNN.jsonl        inputs and clips that gave no record
    <output>-duplicates-SSSSS-of-NNNNN.jsonl         clips not embedded by --dedup
    <output>-stamp.json                              what made the embeddings (model, front end, dtypes)
    <output>-summary.json                            the run's counts, written by the job's last step

`<suffix>` is `.tfrecord`, `.tfrecord.gz` or `.array_record` (`record_suffix`). No other module
spells these names.
"""

import dataclasses
import hashlib
import posixpath
import re

RECORD_FORMATS = ("tfrecord", "array_record")
OUTPUT_COMPRESSIONS = ("none", "gzip")
RECORD_SUFFIXES = (".tfrecord", ".tfrecord.gz", ".array_record")
INDEX_SUFFIX = ".index.parquet"
BY_INPUT = "-by-input"
SHARD_NAME = re.compile(r"-(\d{5})-of-(\d{5})\.")  # where a sharded file's name says SSSSS and NNNNN


def record_suffix(record_format: str, compression: str = "none") -> str:
    """File suffix of record files: `.tfrecord`, `.tfrecord.gz` (gzip) or `.array_record`.

    Raises ValueError for an unknown format or compression, and for compressed ArrayRecord.
    """
    if record_format not in RECORD_FORMATS:
        raise ValueError(f"`record_format` must be one of {RECORD_FORMATS}. Received: {record_format!r}")
    if compression not in OUTPUT_COMPRESSIONS:
        raise ValueError(f"`compression` must be one of {OUTPUT_COMPRESSIONS}. Received: {compression!r}")
    if record_format == "array_record":
        if compression != "none":
            raise ValueError(
                f"ArrayRecord files are written uncompressed; pass no output compression. Received: {compression!r}"
            )
        return ".array_record"
    return ".tfrecord.gz" if compression == "gzip" else ".tfrecord"


@dataclasses.dataclass(frozen=True)
class OutputLayout:
    """The files of one output prefix.

    Args:
        prefix: str. The `--output` prefix, local or `gs://`.
        suffix: str. Record file suffix (`record_suffix`). Defaults to `.tfrecord`.
        per_input: bool. Records go to one file per input file (`--skip_existing`) rather than
            to shards. Defaults to False.
    """

    prefix: str
    suffix: str = ".tfrecord"
    per_input: bool = False

    def __post_init__(self):
        if self.suffix not in RECORD_SUFFIXES:
            raise ValueError(f"`suffix` must be one of {RECORD_SUFFIXES}. Received: {self.suffix!r}")

    @property
    def owned_prefix(self) -> str:
        """What every path this layout names starts with, `<output>-`: the job never reads such a file as input."""
        return f"{self.prefix}-"

    # Records and their index.
    def shard_files(self, shard: int, num_shards: int) -> tuple[str, str]:
        """`(record file, index file)` of shard `shard` of `num_shards`."""
        name = f"{shard:05d}-of-{num_shards:05d}"
        return f"{self.prefix}-{name}{self.suffix}", f"{self.prefix}-index-{name}.parquet"

    def input_files(self, source: str) -> tuple[str, str]:
        """`(record file, index file)` of input file `source` (`--skip_existing`): named by sha256 of its URI."""
        digest = hashlib.sha256(source.encode("utf-8", "surrogateescape")).hexdigest()[:32]  # names are bytes
        return f"{self.by_input_folder}/{digest}{self.suffix}", f"{self.by_input_folder}/{digest}{INDEX_SUFFIX}"

    @property
    def by_input_folder(self) -> str:
        return f"{self.prefix}{BY_INPUT}"

    @property
    def sharded_records_glob(self) -> str:
        """Sharded record files of this suffix (a glob that may also match the other files; see `is_sharded_record_file`)."""
        return f"{self.prefix}-*-of-*{self.suffix}"

    @property
    def per_input_records_glob(self) -> str:
        return f"{self.by_input_folder}/*{self.suffix}"

    @property
    def records_glob(self) -> str:
        """The record files this run writes."""
        return self.per_input_records_glob if self.per_input else self.sharded_records_glob

    @property
    def index_glob(self) -> str:
        """The index files this run writes, beside its record files."""
        return f"{self.by_input_folder}/*{INDEX_SUFFIX}" if self.per_input else f"{self.prefix}-index-*-of-*.parquet"

    def is_sharded_record_file(self, path: str) -> bool:
        """Whether `path` is a sharded record file of this prefix, in any record format."""
        name = re.escape(posixpath.basename(self.prefix))
        suffixes = "|".join(re.escape(suffix) for suffix in RECORD_SUFFIXES)
        return re.fullmatch(rf"{name}-\d{{5}}-of-\d{{5}}({suffixes})", posixpath.basename(path)) is not None

    # Dead letters and duplicates, each written by Beam's WriteToText as one shard.
    @property
    def dead_letter_prefix(self) -> str:
        return f"{self.prefix}-dead-letter"

    @property
    def dead_letter_glob(self) -> str:
        return f"{self.dead_letter_prefix}-*-of-*.jsonl"

    @property
    def duplicates_prefix(self) -> str:
        return f"{self.prefix}-duplicates"

    @property
    def duplicates_glob(self) -> str:
        return f"{self.duplicates_prefix}-*-of-*.jsonl"

    # One file each.
    @property
    def stamp(self) -> str:
        return f"{self.prefix}-stamp.json"

    @property
    def summary(self) -> str:
        return f"{self.prefix}-summary.json"

    def outputs(self, dedup: bool = False) -> dict[str, str]:
        """The globs a summary lists: records, dead letters, index and, with `--dedup`, duplicates."""
        globs = {"records": self.records_glob, "dead_letters": self.dead_letter_glob, "index": self.index_glob}
        return globs | ({"duplicates": self.duplicates_glob} if dedup else {})
