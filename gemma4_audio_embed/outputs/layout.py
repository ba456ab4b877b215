"""`OutputLayout`: every path and glob the job writes, skips, reads back or verifies under one `--output` prefix.

    <output>-SSSSS-of-NNNNN<suffix>                  records, sharded by sha256(key)
    <output>-index-SSSSS-of-NNNNN.parquet            the index of that shard's records
    <output>-by-input/<sha256(URI)[:32]><suffix>     records of one input file (--skip_existing)
    <output>-by-input/<hash>.index.parquet           their index
    <output>-dead-letter-<run>-SSSSS-of-NNNNN.jsonl  inputs and clips of run <run> that gave no record
    <output>-duplicates-<run>-SSSSS-of-NNNNN.jsonl   clips run <run> did not embed (--dedup)
    <output>-stamp.json                              what made the embeddings (model, front end, dtypes)
    <output>-summary.json                            the run's counts, written by the job's last step
    <output>-report.html                             `gemma4-embed report`'s page; a run that commits removes it
    <output>-lock.json                               the live run holding the prefix (outputs.lock)
    <output>.temp-<run>/spill/, .../shards/          a run's spilled records and its shards before they
                                                     are moved into place; removed when the run ends well

`<suffix>` is `.tfrecord`, `.tfrecord.gz` or `.array_record` (`record_suffix`); `<run>` is a run id,
`YYYYMMDDTHHMMSSZ-<6 hex digits>` (`new_run_id`). No other module spells these names.
"""

import dataclasses
import hashlib
import posixpath
import re
import secrets
import time

RECORD_FORMATS = ("tfrecord", "array_record")
OUTPUT_COMPRESSIONS = ("none", "gzip")
ARRAY_RECORD_SUFFIX = ".array_record"
RECORD_SUFFIXES = (".tfrecord", ".tfrecord.gz", ARRAY_RECORD_SUFFIX)
INDEX_SUFFIX = ".index.parquet"
BY_INPUT = "-by-input"
SHARD_NAME = re.compile(r"-(\d{5})-of-(\d{5})\.")  # where a sharded file's name says SSSSS and NNNNN
TEMPORARY_MARK = ".tmp-"  # `<final name>.tmp-<uuid4 hex>`: a file being written (outputs.atomic)
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")


def new_run_id() -> str:
    """A fresh run id: UTC launch time and 6 random hex digits, e.g. `20261205T081500Z-3fa2c1`; ids sort by time."""
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(3)}"


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
        return ARRAY_RECORD_SUFFIX
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

    def is_index_file(self, path: str) -> bool:
        """Whether `path` is a sharded index file of this prefix."""
        name = re.escape(posixpath.basename(self.prefix))
        return re.fullmatch(rf"{name}-index-\d{{5}}-of-\d{{5}}\.parquet", posixpath.basename(path)) is not None

    # Dead letters and duplicates of each run, each written by Beam's WriteToText as one shard.
    def dead_letter_prefix(self, run_id: str) -> str:
        return f"{self.prefix}-dead-letter-{run_id}"

    @property
    def dead_letter_glob(self) -> str:
        """The dead letters of every run (files of earlier layouts, without a run id, too)."""
        return f"{self.prefix}-dead-letter-*-of-*.jsonl"

    def run_dead_letter_glob(self, run_id: str) -> str:
        """The dead letters of run `run_id`."""
        return f"{self.dead_letter_prefix(run_id)}-*-of-*.jsonl"

    def dead_letter_run(self, path: str) -> str | None:
        """The run id in the name of dead-letter file `path`; None for a file without one (earlier layouts)."""
        name = re.escape(posixpath.basename(self.prefix))
        found = re.fullmatch(
            rf"{name}-dead-letter-(\d{{8}}T\d{{6}}Z-[0-9a-f]+)-\d{{5}}-of-\d{{5}}\.jsonl", posixpath.basename(path)
        )
        return found.group(1) if found else None

    def duplicates_prefix(self, run_id: str) -> str:
        return f"{self.prefix}-duplicates-{run_id}"

    @property
    def duplicates_glob(self) -> str:
        return f"{self.prefix}-duplicates-*-of-*.jsonl"

    # What a live run holds, and what a killed one leaves behind.
    @property
    def lock(self) -> str:
        return f"{self.prefix}-lock.json"

    def temp_folder(self, run_id: str) -> str:
        """Run `run_id`'s temporary folder, beside the prefix (`<output>.temp-<run>`, which no `<output>-*` glob matches)."""
        return f"{self.prefix}.temp-{run_id}"

    def spill_folder(self, run_id: str) -> str:
        return f"{self.temp_folder(run_id)}/spill"

    def staging_folder(self, run_id: str) -> str:
        """Where run `run_id` writes its sharded files before its last step moves them into place."""
        return f"{self.temp_folder(run_id)}/shards"

    @property
    def leftover_globs(self) -> tuple[str, ...]:
        """Globs of what runs leave behind when killed or out of disk: temporary folders, files being
        written under a temporary name, and the temporary folders of Beam's text sinks."""
        folder, name = posixpath.split(self.prefix)
        return (
            f"{self.prefix}.temp-*",
            f"{self.prefix}-*{TEMPORARY_MARK}*",
            f"{self.by_input_folder}/*{TEMPORARY_MARK}*",
            posixpath.join(folder, f"beam-temp-{name}-*"),
        )

    # One file each.
    @property
    def stamp(self) -> str:
        return f"{self.prefix}-stamp.json"

    @property
    def summary(self) -> str:
        return f"{self.prefix}-summary.json"

    @property
    def report(self) -> str:
        return f"{self.prefix}-report.html"

    def outputs(self, dedup: bool = False) -> dict[str, str]:
        """The globs a summary lists: records, dead letters (of every run), index and, with `--dedup`, duplicates."""
        globs = {"records": self.records_glob, "dead_letters": self.dead_letter_glob, "index": self.index_glob}
        return globs | ({"duplicates": self.duplicates_glob} if dedup else {})
