"""The inputs of one output, from its index: each input's windows in order, where their records lie, and which are incomplete.

Only the Parquet index, the dead letters and the duplicates list are read here, never an
embedding. An input is complete when its windows 0, 1, ..., k-1 all have a record (with
`--dedup`, a repeated window borrows the record it repeats) and no dead letter names it (but
one of an attempt a later `--skip_existing` run superseded); any other input is listed with
the reason, so that no window is ever dropped from an example without a word.
"""

import json
from typing import NamedTuple

from gemma4_audio_embed.inputs.keys import input_key_of
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.outputs.runs import standing_dead_letters
from gemma4_audio_embed.outputs.schema import index_run_id
from gemma4_audio_embed.records import matched_paths
from gemma4_audio_embed.records import open_file

_INDEX_COLUMNS = ["key", "segment_index", "num_tokens", "record_file", "metadata"]


class WindowRecord(NamedTuple):
    """Where one window's rows are: the record `key` at `position` of `record_file`, with `num_tokens` rows."""

    key: str
    record_file: str
    position: int
    num_tokens: int


class IndexedInput(NamedTuple):
    """A complete input: its `key`, its windows in order, and its metadata (a dict)."""

    key: str
    windows: tuple
    metadata: dict


class OutputInputs(NamedTuple):
    """`complete`: the complete inputs, sorted by key; `incomplete`: `{input key: reason}` for the rest."""

    complete: list
    incomplete: dict


def _json_lines(pattern: str) -> list[tuple[str, dict]]:
    """`(file, entry)` for every JSON line of the files matching `pattern`."""
    entries = []
    for path in matched_paths(pattern):
        with open_file(path) as stream:
            entries += [(path, json.loads(line)) for line in stream.read().decode("utf-8").splitlines() if line.strip()]
    return entries


def _index_windows(output: str) -> list[tuple[WindowRecord, int, dict, str, str | None]]:
    """`(window, segment index, metadata, index file, run id)` for every row of every index file of
    `output`; the run id is the one a `--skip_existing` index file names, else None."""
    import pyarrow.parquet

    globs = [OutputLayout(output).index_glob, OutputLayout(output, per_input=True).index_glob]
    paths = [path for pattern in globs for path in matched_paths(pattern)]
    if not paths:
        raise ValueError(f"{output!r} has no index files ({' or '.join(globs)}): is it the --output of a finished run?")
    windows = []
    for path in paths:
        folder = path.rsplit("/", 1)[0]  # `record_file` is a name in the index's folder
        with open_file(path) as stream:
            table = pyarrow.parquet.read_table(stream, columns=_INDEX_COLUMNS)
        run_id = index_run_id(table.schema)
        for position, row in enumerate(table.to_pylist()):  # the index lists its file's records in their order
            window = WindowRecord(row["key"], f"{folder}/{row['record_file']}", position, row["num_tokens"])
            windows.append((window, row["segment_index"], json.loads(row["metadata"]), path, run_id))
    return windows


def output_inputs(output: str) -> OutputInputs:
    """Groups the records of the output prefix `output` (local or `gs://`) into inputs.

    Reads `<output>-index-*.parquet` (or the `--skip_existing` index files), the dead letters
    and the `--dedup` duplicates list. A dead letter of a run launched before the
    `--skip_existing` run that wrote an input's records (its index file names that run) is of
    an attempt that run superseded, and does not make the input incomplete. Raises ValueError
    when the output has no index, or when two index files list one clip (two runs' files under
    one prefix).
    """
    layout = OutputLayout(output)
    by_input, metadata, by_key = {}, {}, {}
    listed_by = {}  # clip key -> the index file listing it
    written_by = {}  # input key -> the run that wrote its --skip_existing records
    for window, segment_index, fields, index_file, run_id in _index_windows(output):
        if window.key in listed_by:
            raise ValueError(
                f"{output}: {window.key!r} is listed by two index files: {listed_by[window.key]} and {index_file}. "
                "Are two runs' files under one prefix? Give each run its own --output."
            )
        listed_by[window.key] = index_file
        by_input.setdefault(input_key_of(window.key), {})[segment_index] = window
        metadata.setdefault(input_key_of(window.key), fields)
        by_key[window.key] = window
        if run_id is not None:
            written_by[input_key_of(window.key)] = run_id
    incomplete = {}
    for _, entry in _json_lines(layout.duplicates_glob):
        kept = by_key.get(entry["duplicate_of"])
        if kept is None:
            incomplete[entry["input_key"]] = (
                f"window {entry['key']} repeats {entry['duplicate_of']}, which has no record"
            )
            continue
        segment_index = int(entry["key"].rsplit("@", 1)[1])
        by_input.setdefault(entry["input_key"], {})[segment_index] = kept  # its rows are the kept record's
    dead = [(layout.dead_letter_run(path), entry) for path, entry in _json_lines(layout.dead_letter_glob)]
    for number, entry in enumerate(standing_dead_letters(dead, written_by)):  # not those a later run superseded
        key = entry.get("input_key") or f"(dead letter {number}, which names no input)"
        incomplete.setdefault(
            key, f"dead letter at stage {entry.get('stage')!r} for {entry.get('key')}: {entry.get('error')}"
        )
    complete = []
    for key in sorted(by_input):
        if key in incomplete:
            continue
        windows = by_input[key]
        if key not in metadata:  # every window repeats another input's: no record holds this input's metadata
            incomplete[key] = "every window repeats another clip (--dedup), so no record holds its metadata"
            continue
        missing = sorted(set(range(max(windows) + 1)) - set(windows))
        if missing:
            incomplete[key] = f"windows {missing} have no record (present: {sorted(windows)})"
            continue
        complete.append(IndexedInput(key, tuple(windows[index] for index in range(len(windows))), metadata[key]))
    return OutputInputs(complete, dict(sorted(incomplete.items())))
