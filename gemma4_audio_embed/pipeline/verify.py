"""`gemma4-embed verify OUTPUT_PREFIX`: checks a finished output whole, prints a short table, exits 1 on any fault.

Checks, over every record file of the output (sharded `<output>-SSSSS-of-NNNNN` or per input
`<output>-by-input/`, TFRecord or ArrayRecord):
- framing: TFRecord lengths and crc32c, ArrayRecord chunks; a truncated or altered file fails;
- every record parses as an embedding record with finite values of its stated shape;
- keys are unique across the output (a record file copied under another name fails);
- one model fingerprint spans the output, the one its stamp names;
- the shards are all there (every SSSSS of NNNNN, one NNNNN);
- the index has one row per record, naming the record's file, tokens and hash;
- the counts of records and tokens equal the summary's (for sharded output: a `--skip_existing`
  summary counts only its last run), and the summary's run wrote the dead letters it counts;
- nothing is left behind: no temporary folder or file of a killed run, no output lock (a lock
  means a run is writing, or was killed before it could remove it).
"""

import argparse
import collections
import json
import os
import posixpath
import sys
import time

import numpy as np
import pyarrow.parquet
from apache_beam.io.filesystems import FileSystems

from gemma4_audio_embed.inputs.keys import input_key_of
from gemma4_audio_embed.outputs.commit import leftovers
from gemma4_audio_embed.outputs.layout import RECORD_SUFFIXES
from gemma4_audio_embed.outputs.layout import SHARD_NAME
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.outputs.schema import decoded_example
from gemma4_audio_embed.pipeline import console
from gemma4_audio_embed.records import record_file_payloads

_MAX_LISTED = 10  # violations of one kind listed before the rest are counted


def _matched(pattern: str) -> list[str]:
    return sorted(metadata.path for metadata in FileSystems.match([pattern])[0].metadata_list)


def record_files(output: str) -> tuple[list[str], bool]:
    """`(record files of the output, in any record format; whether they are per input)`."""
    layout = OutputLayout(output)
    sharded = [path for path in _matched(f"{output}-*-of-*") if layout.is_sharded_record_file(path)]
    per_input = [path for path in _matched(f"{layout.by_input_folder}/*") if path.endswith(RECORD_SUFFIXES)]
    return sharded + per_input, bool(per_input) and not sharded


_UNREADABLE = object()  # a file that is there but is not what it should be (already a violation)


def _json(path: str, violations: "_Violations"):
    """The JSON object in `path`; None when there is no such file; `_UNREADABLE` (and a violation
    naming the file) when it is not a JSON object."""
    if not FileSystems.exists(path):
        return None
    try:
        with FileSystems.open(path) as f:
            value = json.loads(f.read())
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, found a {type(value).__name__}")
        return value
    except (ValueError, UnicodeDecodeError) as error:  # json's JSONDecodeError is a ValueError
        violations.add("unreadable", f"{path}: {type(error).__name__}: {error}")
        return _UNREADABLE


def _index_rows(output: str, per_input: bool, violations: "_Violations") -> list[dict]:
    """The rows of every index file; one that Parquet cannot read is a violation naming it."""
    pattern = OutputLayout(output, per_input=per_input).index_glob
    rows = []
    for path in _matched(pattern):
        try:
            with FileSystems.open(path) as f:
                table = pyarrow.parquet.read_table(f).select(["key", "num_tokens", "audio_sha256", "record_file"])
        except (pyarrow.ArrowException, OSError, KeyError, ValueError) as error:
            violations.add("unreadable", f"{path}: {type(error).__name__}: {error}")
            continue
        rows += table.to_pylist()
    return rows


class _Violations:
    """Violations by kind, each kind listing its first `_MAX_LISTED` instances."""

    def __init__(self):
        self.by_kind = collections.defaultdict(list)

    def add(self, kind: str, detail: str) -> None:
        self.by_kind[kind].append(detail)

    def __len__(self) -> int:
        return sum(len(details) for details in self.by_kind.values())

    def lines(self) -> list[str]:
        lines = []
        for kind, details in self.by_kind.items():
            lines += [f"VIOLATION {kind}: {detail}" for detail in details[:_MAX_LISTED]]
            if len(details) > _MAX_LISTED:
                lines.append(f"VIOLATION {kind}: ... and {len(details) - _MAX_LISTED} more")
        return lines


def _check_shards(files: list[str], violations: _Violations) -> None:
    totals = collections.defaultdict(set)  # NNNNN -> SSSSS present
    for path in files:
        match = SHARD_NAME.search(posixpath.basename(path))
        if match is None:
            violations.add(
                "mixed",
                f"{path} is a per-input record file beside sharded ones (--skip_existing into a plain run's prefix)",
            )
            continue
        shard, total = map(int, match.groups())
        totals[total].add(shard)
    if len(totals) > 1:
        violations.add("shards", f"files of {len(totals)} different shard counts: {sorted(totals)}")
    for total, shards in totals.items():
        missing = sorted(set(range(total)) - shards)
        extra = sorted(shards - set(range(total)))
        if missing:
            violations.add("shards", f"shards {missing} of {total} are missing")
        if extra:
            violations.add("shards", f"shards {extra} lie outside 0..{total - 1}")


def verify(output: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Checks the output at prefix `output`; returns `(table rows, violation lines)`.

    A file it cannot read as what it should be (a summary that is not JSON, an index Parquet
    cannot open, a mix of sharded and per-input record files) is a violation, not a crash.
    """
    table, violations = _checked(output)
    return table, violations.lines()


def _checked(output: str) -> tuple[list[tuple[str, str]], _Violations]:
    try:
        return _verify(output)
    except Exception as error:  # noqa: BLE001 - whatever breaks the check is a fault of the output
        violations = _Violations()
        violations.add("unreadable", f"{type(error).__name__}: {error}")
        return [("output", output)], violations


def _verify(output: str) -> tuple[list[tuple[str, str]], _Violations]:
    violations = _Violations()
    files, per_input = record_files(output)
    if not files:
        violations.add("records", f"no record file matches {output}-SSSSS-of-NNNNN.* or {output}-by-input/*")
    elif not per_input:
        _check_shards(files, violations)
    seen = {}  # key -> file
    fingerprints = collections.Counter()
    by_key = {}  # key -> (file, num_tokens, audio_sha256)
    tokens, seconds = 0, 0.0
    for path in files:
        try:
            for position, payload in enumerate(record_file_payloads(path)):
                try:
                    record = decoded_example(payload)
                except ValueError as e:
                    violations.add("parse", f"{path} record {position}: {e}")
                    continue
                if not np.isfinite(record.embedding).all():
                    violations.add("finite", f"{record.key} in {path} holds non-finite values")
                if record.key in seen:
                    violations.add("unique keys", f"{record.key} is in {seen[record.key]} and in {path}")
                    continue
                seen[record.key] = path
                fingerprints[record.model_fingerprint] += 1
                by_key[record.key] = (posixpath.basename(path), record.num_tokens, record.audio_sha256)
                tokens += record.num_tokens
                seconds += record.duration_seconds
        except ValueError as e:
            violations.add("framing", str(e))
    layout = OutputLayout(output)
    stamp = _json(layout.stamp, violations)
    if len(fingerprints) > 1:
        counts = ", ".join(
            f"{fingerprint[:16]}: {console.counted(count, 'record')}"
            for fingerprint, count in fingerprints.most_common()
        )
        violations.add("fingerprint", f"{len(fingerprints)} model fingerprints in one output ({counts})")
    if stamp is None:
        violations.add("stamp", f"{layout.stamp} is missing")
    elif stamp is not _UNREADABLE and fingerprints and set(fingerprints) != {stamp.get("model_fingerprint")}:
        violations.add(
            "fingerprint", f"the stamp names {str(stamp.get('model_fingerprint'))[:16]}, records carry others"
        )
    rows = _index_rows(output, per_input, violations)
    index_keys = collections.Counter(row["key"] for row in rows)
    if len(rows) != len(by_key) or set(index_keys) != set(by_key):
        violations.add(
            "index",
            f"{console.counted(len(rows), 'index row')} for {console.counted(len(by_key), 'record')}; "
            f"{console.counted(len(set(by_key) - set(index_keys)), 'record')} without a row, "
            f"{console.counted(len(set(index_keys) - set(by_key)), 'row')} without a record",
        )
    for row in rows:
        found = (row["record_file"], row["num_tokens"], row["audio_sha256"])
        if row["key"] in by_key and found != by_key[row["key"]]:
            differ = [name for name, a, b in zip(("file", "tokens", "hash"), found, by_key[row["key"]]) if a != b]
            violations.add(
                "index",
                f"the row of {row['key']} disagrees with its record in {', '.join(differ)}: "
                f"row {found}, record {by_key[row['key']]}",
            )
    summary = _json(layout.summary, violations)
    if summary is None:
        violations.add("summary", f"{layout.summary} is missing")
    elif (
        summary is not _UNREADABLE
        and not per_input
        and (summary.get("records"), summary.get("tokens"))
        != (
            len(by_key),
            tokens,
        )
    ):
        violations.add(
            "summary",
            f"the summary counts {_counts(summary.get('records'), summary.get('tokens'))}, "
            f"the files hold {len(by_key):,} and {tokens:,}",
        )
    readable_summary = summary if isinstance(summary, dict) else None
    if readable_summary is not None and not per_input:
        _check_accounting(output, readable_summary, by_key, violations)
    found = leftovers(layout)
    if found:
        violations.add(
            "leftovers",
            f"{len(found):,} temporary {'file or folder' if len(found) == 1 else 'files or folders'} of runs: {', '.join(found[:5])}",
        )
    if FileSystems.exists(layout.lock):
        with FileSystems.open(layout.lock) as f:
            holder = f.read().decode(errors="replace").strip()
        violations.add("lock", f"{layout.lock} is there: a run is writing this output, or was killed ({holder[:300]})")
    table = [
        ("record files", f"{len(files)} ({'per input' if per_input else 'sharded'})"),
        ("records", f"{len(by_key):,}"),
        ("tokens", f"{tokens:,}"),
        ("audio hours", f"{seconds / 3600:.4f}"),
        ("fingerprints", ", ".join(fingerprint[:16] for fingerprint in fingerprints) or "-"),
        ("index rows", str(len(rows))),
        (
            "summary",
            "absent"
            if summary is None
            else "unreadable"
            if summary is _UNREADABLE
            else _counts(summary.get("records"), summary.get("tokens")),
        ),
    ]
    return table, violations


def _jsonl(pattern: str, violations: _Violations) -> list[dict]:
    """The JSON objects of every line of the files `pattern` matches; a line that is none is a
    violation naming its file and line."""
    entries = []
    for path in _matched(pattern):
        with FileSystems.open(path) as f:
            lines = f.read().decode(errors="replace").splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError as error:
                violations.add("unreadable", f"{path} line {number}: {error}")
                continue
            if isinstance(entry, dict):
                entries.append(entry)
            else:
                violations.add("unreadable", f"{path} line {number}: expected a JSON object")
    return entries


def _count_of(value, noun: str) -> str:
    """`1 record`, `25 records` from a summary's count; as written when not a whole number."""
    return console.counted(value, noun) if isinstance(value, int) else f"{value} {noun}s"


def _counts(records, tokens) -> str:
    """`1 record, 25 tokens` from a summary's counts."""
    return f"{_count_of(records, 'record')}, {_count_of(tokens, 'token')}"


def _check_accounting(output: str, summary: dict, by_key: dict, violations: _Violations) -> None:
    """Every input of the summary has records, dead letters or duplicates, or was skipped; no key twice."""
    layout = OutputLayout(output)
    folder = FileSystems.split(output)[0]
    runs_files = summary.get("dead_letter_files")  # this run's; older summaries name none
    dead = (
        _jsonl(layout.dead_letter_glob, violations)
        if runs_files is None
        else [entry for name in runs_files for entry in _jsonl(FileSystems.join(folder, name), violations)]
    )
    duplicates = _jsonl(layout.duplicates_glob, violations)
    if summary.get("dead_letters") != len(dead):
        violations.add(
            "accounting",
            f"the summary counts {_count_of(summary.get('dead_letters'), 'dead letter')}, the files hold {len(dead):,}",
        )
    keys = collections.Counter([entry["key"] for entry in dead + duplicates if entry.get("key") is not None])
    repeated = sorted(key for key, count in keys.items() if count > 1 or key in by_key)
    if repeated:
        violations.add(
            "unique keys",
            f"{console.counted(len(repeated), 'key')} of dead letters or duplicates {'repeats' if len(repeated) == 1 else 'repeat'}, e.g. {repeated[0]}",
        )
    inputs = {input_key_of(key) for key in by_key} | {entry.get("input_key") for entry in dead + duplicates}
    accounted = len(inputs - {None}) + summary.get("entries_skipped", 0)
    if summary.get("inputs") != accounted:
        violations.add(
            "accounting",
            f"the summary counts {_count_of(summary.get('inputs'), 'input')}; records, dead letters and duplicates "
            f"account for {accounted} (with {summary.get('entries_skipped', 0)} skipped entries)",
        )


def main(argv=None) -> int:
    """`gemma4-embed verify OUTPUT_PREFIX`; returns the exit status: 0 when sound, 1 on any violation."""
    parser = argparse.ArgumentParser(prog="gemma4-embed verify", description=__doc__.splitlines()[0])
    parser.add_argument("output", help="The --output prefix of the run, local or gs://.")
    args = parser.parse_args(argv)
    if args.output.endswith("/") or os.path.isdir(args.output):
        print(
            f"gemma4-embed verify: error: {args.output!r} is a folder; give the run's --output prefix, "
            "such as out/run1/embeddings for out/run1/embeddings-00000-of-00001.tfrecord.",
            file=sys.stderr,
        )
        return 2
    if not _matched(f"{args.output}-*"):
        print(
            f"gemma4-embed verify: error: no file is named {args.output}-...: no run wrote to this --output "
            "prefix (is it spelled as the run's --output?).",
            file=sys.stderr,
        )
        return 2
    start = time.monotonic()
    table, violations = _checked(args.output)
    table.append(("checked in", f"{time.monotonic() - start:.1f} s"))
    width = max(len(name) for name, _ in table)
    lines = [f"{name:<{width}}  {value}" for name, value in table] + violations.lines()
    lines.append(f"{args.output}: {'FAILED, ' + console.counted(len(violations), 'violation') if violations else 'OK'}")
    console.print_out("\n".join(lines))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
