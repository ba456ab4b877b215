"""Clips the encoder failed on alone: `ClipFailure`, and the step that turns them into dead letters.

When a batch fails, `EncoderModelHandler.run_inference` retries it by halves down to single
clips, so only a clip that fails on its own is lost; the handler returns a `ClipFailure` in that
clip's place, carrying its own error. `SeparateFailedClips` passes the embeddings on and turns
each failure into a dead letter of Beam's form, `((ClipInfo, None), (error type, repr,
traceback lines))`, which `outputs.dead_letters` writes with stage `inference`.
"""

import traceback
from typing import NamedTuple

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from gemma4_audio_embed.reprs import ConfigRepr

FAILED_CLIPS_TAG = "failed_clips"


class ClipFailure(NamedTuple):
    """What the handler returns for a clip the encoder fails on alone.

    Attributes:
        error_type: str. The exception's class name.
        error: str. `repr` of the exception.
        traceback_lines: tuple of str. The formatted traceback.
    """

    error_type: str
    error: str
    traceback_lines: tuple

    @classmethod
    def of(cls, error: BaseException) -> "ClipFailure":
        return cls(type(error).__qualname__, repr(error), tuple(traceback.format_exception(error)))


class SeparateFailedClips(ConfigRepr, beam.DoFn):
    """`(ClipInfo, ClipEmbedding or ClipFailure)` -> the embeddings as they are; failures as dead
    letters on `FAILED_CLIPS_TAG`."""

    def process(self, element):
        info, result = element
        if isinstance(result, ClipFailure):
            yield TaggedOutput(
                FAILED_CLIPS_TAG, ((info, None), (result.error_type, result.error, result.traceback_lines))
            )
        else:
            yield element
