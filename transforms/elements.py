"""The element types that flow between the pipeline's steps: encoded inputs, clips and their keys.

Axis legend: N samples at 16 kHz, M mel frames, F mel bins.

Keys are stable strings built from the input: an input key is the source URI, or
`<container URI>#<member, id or index>` for an entry inside a tar, TFRecord, Parquet or
manifest file (then `#<position>` when the id repeats in its file); a clip key is
`<input key>@<segment index>`. Each part is written with `key_part`, which escapes the
separators, so no two inputs or clips can share a key however their names are spelled.
"""

import hashlib
import json
import re
import urllib.parse
from typing import NamedTuple
from typing import Optional

import numpy as np

SAMPLE_RATE = 16000  # Hz. The rate LogMelFrontend expects; ComputeFeatures checks it.
MEL_FRAMES_PER_SECOND = 100  # LogMelFrontend's 10 ms hop; ComputeFeatures checks it.
SAMPLES_PER_FRAME = SAMPLE_RATE // MEL_FRAMES_PER_SECOND  # 160 samples, one hop


class EncodedAudio(NamedTuple):
    """One input's audio before decoding.

    Either `data` holds the encoded file (a tar member, TFRecord feature or Parquet cell in any
    format FFmpeg reads), or `samples` holds audio already decoded (a Parquet `{array,
    sampling_rate}` cell, a TFRecord sample list), or both are None and the audio is streamed
    from `source` when decoded, so that long files are never held whole in memory.

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
    """

    key: str
    source: str
    data: Optional[bytes]
    offset_seconds: float = 0.0
    duration_seconds: Optional[float] = None
    samples: Optional[np.ndarray] = None
    sample_rate: Optional[int] = None
    metadata: Optional[dict] = None


class ClipInfo(NamedTuple):
    """Everything about a clip except its samples: the key under which it is batched and written.

    Attributes:
        key: str. The clip key, `<input_key>@<segment_index>`.
        input_key: str. Key of the input the clip was cut from.
        source: str. URI of the file the audio came from.
        segment_index: int. Position of the window in its input, from 0.
        start_seconds: float. Start of the window in the source audio, offset included.
        num_samples: int. Length N of the clip at 16 kHz.
        audio_sha256: str. Hex SHA-256 of the window's little-endian float32 samples at
            16 kHz (`window_sha256`): equal audio from any container hashes the same.
            Defaults to `""`.
        metadata: str. The input's metadata as a UTF-8 JSON object (`metadata_json`).
            Defaults to `"{}"`.
    """

    key: str
    input_key: str
    source: str
    segment_index: int
    start_seconds: float
    num_samples: int
    audio_sha256: str = ""
    metadata: str = "{}"

    @property
    def duration_seconds(self) -> float:
        return self.num_samples / SAMPLE_RATE


class Clip(NamedTuple):
    """A decoded window of one input.

    Attributes:
        info: ClipInfo. Key and position of the clip.
        waveform: `float32 [N]`, mono, 16 kHz.
    """

    info: ClipInfo
    waveform: np.ndarray


def key_part(text: str) -> str:
    """`text` as a part of a key: `%`, `#` and `@` percent-encoded (`%25`, `%23`, `%40`), as in URLs.

    A file named `a.wav@0` is then `a.wav%400`, not window 0 of `a.wav`; a tar member or id
    `spk#1` is `spk%231`, not position 1 of `spk`. Other characters stay as they are.
    """
    return text.replace("%", "%25").replace("#", "%23").replace("@", "%40")


def input_file(key: str) -> str:
    """The URI of the file an input or clip key comes from (for a manifest entry, the manifest).

    The inverse of `key_part` on the key's first part: its separators are escaped, so the first
    `#` or `@` ends it.
    """
    return urllib.parse.unquote(re.split("[#@]", key, maxsplit=1)[0])


def clip_key(input_key: str, segment_index: int) -> str:
    """Returns the key of window `segment_index` of input `input_key`."""
    return f"{input_key}@{segment_index}"


def window_sha256(waveform: np.ndarray) -> str:
    """Hex SHA-256 of `float32 [N]` samples as little-endian float32 bytes."""
    return hashlib.sha256(np.ascontiguousarray(waveform, "<f4").tobytes()).hexdigest()


def metadata_json(metadata: Optional[dict]) -> str:
    """`metadata` as the JSON object records carry: keys sorted, non-ASCII kept as UTF-8 text."""
    return json.dumps(metadata or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
