"""Per-clip log-mel features with `encoder.LogMelFrontend`, keeping only the valid frames, or,
with features on the device, the samples those frames read.

Axis legend: N samples at 16 kHz, Mv valid mel frames, F mel bins.
"""

import numpy as np

from gemma4_audio_embed.audio.clips import Clip
from gemma4_audio_embed.backends import encoder_module
from gemma4_audio_embed.backends import has_accelerator
from gemma4_audio_embed.constants import FRAMES_PER_SECOND
from gemma4_audio_embed.constants import HOP_LENGTH
from gemma4_audio_embed.constants import SAMPLE_RATE
from gemma4_audio_embed.metrics import FEATURES_ON_DEVICE
from gemma4_audio_embed.metrics import TallyingDoFn
from gemma4_audio_embed.reprs import ConfigRepr


class ComputeFeatures(ConfigRepr, TallyingDoFn):
    """Turns each Clip into `(ClipInfo, float32 [Mv, F])`, its valid log-mel frames, or, with
    features on the device, into `(ClipInfo, float32 [Mv * 160])`, the samples they read.

    Only the valid prefix is kept: the encoder's valid outputs do not depend on how far a clip
    is padded, so the batching step pads to its own lengths. The samples of the Mv valid
    frames are the clip's first `160 * Mv`: frame i reads `[160i - 160, 160i + 160)`, zeros
    before the clip. Raises ValueError (a dead letter under `with_exception_handling`) when
    the clip is shorter than `min_clip_seconds`, yields no valid frame (N <= 160 samples), or
    holds a non-finite sample.

    Args:
        keras_backend: str. Backend to import the encoder package under.
        min_clip_seconds: float. Shortest clip to embed. Defaults to `0.0` (any clip with at
            least one valid frame).
        features_on_device: bool or None. Leave log-mel to the compiled encoder program
            (`make_predict_fn(features_on_device=True)`). None (default): on when the worker
            has a GPU or TPU (`has_accelerator`), off on a CPU. Noted in the tally as the
            `features_on_device` setting.
    """

    def __init__(self, *, keras_backend: str, min_clip_seconds: float = 0.0, features_on_device: bool | None = None):
        if not min_clip_seconds >= 0:
            raise ValueError(f"`min_clip_seconds` must be >= 0. Received: min_clip_seconds={min_clip_seconds!r}")
        self.keras_backend = keras_backend
        self.min_clip_seconds = min_clip_seconds
        self.features_on_device = features_on_device

    def setup(self):
        super().setup()
        self._frontend = encoder_module(self.keras_backend).LogMelFrontend()
        rates = (self._frontend.sample_rate, self._frontend.sample_rate // self._frontend.hop_length)
        if rates != (SAMPLE_RATE, FRAMES_PER_SECOND):
            raise ValueError(
                f"LogMelFrontend runs at {rates[0]} Hz with {rates[1]} frames per second; the "
                f"pipeline decodes to {SAMPLE_RATE} Hz and buckets {FRAMES_PER_SECOND} frames per second."
            )
        self._on_device = self.features_on_device
        if self._on_device is None:
            self._on_device = has_accelerator(self.keras_backend)

    def start_bundle(self):
        super().start_bundle()
        self._noted = False

    def process(self, clip: Clip):
        info = clip.info
        if info.duration_seconds < self.min_clip_seconds:
            raise ValueError(
                f"{info.key} lasts {info.duration_seconds:.3f} s, shorter than "
                f"--min_clip_seconds={self.min_clip_seconds}."
            )
        if not self._noted:
            self.tally.note(FEATURES_ON_DEVICE, self._on_device)
            self._noted = True
        if self._on_device:
            num_valid = self._frontend.num_valid_frames(info.num_samples)
        else:
            features, is_valid = self._frontend(clip.waveform)  # [M, F], [M]
            num_valid = int(is_valid.sum())
        if num_valid == 0:
            raise ValueError(
                f"{info.key} has {info.num_samples} samples, too few for one valid mel frame (161 needed)."
            )
        if not self._on_device:
            yield info, features[:num_valid]  # [Mv, F]
            return
        waveform = np.asarray(clip.waveform, np.float32)  # [N]
        if not np.isfinite(waveform).all():  # as LogMelFrontend checks it on the host
            bad = np.flatnonzero(~np.isfinite(waveform))
            raise ValueError(
                f"`waveform` must hold finite float32 samples. Received: {bad.size} NaN or infinite "
                f"sample(s) of {info.key}, the first at index {bad[0]}"
            )
        yield info, waveform[: num_valid * HOP_LENGTH]  # [Mv * 160]
