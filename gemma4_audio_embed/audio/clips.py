"""The decoded clip: a window of at most `max_clip_seconds` of one input, at 16 kHz, with its key and place.

Axis legend: N samples at 16 kHz.
"""

import hashlib
from typing import NamedTuple

import numpy as np

from gemma4_audio_embed.constants import SAMPLE_RATE


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


def window_sha256(waveform: np.ndarray) -> str:
    """Hex SHA-256 of `float32 [N]` samples as little-endian float32 bytes."""
    return hashlib.sha256(np.ascontiguousarray(waveform, "<f4").tobytes()).hexdigest()
