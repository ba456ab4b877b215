"""The job's check of its own output: what is on disk against what the graph counted, before the run may succeed.

After every file is written, `CheckOutput` compares:
- each record file the writers report with the disk: there, at the size written, once (a file
  two writers wrote holds only one writer's records), its index beside it with one row per record;
- for sharded output, every shard SSSSS of NNNNN reported;
- the records in those files with the records the encoder step counted (`clips_embedded`), and
  when they differ, names the keys missing (the keys the encoder step emitted, less the keys in
  the index files);
- the lines of this run's dead-letter (and duplicates) files with the dead letters (and repeated
  clips) the steps counted.
Any difference raises `OutputCheckError`, which fails the job: the run's sharded files stay in
its staging folder and the output's previous contents are untouched. A silent loss, whatever
the runner lost and wherever, becomes a failed run naming what is missing.
"""

import collections
import json
import posixpath

import apache_beam as beam
import pyarrow.parquet
from apache_beam.io.filesystems import FileSystems

from gemma4_audio_embed.metrics import CLIPS_EMBEDDED
from gemma4_audio_embed.metrics import DEAD_LETTERS
from gemma4_audio_embed.metrics import REPEATED_AUDIO
from gemma4_audio_embed.metrics import summed_tallies
from gemma4_audio_embed.outputs.layout import SHARD_NAME
from gemma4_audio_embed.reprs import ConfigRepr

MAX_NAMED_KEYS = 20  # missing keys listed in the error; the rest are counted


class OutputCheckError(RuntimeError):
    """The files a run wrote disagree with what its steps counted; the message says how."""


def _size(path: str):
    match = FileSystems.match([path])[0].metadata_list
    return match[0].size_in_bytes if match else None


def _lines(path: str) -> int:
    with FileSystems.open(path) as f:
        return sum(1 for line in f if line.strip())


def _index_keys(path: str) -> list:
    with FileSystems.open(path) as f:
        return pyarrow.parquet.read_table(f, columns=["key"]).column("key").to_pylist()


def _index_rows(path: str) -> int:
    with FileSystems.open(path) as f:
        return pyarrow.parquet.ParquetFile(f).metadata.num_rows


def file_problems(written: list, sharded: bool) -> list[str]:
    """What is wrong with the files the writers report (`WrittenFile`s), each checked on disk."""
    problems = []
    reports = collections.Counter(report.record_file for report in written)
    twice = sorted(path for path, count in reports.items() if count > 1)
    if twice:
        problems.append(
            f"{len(twice)} record files were written by more than one writer, so each holds one writer's "
            f"records only: {', '.join(twice[:MAX_NAMED_KEYS])}"
        )
    for report in written:
        size = _size(report.written_record_file)
        if size is None:
            problems.append(f"{report.written_record_file} is missing")
        elif size != report.size_in_bytes:
            problems.append(f"{report.written_record_file} holds {size} bytes, {report.size_in_bytes} were written")
        if _size(report.written_index_file) is None:
            problems.append(f"{report.written_index_file} is missing")
        elif (rows := _index_rows(report.written_index_file)) != report.records:
            problems.append(f"{report.written_index_file} has {rows} rows for {report.records} records")
    if sharded and written:
        counts = collections.defaultdict(set)
        for report in written:
            shard, total = map(int, SHARD_NAME.search(posixpath.basename(report.record_file)).groups())
            counts[total].add(shard)
        for total, shards in sorted(counts.items()):
            missing = sorted(set(range(total)) - shards)
            if missing or len(counts) > 1:
                problems.append(
                    f"shards {missing or sorted(shards)} of {total} were {'not ' if missing else ''}written"
                )
    return problems


def missing_keys(written: list, expected_keys) -> list[str]:
    """The keys of `expected_keys` (any iterable) that no index file of `written` holds."""
    on_disk = set()
    for report in written:
        if _size(report.written_index_file) is not None:
            on_disk.update(_index_keys(report.written_index_file))
    return sorted(key for key in expected_keys if key not in on_disk)


def output_problems(
    *, written: list, totals: dict, expected_keys, dead_letter_files: list, duplicates_files: list, sharded: bool
) -> list[str]:
    """Every disagreement between the files of a run and its counts, as sentences (none when sound).

    Args:
        written: list of `WrittenFile`. What the writers report.
        totals: dict. The run's summed tallies (`metrics.summed_tallies`).
        expected_keys: iterable of str. The keys of the records the encoder step emitted; read
            only when records are missing.
        dead_letter_files: list of str. This run's dead-letter files.
        duplicates_files: list of str. This run's duplicates files (`--dedup`), else empty.
        sharded: bool. Sharded output (every shard must be there), not per input.
    """
    problems = file_problems(written, sharded)
    expected = totals.get(CLIPS_EMBEDDED, 0)
    found = sum(report.records for report in {report.record_file: report for report in written}.values())
    if found != expected:
        missing = missing_keys(written, expected_keys)
        named = ", ".join(missing[:MAX_NAMED_KEYS])
        if len(missing) > MAX_NAMED_KEYS:
            named += f" and {len(missing) - MAX_NAMED_KEYS} more"
        problems.append(
            f"the encoder step made {expected} records, the files written hold {found}"
            + (f"; missing keys: {named}" if missing else "")
        )
    dead = sum(_lines(path) for path in dead_letter_files)
    if dead != totals.get(DEAD_LETTERS, 0):
        problems.append(
            f"the steps counted {totals.get(DEAD_LETTERS, 0)} dead letters, {dead_letter_files} hold {dead}"
        )
    if duplicates_files:
        duplicates = sum(_lines(path) for path in duplicates_files)
        if duplicates != totals.get(REPEATED_AUDIO, 0):
            problems.append(
                f"the steps counted {totals.get(REPEATED_AUDIO, 0)} repeated clips, {duplicates_files} list {duplicates}"
            )
    return problems


class _Check(beam.DoFn):
    def __init__(self, sharded: bool):
        self.sharded = sharded

    def process(self, _, tallies, written, keys, dead_letter_files, duplicates_files):
        totals = summed_tallies(tallies)
        problems = output_problems(
            written=list(written),
            totals=totals,
            expected_keys=keys,
            dead_letter_files=list(dead_letter_files),
            duplicates_files=list(duplicates_files),
            sharded=self.sharded,
        )
        if problems:
            raise OutputCheckError(
                "The job's check of its output failed, so the run did not finish: "
                + "; ".join(problems)
                + ". Nothing was moved into place; rerun the job."
            )
        yield json.dumps({"records": totals.get(CLIPS_EMBEDDED, 0), "files": len(written)})


class CheckOutput(ConfigRepr, beam.PTransform):
    """Fails the job when its files disagree with its counts (`output_problems`); else emits one element.

    Applied to the job's tallies (`metrics.TALLY_TAG` outputs, flattened).

    Args:
        written: PCollection of `WrittenFile` (`WriteRecords`).
        keys: PCollection of str. The keys of the records made.
        dead_letter_files: PCollection of str. This run's dead-letter files.
        duplicates_files: PCollection of str, or None without `--dedup`.
        sharded: bool. Sharded output rather than per input.

    Returns:
        A PCollection of one element, once every file is written and checked.

    Raises:
        OutputCheckError: in the job, naming every disagreement and the missing keys.
    """

    def __init__(self, *, written, keys, dead_letter_files, duplicates_files=None, sharded: bool):
        super().__init__()
        self.written = written
        self.keys = keys
        self.dead_letter_files = dead_letter_files
        self.duplicates_files = duplicates_files
        self.sharded = sharded

    def expand(self, tallies):
        pipeline = tallies.pipeline
        duplicates = self.duplicates_files
        if duplicates is None:
            duplicates = pipeline | "NoDuplicates" >> beam.Create([])
        return (
            pipeline
            | "Once" >> beam.Create([None])
            | "Check"
            >> beam.ParDo(
                _Check(self.sharded),
                beam.pvalue.AsList(tallies),
                beam.pvalue.AsList(self.written),
                beam.pvalue.AsIter(self.keys),
                beam.pvalue.AsList(self.dead_letter_files),
                beam.pvalue.AsList(duplicates),
            )
        )
