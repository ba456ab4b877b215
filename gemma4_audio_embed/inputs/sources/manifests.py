"""Reader of manifests: JSONL (NeMo, Lhotse style; compressed or not) or one JSON array of objects.

Each entry names an audio file and an optional span. Beam's file systems decompress the file
(`.gz`, `.bz2`, `.zst`, ... by extension) before it reaches this reader.
"""

import json
import math
from collections.abc import Iterator

from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.keys import UniqueKeys
from gemma4_audio_embed.inputs.sources import BadInput
from gemma4_audio_embed.inputs.sources import metadata_of
from gemma4_audio_embed.inputs.sources import resolved_path

PATH_FIELDS = ("audio_filepath", "path")  # NeMo's name first, then the plain one
SPAN_FIELDS = ("offset", "duration")  # every other field of an entry is its metadata
_BOM = "\ufeff"


def _seconds(entry: dict, field: str):
    """The entry's `field` as finite float seconds, or None when absent or null."""
    value = entry.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"Expected `{field}` to be a finite number of seconds. Received: {field}={value!r}")
    return float(value)


def _entry(entry, uri: str, position: int, keys: UniqueKeys) -> EncodedAudio:
    if not isinstance(entry, dict):
        raise ValueError(f"Expected a JSON object. Received: {json.dumps(entry)[:200]}")
    path = next((entry[field] for field in PATH_FIELDS if isinstance(entry.get(field), str)), None)
    if path is None:
        raise ValueError(f"Expected an `audio_filepath` or `path` string. Received fields: {sorted(entry)}")
    offset, duration = _seconds(entry, "offset") or 0.0, _seconds(entry, "duration")
    if offset < 0 or (duration is not None and duration <= 0):
        raise ValueError(f"Expected offset >= 0 and duration > 0. Received: offset={offset}, duration={duration}")
    name = entry["id"] if entry.get("id") is not None else position
    return EncodedAudio(
        key=keys.unique(name, position),
        source=resolved_path(path, uri),
        data=None,
        offset_seconds=offset,
        duration_seconds=duration,
        metadata=metadata_of({name: value for name, value in entry.items() if name not in PATH_FIELDS + SPAN_FIELDS}),
    )


def _numbered_entries(stream, uri: str) -> Iterator[tuple[int, str, object]]:
    """Yields `(position, label, parsed JSON or the ValueError it raised)` per entry, from 1.

    A file whose first non-blank character is `[` is one JSON array; anything else is JSONL,
    one object per non-blank line. A UTF-8 byte-order mark is dropped.
    """
    first, line_number = stream.readline().decode("utf-8", errors="replace").removeprefix(_BOM), 1
    while first and not first.strip():  # blank lines before the first entry
        first, line_number = stream.readline().decode("utf-8", errors="replace"), line_number + 1
    if first.lstrip().startswith("["):
        text = first + stream.read().decode("utf-8", errors="replace")
        entries = json.loads(text)  # a broken array makes the whole file unreadable
        if not isinstance(entries, list):
            raise ValueError(f"{uri} starts with '[' but does not hold a JSON array.")
        for position, entry in enumerate(entries, start=1):
            yield position, f"Item {position}", entry
        return
    line = first
    while line:
        text = line.strip()
        if text:
            try:
                yield line_number, f"Line {line_number}", json.loads(text)
            except ValueError as e:
                yield line_number, f"Line {line_number}", e
        line, line_number = stream.readline().decode("utf-8", errors="replace"), line_number + 1


def manifest_inputs(stream, uri: str, keys: UniqueKeys | None = None) -> Iterator[EncodedAudio | BadInput]:
    """Yields one input per entry of the manifest at `uri`.

    Each entry is an object with `audio_filepath` or `path` (relative paths are resolved against
    the manifest's folder), and optionally `offset` and `duration` (finite JSON numbers of
    seconds) and `id`. The input key is `<uri>#<id>`, or `<uri>#<position>` (line number in
    JSONL, item number in an array, from 1) without an id; a repeated id gets a distinct key
    from `keys`. The source is the audio file. Every field but the path, `offset` and
    `duration` (so `id`, `text`, `speaker`, ...) is the input's metadata. An entry that is not such an object yields a
    BadInput naming its line or item.
    """
    keys = UniqueKeys(uri) if keys is None else keys
    for position, label, entry in _numbered_entries(stream, uri):
        try:
            if isinstance(entry, ValueError):
                raise entry
            yield _entry(entry, uri, position, keys)
        except (ValueError, TypeError) as e:
            key = keys.unique(position, position)
            yield BadInput(key=key, source=uri, error=ValueError(f"{label}: {e}"))
