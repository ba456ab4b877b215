"""Per-clip log-mel features with `encoder.LogMelFrontend`, keeping only the valid frames.

Axis legend: N samples at 16 kHz, Mv valid mel frames, F mel bins.
"""

import apache_beam as beam

from transforms.elements import MEL_FRAMES_PER_SECOND
from transforms.elements import SAMPLE_RATE
from transforms.elements import Clip
from transforms.encoder_module import encoder_module


class ComputeFeatures(beam.DoFn):
    """Turns each Clip into `(ClipInfo, float32 [Mv, F])`, its valid log-mel frames.

    Only the valid prefix is kept: the encoder's valid outputs do not depend on how far a clip
    is padded, so the batching step pads to its own lengths. Raises ValueError (a dead letter
    under `with_exception_handling`) when the clip is shorter than `min_clip_seconds`, yields
    no valid frame (N <= 160 samples), or holds a non-finite sample.

    Args:
        keras_backend: str. Backend to import the encoder package under.
        min_clip_seconds: float. Shortest clip to embed. Defaults to `0.0` (any clip with at
            least one valid frame).
    """

    def __init__(self, keras_backend: str, min_clip_seconds: float = 0.0):
        if not min_clip_seconds >= 0:
            raise ValueError(
                f"`min_clip_seconds` must be >= 0. Received: min_clip_seconds={min_clip_seconds!r}"
            )
        self.keras_backend = keras_backend
        self.min_clip_seconds = min_clip_seconds

    def setup(self):
        self._frontend = encoder_module(self.keras_backend).LogMelFrontend()
        rates = (self._frontend.sample_rate, self._frontend.sample_rate // self._frontend.hop_length)
        if rates != (SAMPLE_RATE, MEL_FRAMES_PER_SECOND):
            raise ValueError(
                f"LogMelFrontend runs at {rates[0]} Hz with {rates[1]} frames per second; the "
                f"pipeline decodes to {SAMPLE_RATE} Hz and buckets {MEL_FRAMES_PER_SECOND} frames per second."
            )

    def process(self, clip: Clip):
        info = clip.info
        if info.duration_seconds < self.min_clip_seconds:
            raise ValueError(
                f"{info.key} lasts {info.duration_seconds:.3f} s, shorter than "
                f"--min_clip_seconds={self.min_clip_seconds}."
            )
        features, is_valid = self._frontend(clip.waveform)  # [M, F], [M]
        num_valid = int(is_valid.sum())
        if num_valid == 0:
            raise ValueError(
                f"{info.key} has {info.num_samples} samples, too few for one valid mel frame (161 needed)."
            )
        yield info, features[:num_valid]  # [Mv, F]
