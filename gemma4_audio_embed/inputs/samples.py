"""Decoded samples as the pipeline takes them: mono float32 in [-1, 1], from any PCM or float layout.

Data sets store decoded audio (a Parquet `{array, sampling_rate}` cell, a TFDS sample list) and
FFmpeg hands over frames in its own sample formats; both become `float32 [R]` here, scaled as
libsndfile and FFmpeg convert integers to float.

Axis legend: R samples at the input's rate, C channels.
"""

import numpy as np

# FFmpeg's packed sample format names and the NumPy types of their samples (native byte order).
SAMPLE_DTYPES = {
    "u8": np.dtype(np.uint8),
    "s16": np.dtype(np.int16),
    "s32": np.dtype(np.int32),
    "s64": np.dtype(np.int64),
    "flt": np.dtype(np.float32),
    "dbl": np.dtype(np.float64),
}
_PCM_FORMATS = {np.dtype(np.uint8): "u8", np.dtype(np.int16): "s16", np.dtype(np.int32): "s32"}
# Full scale of each integer sample format, as libsndfile and FFmpeg convert to float.
_INTEGER_SCALES = {"u8": 128.0, "s16": 32768.0, "s32": 2.0**31, "s64": 2.0**63}


def mono_samples(samples: np.ndarray, sample_format: str = "flt") -> np.ndarray:
    """Channels averaged, as float32 in [-1, 1]: `[C, R]` (or `[R]`) of `sample_format` -> `float32 [R]`.

    Args:
        samples: `[C, R]` or `[R]` array of samples in `sample_format`.
        sample_format: str. FFmpeg's packed name: `u8`, `s16`, `s32`, `s64` (integers scaled by
            their full scale, `u8` centred on 128) or `flt`, `dbl` (taken as they are).
    """
    if sample_format in _INTEGER_SCALES:
        samples = samples.astype(np.float32)
        if sample_format == "u8":
            samples -= 128.0
        samples *= np.float32(1.0 / _INTEGER_SCALES[sample_format])
    else:
        samples = samples.astype(np.float32, copy=False)
    if samples.ndim == 1:
        return samples
    return samples[0] if samples.shape[0] == 1 else samples.mean(axis=0, dtype=np.float32)  # [R]


def float_samples(samples: np.ndarray) -> np.ndarray:
    """Decoded samples of a data set, `[R]`, as `float32 [R]` in [-1, 1].

    Floats are taken as they are; int16, int32 and uint8 are PCM scaled by their full scale;
    int64 holds 16-bit values, as TFDS's `Audio` feature stores PCM. Raises ValueError for
    int64 values outside the 16-bit range and for other types.
    """
    if samples.dtype.kind == "f":
        return samples.astype(np.float32, copy=False)
    if samples.dtype == np.int64:
        if samples.size and (samples.min() < -32768 or samples.max() > 32767):
            raise ValueError(f"Its int64 samples leave the 16-bit range: {samples.min()} to {samples.max()}.")
        samples = samples.astype(np.int16)
    sample_format = _PCM_FORMATS.get(samples.dtype)
    if sample_format is None:
        raise ValueError(f"Expected float or 8/16/32-bit integer samples. Received dtype {samples.dtype}.")
    return mono_samples(samples, sample_format)
