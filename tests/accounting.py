"""The accounting every pipeline test checks after a run: unique keys, and every input accounted for.

Inputs = inputs with records + inputs with dead letters + counted skips (`entries_skipped`);
an input that failed part-way has both records (its earlier windows) and a dead letter.
"""

import json

from apache_beam.io.filesystems import FileSystems

from transforms import records


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
    with FileSystems.open(f"{output}-summary.json") as f:
        summary = json.loads(f.read())
    keys = [record.key for record in found] + [entry["key"] for entry in dead if entry["key"] is not None]
    assert len(keys) == len(set(keys)), f"repeated keys: {sorted({key for key in keys if keys.count(key) > 1})}"
    with_records = {record.key.rsplit("@", 1)[0] for record in found}
    with_dead_letters = {entry["input_key"] for entry in dead}
    assert summary["records"] == len(found)
    assert summary["dead_letters"] == len(dead)
    assert summary["inputs"] == len(with_records | with_dead_letters) + summary["entries_skipped"], (
        f"{summary['inputs']} inputs, but {len(with_records)} with records, {len(with_dead_letters)} with "
        f"dead letters ({len(with_records & with_dead_letters)} both) and {summary['entries_skipped']} skipped"
    )
    return found, dead, summary
