"""`EncodedAudio`: one input as a reader finds it, before decoding, and the JSON its metadata travels as.

Axis legend: R samples at the input's rate, C channels.
"""

import json
from typing import NamedTuple

import numpy as np


class EncodedAudio(NamedTuple):
    """One input's audio before decoding.

    Either `data` holds the encoded file (a tar member, TFRecord feature or Parquet cell in any
    format FFmpeg reads), or `samples` holds audio already decoded (a Parquet `{array,
    sampling_rate}` cell, a TFRecord sample list), or both are None and the audio is streamed
    from `source` when decoded (from its `byte_range` when set: a large member of an
    uncompressed tar), so that long files are never held whole in memory.

    Attributes:
        key: str. The input key.
        source: str. URI of the file the audio bytes come from (the container for members).
        data: bytes or None. The encoded audio, or None to read `source`.
        offset_seconds: float. Where to start in the audio. Defaults to `0.0`.
        duration_seconds: float or None. How much audio to read from `offset_seconds`; None
            reads to the end. Defaults to None.
        samples: `float32 [R]` or `[R, C]` in [-1, 1], or None. Decoded audio. Defaults to None.
        sample_rate: int or None. Rate of `samples` in Hz. Defaults to None.
        metadata: dict or None. The input's own fields (a manifest's `text`, a Parquet
            column, a WebDataset `.txt` member, a TFRecord feature), JSON-ready, carried to
            every record of the input. None means none. Defaults to None.
        byte_range: `(offset, size)` in bytes, or None. Where the encoded file sits inside
            `source` when it is streamed from part of it. Defaults to None (all of `source`).
    """

    key: str
    source: str
    data: bytes | None
    offset_seconds: float = 0.0
    duration_seconds: float | None = None
    samples: np.ndarray | None = None
    sample_rate: int | None = None
    metadata: dict | None = None
    byte_range: tuple[int, int] | None = None


def metadata_json(metadata: dict | None) -> str:
    """`metadata` as the JSON object records carry: keys sorted, non-ASCII kept as UTF-8 text."""
    return json.dumps(metadata or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
