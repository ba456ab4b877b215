"""Readers of each input format: each turns one file into its inputs, as EncodedAudio or BadInput.

A reader is a generator `inputs(stream, uri, keys, ...)` over an open binary stream of the file
at `uri`. It yields one `EncodedAudio` per input it finds, one `BadInput` per entry that is
unusable on its own (a manifest line that is not JSON, a tar sample without audio) and one
`SkippedInput` per entry that is not an input by convention (a macOS `._*` AppleDouble member),
and it raises when the file itself cannot be read, after yielding the inputs found before the
fault. Every key comes from `keys` (`UniqueKeys`), so a repeated id or member name never gives
two inputs the same key.

Each input also carries its own fields as `metadata`, a JSON-ready dict (`json_ready`): what
sits beside the audio in its manifest line, Parquet row, tar sample or TFRecord example.
"""

import datetime
import decimal
import math
from typing import NamedTuple

from apache_beam.io.filesystems import FileSystems

# Extensions of the audio (and audio-bearing video) files FFmpeg decodes, as in tar member names.
AUDIO_EXTENSIONS = frozenset(
    {
        "flac", "wav", "wave", "rf64", "w64", "aif", "aiff", "aifc", "caf", "au", "snd",
        "mp3", "mp2", "ogg", "oga", "opus", "spx", "m4a", "m4b", "aac", "mp4", "m4v", "mov",
        "3gp", "webm", "mkv", "mka", "wma", "wmv", "asf", "amr", "awb", "ac3", "wv", "ape",
        "avi", "mpeg", "mpg", "ts", "gsm", "voc", "vox", "sph", "nist", "tta", "dts",
    }
)  # fmt: skip


class BadInput(NamedTuple):
    """An entry of an input file that yields no audio, and why.

    Attributes:
        key: str. The input key the entry would have had.
        source: str. URI of the file holding the entry.
        error: Exception. What is wrong with it.
    """

    key: str
    source: str
    error: Exception


class SkippedInput(NamedTuple):
    """An entry that is not an input by convention, counted as `entries_skipped` in the summary.

    Attributes:
        key: str. The input key the entry would have had.
        source: str. URI of the file holding the entry.
        reason: str. Why it is skipped.
    """

    key: str
    source: str
    reason: str


def resolved_path(path: str, uri: str) -> str:
    """Returns `path` as is when absolute (or a URI), else joined to the folder of the file at `uri`."""
    if "://" in path or path.startswith("/"):
        return path
    return FileSystems.join(FileSystems.split(uri)[0], path)


class _Skipped:
    """Marks a value records do not carry (binary data)."""


SKIPPED = _Skipped()


def json_ready(value):
    """`value` as JSON holds it, or `SKIPPED` for binary data (bytes, in a list or dict or alone).

    Strings, ints, bools and None stay; a non-finite float becomes None (JSON has no NaN);
    dates, times and decimals become their ISO or decimal text; lists and dicts are converted
    item by item, and one with binary data inside is skipped whole.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return SKIPPED
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (datetime.timedelta, decimal.Decimal)):
        return str(value.total_seconds() if isinstance(value, datetime.timedelta) else value)
    if hasattr(value, "item") and not hasattr(value, "__len__"):  # a NumPy scalar
        return json_ready(value.item())
    if isinstance(value, dict):
        items = {str(name): json_ready(item) for name, item in value.items()}
        return SKIPPED if any(item is SKIPPED for item in items.values()) else items
    if isinstance(value, (list, tuple)):
        items = [json_ready(item) for item in value]
        return SKIPPED if any(item is SKIPPED for item in items) else items
    return str(value)


def metadata_of(fields: dict):
    """`{name: json_ready(value)}` over `fields` without the skipped (binary) ones; None when empty."""
    ready = {name: json_ready(value) for name, value in fields.items()}
    return {name: value for name, value in ready.items() if value is not SKIPPED} or None
