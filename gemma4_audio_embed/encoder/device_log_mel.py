"""`DeviceLogMel`: the released log-mel front end in `keras.ops`, so the compiled forward pass can
start from 16 kHz samples instead of host-computed features.

It computes what `LogMelFrontend` computes (framing, periodic Hann window, |DFT| with 512 bins
of zero padding, HTK mel filters, `log(mel + 1e-3)`, invalid frames 0.0) on rows of samples laid
out so that mel frame j of a row reads samples `[160j - 160, 160j + 160)` of that row.

The host computes the spectrum to near float64 accuracy, and the mel floor makes the feature of
a quiet bin sensitive to absolute errors of about 1e-8: a plain float32 DFT or FFT is off by up
to 2e-4 on speech. So the DFT here is exact up to its inputs' splitting: samples and DFT
matrix are split into `NUM_LIMBS` fixed-point limbs of `LIMB_BITS` bits, each limb product
is a small integer times a power of two, and each sum of 320 of them stays below 2^24, so
every matmul is exact in float32, whatever precision the device's matmul uses (bfloat16 and
TF32 inputs hold the limbs exactly, accumulation is float32); the partial products are added
with error-free TwoSum steps. The mel matmul splits the
magnitudes and filters into bfloat16 limbs the same way.

Axis legend: B rows, M mel frames, P hops (160 samples), S samples per frame (320),
K DFT outputs (2 x 257 bins: cosine and sine), F mel bins, L limbs.
"""

import keras
import ml_dtypes
import numpy as np

from gemma4_audio_embed.encoder.gemma4_audio_encoder import frame_validity
from gemma4_audio_embed.encoder.log_mel_frontend import LogMelFrontend

LIMB_BITS = 7  # 320 products of two 7-bit limbs: 320 * 2^14 < 2^24, exact in float32
NUM_LIMBS = 5  # 35 bits of each sample below SAMPLE_SCALE: spectrum error ~1e-10
SAMPLE_SCALE = 2.0  # samples are split as fractions of 2; |sample| < 3 keeps every sum exact


def fixed_point_limbs(values: np.ndarray, num_limbs: int = NUM_LIMBS, bits: int = LIMB_BITS) -> list:
    """`values` (|v| <= 1, float64) as `num_limbs` float32 arrays whose sum approximates them to
    2^-(bits * num_limbs + 1); limb i is an integer times 2^-(bits * i), at most 2^bits."""
    limbs, rest = [], np.asarray(values, np.float64)
    for i in range(1, num_limbs + 1):
        limb = np.round(rest * 2.0 ** (bits * i)) / 2.0 ** (bits * i)
        limbs.append(limb.astype(np.float32))
        rest = rest - limb
    return limbs


def _bfloat16_limbs(x, count):
    """`x` (float32) as `count` float32 tensors, each exactly a bfloat16 value, summing to `x`."""
    limbs = []
    for _ in range(count - 1):
        limb = keras.ops.cast(keras.ops.cast(x, "bfloat16"), "float32")
        limbs.append(limb)
        x = x - limb
    return limbs + [x]


class DeviceLogMel(keras.layers.Layer):
    """Log-mel features of rows of 16 kHz samples, equal to `LogMelFrontend` within 1e-6.

    Stages, for each row of `M * 160` samples:
    1. Hops of 160 samples `[B, M, 160]`, one hop of zeros put before them (the front end's
       semicausal padding); frame j is hops j and j + 1: `[B, M, 320]`, times the float32
       periodic Hann window (the host's rounding).
    2. `[cos | sin]` DFT for the 257 bins of a 512-point transform (the frame's zero padding
       contributes nothing), exact by fixed-point limbs (module docstring); magnitude.
    3. HTK mel filters (bfloat16 limbs, float32 sums), `log(mel + mel_floor)`; invalid frames 0.0.

    Only the released front end (`LogMelFrontend()`'s defaults) is supported.

    Call arguments:
        samples: float32 `[B, M * 160]`. Frame j of a row covers samples `[160j - 160,
            160j + 160)`; a clip placed at sample `160 * s`, zeros before it back to
            `160 * s - 160`, gives frames `s, s + 1, ...` equal to its own frames `0, 1, ...`.
        mask: bool `[B, M]`, True = valid frame, or int32 clip numbers, 0 = invalid frame
            (`Gemma4AudioEncoder`).

    Returns:
        float32 `[B, M, 128]`, 0.0 at invalid frames.

    Example:

    >>> layer = DeviceLogMel()
    >>> samples = np.zeros((1, 1600), "float32")
    >>> features = layer(samples, np.arange(10)[None] < 9)
    >>> tuple(features.shape), round(float(features[0, 0, 5]), 4), float(features[0, 9, 5])
    ((1, 10, 128), -6.9078, 0.0)
    """

    def __init__(self, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        frontend = LogMelFrontend()
        self.hop_length = frontend.hop_length  # 160
        self.frame_length = frontend.frame_length  # 320
        if self.frame_length != 2 * self.hop_length:
            raise ValueError(f"DeviceLogMel needs frames of two hops. Received: {self.frame_length}, {self.hop_length}")
        self.num_mel_bins = frontend.num_mel_bins
        self.mel_floor = frontend.mel_floor
        self.window = frontend.window  # float32 [S]
        n, k = np.arange(self.frame_length), np.arange(frontend.fft_length // 2 + 1)
        angles = 2 * np.pi * np.outer(n, k) / frontend.fft_length  # [S, 257]
        self.dft_limbs = fixed_point_limbs(np.concatenate([np.cos(angles), np.sin(angles)], axis=1))  # L x [S, K]
        filters = frontend.mel_filters  # float64 [257, F]
        self.mel_limbs = []
        for _ in range(3):
            limb = filters.astype(ml_dtypes.bfloat16).astype(np.float64)
            self.mel_limbs.append(limb.astype(np.float32))
            filters = filters - limb

    def call(self, samples, mask):
        mask = frame_validity(mask)  # [B, M]
        batch, num_frames = keras.ops.shape(mask)[0], keras.ops.shape(mask)[1]
        hops = keras.ops.reshape(samples, (batch, num_frames, self.hop_length))  # [B, M, P]
        hops = keras.ops.pad(hops, ((0, 0), (1, 0), (0, 0)))  # [B, M + 1, P]
        frames = keras.ops.concatenate([hops[:, :-1], hops[:, 1:]], axis=-1) * self.window  # [B, M, S]
        rest = frames / SAMPLE_SCALE
        sample_limbs = []
        for i in range(1, NUM_LIMBS + 1):
            scale = 2.0 ** (LIMB_BITS * i)
            limb = keras.ops.round(rest * scale) / scale
            sample_limbs.append(limb)
            rest = rest - limb
        # Exact partial products, added smallest first (order i + j descending) with TwoSum:
        # the cross terms are far larger than a quiet bin, so plain float32 adds would lose it.
        total = error = None
        for order in range(NUM_LIMBS + 1, 1, -1):
            for i in range(1, order):
                part = keras.ops.matmul(sample_limbs[i - 1], self.dft_limbs[order - i - 1])  # [B, M, K]
                if total is None:
                    total, error = part, keras.ops.zeros_like(part)
                    continue
                new_total = total + part
                part_rounded = new_total - total
                error = error + ((total - (new_total - part_rounded)) + (part - part_rounded))
                total = new_total
        dft = (total + error) * SAMPLE_SCALE
        bins = keras.ops.shape(dft)[-1] // 2
        magnitude = keras.ops.sqrt(dft[..., :bins] ** 2 + dft[..., bins:] ** 2)  # [B, M, 257]
        magnitude_limbs = _bfloat16_limbs(magnitude, 3)
        mel = None
        for order in range(4, 1, -1):
            for i in range(1, order):
                part = keras.ops.matmul(magnitude_limbs[i - 1], self.mel_limbs[order - i - 1])  # [B, M, F]
                mel = part if mel is None else mel + part
        log_mel = keras.ops.log(mel + self.mel_floor)  # [B, M, F]
        return keras.ops.where(mask[..., None], log_mel, 0.0)

    def compute_output_shape(self, samples_shape, mask_shape):
        return (*mask_shape, self.num_mel_bins)
