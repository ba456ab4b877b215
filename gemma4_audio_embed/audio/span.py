"""What every reader of one input's samples shares: the span it reads, how errors name the input, `InputError`.

Axis legend: R samples at the input's rate.
"""

import numpy as np

from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.keys import undecodable_escaped


class InputError(ValueError):
    """An input that yields no (more) audio, with a message that names its source."""


def described(encoded: EncodedAudio) -> str:
    """How errors name an input: its file, or for an entry inside a container its key (`<container>#<entry>`).

    A file name that is not UTF-8 is written with its undecodable bytes as `%XX`.
    """
    inside = encoded.data is not None or encoded.samples is not None or encoded.byte_range is not None
    return encoded.key if inside else undecodable_escaped(encoded.source)


def past_the_end(source: str, offset_seconds: float, seconds: float) -> InputError:
    return InputError(f"{source}: offset {offset_seconds} s is past the end of its {seconds:.3f} s of audio.")


class Span:
    """The requested samples of a stream at `rate`: from `offset_seconds`, `duration_seconds` long."""

    def __init__(self, encoded: EncodedAudio, rate: int):
        self.start = round(encoded.offset_seconds * rate)
        duration = encoded.duration_seconds
        self.end = None if duration is None else self.start + round(duration * rate)

    def cut(self, samples: np.ndarray, position: int) -> np.ndarray:
        """The part of `samples` (starting at sample `position`) inside the span."""
        first = max(self.start - position, 0)
        last = samples.shape[0] if self.end is None else max(min(self.end - position, samples.shape[0]), 0)
        return samples[first:last]

    def done(self, position: int) -> bool:
        return self.end is not None and position >= self.end
