"""Which run speaks for an input when several `--skip_existing` runs wrote into one output.

A `--skip_existing` rerun embeds again the inputs an earlier run left without records, so an
output can hold an earlier run's dead letter for an input a later run embedded, or failed again.
The latest run that wrote records or dead letters for an input speaks for it; what earlier runs
said of it is superseded. Run ids start with their UTC launch second (`layout.new_run_id`).
"""

from collections.abc import Iterable

from gemma4_audio_embed.inputs.keys import file_key_of


def launched_before(run_id: str | None, than: str | None) -> bool:
    """Whether run `run_id` was launched before run `than`; False when either is unknown (None)."""
    return run_id is not None and than is not None and run_id[:16] < than[:16]


def standing_dead_letters(entries: Iterable[tuple[str | None, dict]], written_by: dict) -> list[dict]:
    """The dead letters no later run superseded, in the order given.

    Args:
        entries: `(run id, entry)` per dead letter: the run that wrote its file (None for a file
            of an earlier layout) and the entry, with its `input_key`. An entry of an unknown run
            or naming no input always stands.
        written_by: dict. Input key -> id of the run whose records hold that input (its
            `--skip_existing` index file names it); inputs without records are absent. What a
            later run wrote of a member (records or dead letters) also supersedes an earlier
            dead letter of its whole container (a tar, TFRecord, Parquet or manifest file that
            could not be read).

    Returns:
        The entries whose run is the latest to write records or dead letters for their input.
    """
    entries = list(entries)
    latest = {}  # input or file key -> the latest run known to have written for it

    def written(key: str, run_id: str | None) -> None:
        for spoken_for in (key, file_key_of(key)):  # what a run wrote of a member speaks for its container too
            if spoken_for not in latest or launched_before(latest[spoken_for], run_id):
                latest[spoken_for] = run_id

    for key, run_id in written_by.items():
        written(key, run_id)
    for run_id, entry in entries:
        if entry.get("input_key") is not None:
            written(entry["input_key"], run_id)
    return [
        entry
        for run_id, entry in entries
        if entry.get("input_key") is None or not launched_before(run_id, latest[entry.get("input_key")])
    ]
