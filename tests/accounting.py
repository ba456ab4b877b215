"""The accounting every pipeline test checks after a run: unique keys, and every input accounted for.

Inputs = inputs with records + inputs with dead letters + inputs with deduplicated clips
(`--dedup`, listed in the duplicates file) + counted skips (`entries_skipped`); an input that
failed part-way has both records (its earlier windows) and a dead letter. The index holds one
row per record, naming the file the record is in.
"""

import json

from apache_beam.io.filesystems import FileSystems

from gemma4_audio_embed import records


def _lines(pattern: str) -> list[str]:
    lines = []
    for match in FileSystems.match([pattern])[0].metadata_list:
        with FileSystems.open(match.path) as f:
            lines += f.read().decode().splitlines()
    return lines


def accounted_outputs(output: str, records_pattern: str = None):
    """Reads a finished run's records, dead letters and summary, asserting the accounting.

    Args:
        output: str. The run's `--output` prefix (local or `gs://`).
        records_pattern: str. Glob of its record files. Defaults to `<output>-*-of-*.tfrecord`.

    Returns:
        (records sorted by key, dead-letter entries, summary dict).
    """
    found = sorted(records.read_records(records_pattern or f"{output}-*-of-*.tfrecord"), key=lambda r: r.key)
    dead = [json.loads(line) for line in _lines(f"{output}-dead-letter-*.jsonl")]
    duplicates = [json.loads(line) for line in _lines(f"{output}-duplicates-*.jsonl")]
    with FileSystems.open(f"{output}-summary.json") as f:
        summary = json.loads(f.read())
    keys = [record.key for record in found] + [entry["key"] for entry in dead if entry["key"] is not None]
    keys += [entry["key"] for entry in duplicates]
    assert len(keys) == len(set(keys)), f"repeated keys: {sorted({key for key in keys if keys.count(key) > 1})}"
    kept = {record.key for record in found} | {entry["key"] for entry in dead}
    assert all(entry["duplicate_of"] in kept for entry in duplicates), "a duplicate names a clip never accounted"
    if duplicates:
        assert summary["repeated_audio"] == len(duplicates)
    _check_index(output, records_pattern, found)
    with_records = {record.key.rsplit("@", 1)[0] for record in found}
    with_dead_letters = {entry["input_key"] for entry in dead} | {entry["input_key"] for entry in duplicates}
    assert summary["records"] == len(found)
    assert summary["dead_letters"] == len(dead)
    assert summary["inputs"] == len(with_records | with_dead_letters) + summary["entries_skipped"], (
        f"{summary['inputs']} inputs, but {len(with_records)} with records, {len(with_dead_letters)} with "
        f"dead letters ({len(with_records & with_dead_letters)} both) and {summary['entries_skipped']} skipped"
    )
    return found, dead, summary


def _check_index(output: str, records_pattern: str, found: list) -> None:
    """The index has one row per record, with its key, tokens and hash, naming the file it is in."""
    import pyarrow.parquet

    by_input = records_pattern is not None and "-by-input/" in records_pattern
    index_files = FileSystems.match([f"{output}-by-input/*.index.parquet" if by_input else f"{output}-index-*.parquet"])
    rows = []
    for match in index_files[0].metadata_list:
        with FileSystems.open(match.path) as f:
            table = pyarrow.parquet.read_table(f).select(["key", "num_tokens", "audio_sha256", "record_file"])
        folder = FileSystems.split(match.path)[0]  # `record_file` is a name in the index's folder
        rows += [{**row, "record_file": FileSystems.join(folder, row["record_file"])} for row in table.to_pylist()]
    assert sorted((row["key"], row["num_tokens"], row["audio_sha256"]) for row in rows) == [
        (record.key, record.num_tokens, record.audio_sha256) for record in found
    ]
    for record_file in {row["record_file"] for row in rows}:
        in_file = {record.key for record in records.read_records(record_file)}
        assert in_file == {row["key"] for row in rows if row["record_file"] == record_file}
