"""Reader of JSONL manifests: one JSON object per line naming an audio file and an optional span."""

import json
from typing import Iterator
from typing import Union

from transforms.elements import EncodedAudio
from transforms.sources import BadInput
from transforms.sources import resolved_path

PATH_FIELDS = ("audio_filepath", "path")  # NeMo's name first, then the plain one


def _entry(line: str, uri: str, line_number: int) -> EncodedAudio:
    entry = json.loads(line)
    if not isinstance(entry, dict):
        raise ValueError(f"Expected a JSON object. Received: {line[:200]!r}")
    path = next((entry[field] for field in PATH_FIELDS if isinstance(entry.get(field), str)), None)
    if path is None:
        raise ValueError(f"Expected an `audio_filepath` or `path` string. Received fields: {sorted(entry)}")
    offset = float(entry.get("offset") or 0.0)
    duration = entry.get("duration")
    duration = None if duration is None else float(duration)
    if offset < 0 or (duration is not None and duration <= 0):
        raise ValueError(
            f"Expected offset >= 0 and duration > 0. Received: offset={offset}, duration={duration}"
        )
    key = f"{uri}#{entry['id']}" if entry.get("id") is not None else f"{uri}#{line_number}"
    return EncodedAudio(
        key=key, source=resolved_path(path, uri), data=None, offset_seconds=offset, duration_seconds=duration
    )


def manifest_inputs(stream, uri: str) -> Iterator[Union[EncodedAudio, BadInput]]:
    """Yields one input per non-blank line of the JSONL manifest at `uri`.

    Each line is an object with `audio_filepath` or `path` (relative paths are resolved against
    the manifest's folder), and optionally `offset` and `duration` in seconds and `id`. The input
    key is `<uri>#<id>`, or `<uri>#<line number>` (from 1) without an id; the source is the
    audio file. A line that is not such an object yields a BadInput.
    """
    for line_number, raw in enumerate(stream, start=1):
        line = raw.decode("utf-8", errors="replace").strip()
        if not line:
            continue
        try:
            yield _entry(line, uri, line_number)
        except (ValueError, TypeError) as e:
            yield BadInput(
                key=f"{uri}#{line_number}", source=uri, error=ValueError(f"Line {line_number}: {e}")
            )
