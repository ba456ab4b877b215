"""Reader of manifests: JSONL (NeMo, Lhotse style; compressed or not) or one JSON array of objects.

Each entry names an audio file and an optional span. Beam's file systems decompress the file
(`.gz`, `.bz2`, `.zst`, ... by extension) before it reaches this reader.
"""

import codecs
import json
import math
import re
from collections.abc import Iterator

from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.keys import UniqueKeys
from gemma4_audio_embed.inputs.limits import DEFAULT_READ_LIMITS
from gemma4_audio_embed.inputs.limits import ReadLimits
from gemma4_audio_embed.inputs.limits import bounded_json
from gemma4_audio_embed.inputs.limits import bounded_lines
from gemma4_audio_embed.inputs.limits import json_depth
from gemma4_audio_embed.inputs.sources import BadInput
from gemma4_audio_embed.inputs.sources import metadata_of
from gemma4_audio_embed.inputs.sources import resolved_path

PATH_FIELDS = ("audio_filepath", "path")  # NeMo's name first, then the plain one
SPAN_FIELDS = ("offset", "duration")  # every other field of an entry is its metadata
_BOM = "\ufeff".encode()
_WHITESPACE = re.compile(r"\s*")


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


class _Prefixed:
    """A binary stream that gives `head` first, then the rest of `stream`."""

    def __init__(self, head: bytes, stream):
        self._head, self._stream = head, stream

    def read(self, size: int) -> bytes:
        if self._head:
            head, self._head = self._head[:size], self._head[size:]
            return head
        return self._stream.read(size)


def _array_items(stream, head: bytes, limits: ReadLimits, uri: str) -> Iterator[tuple[int, str, object]]:
    """Yields `(position, label, parsed JSON or its ValueError)` per item of a JSON array, streamed.

    `head` is the text read so far, from the `[`. An item over `max_manifest_line_bytes` or
    nested deeper than `max_json_depth` is an error of its own; about the cap plus a chunk of
    text past the items already parsed is held at most, and an item still unparsed past that,
    or one that does not parse, ends the file (an array cannot be resynchronised), after the
    items before it.
    """
    decoder, utf8 = json.JSONDecoder(), codecs.getincrementaldecoder("utf-8")("replace")
    text, index, position, done = utf8.decode(head), head.index(b"[") + 1, 0, False
    while True:
        index = _WHITESPACE.match(text, index).end()
        if text.startswith("]", index):
            return
        if position and text.startswith(",", index):
            index = _WHITESPACE.match(text, index + 1).end()
        try:
            value, end = decoder.raw_decode(text, index)
            if end >= len(text) and not done:  # a number, or the text, may go on past what was read
                raise ValueError("the item may go on")
        except (ValueError, RecursionError) as e:
            if len(text) - index > limits.max_manifest_line_bytes:
                raise ValueError(
                    f"{uri}: item {position + 1} of its JSON array is over {limits.max_manifest_line_bytes} "
                    "bytes (--max_manifest_line_bytes); the rest of the file is not read."
                ) from None
            if done:
                raise ValueError(f"{uri}: item {position + 1} of its JSON array does not parse: {e}") from None
            chunk = stream.read(1 << 16)
            text, index, done = text[index:] + utf8.decode(chunk, final=not chunk), 0, not chunk
            continue
        position += 1
        item = text[index:end].encode("utf-8", "surrogatepass")
        depth = json_depth(item)
        if len(item) > limits.max_manifest_line_bytes:
            error = f"it is over {limits.max_manifest_line_bytes} bytes (--max_manifest_line_bytes)."
            yield position, f"Item {position}", ValueError(error)
        elif depth > limits.max_json_depth:
            error = f"its JSON nests {depth} deep, over the cap of {limits.max_json_depth} (--max_json_depth)."
            yield position, f"Item {position}", ValueError(error)
        else:
            yield position, f"Item {position}", value
        index = end


def _numbered_entries(stream, uri: str, limits: ReadLimits) -> Iterator[tuple[int, str, object]]:
    """Yields `(position, label, parsed JSON or the ValueError it raised)` per entry, from 1.

    A file whose first non-blank character is `[` is one JSON array, streamed item by item;
    anything else is JSONL, one object per non-blank line. A UTF-8 byte-order mark is dropped.
    A line over `max_manifest_line_bytes` or nested deeper than `max_json_depth` is an error of
    its own entry, and the lines after it are read.
    """
    head = b""
    while not head.strip() and len(head) <= limits.max_manifest_line_bytes:
        chunk = stream.read(1 << 16)
        if not chunk:
            break
        head += chunk
    head = head.removeprefix(_BOM)
    if head.lstrip().startswith(b"["):
        yield from _array_items(stream, head, limits, uri)
        return
    for line_number, line in enumerate(bounded_lines(_Prefixed(head, stream), limits.max_manifest_line_bytes), start=1):
        label = f"Line {line_number}"
        if line is None:
            error = f"it is over {limits.max_manifest_line_bytes} bytes (--max_manifest_line_bytes); it is not read."
            yield line_number, label, ValueError(error)
        elif line.strip():
            try:
                yield line_number, label, bounded_json(line.decode("utf-8", "replace"), limits.max_json_depth)
            except ValueError as e:
                yield line_number, label, e


def manifest_inputs(
    stream, uri: str, keys: UniqueKeys | None = None, limits: ReadLimits = DEFAULT_READ_LIMITS
) -> Iterator[EncodedAudio | BadInput]:
    """Yields one input per entry of the manifest at `uri`.

    Each entry is an object with `audio_filepath` or `path` (relative paths are resolved against
    the manifest's folder), and optionally `offset` and `duration` (finite JSON numbers of
    seconds) and `id`. The input key is `<uri>#<id>`, or `<uri>#<position>` (line number in
    JSONL, item number in an array, from 1) without an id; a repeated id gets a distinct key
    from `keys`. The source is the audio file. Every field but the path, `offset` and
    `duration` (so `id`, `text`, `speaker`, ...) is the input's metadata. An entry that is not such an object yields a
    BadInput naming its line or item, as does a line over `limits.max_manifest_line_bytes` or
    one nested deeper than `limits.max_json_depth` (`ReadLimits`); the entries after it are read.
    """
    keys = UniqueKeys(uri) if keys is None else keys
    for position, label, entry in _numbered_entries(stream, uri, limits):
        try:
            if isinstance(entry, ValueError):
                raise entry
            yield _entry(entry, uri, position, keys)
        except (ValueError, TypeError) as e:
            key = keys.unique(position, position)
            yield BadInput(key=key, source=uri, error=ValueError(f"{label}: {e}"))
