"""Log-mel front end of the released Gemma 4 audio encoder: 16 kHz waveform to [M, 128] features.

It reproduces Hugging Face's `Gemma4AudioFeatureExtractor` (the released processor) in plain
NumPy, masks included, but never truncates or pads to 30 s: windowing long audio is the
pipeline's job.

Axis legend: B batch, N audio samples, L samples after right padding to `pad_to_multiple_of`,
M mel frames, S samples per frame (`frame_length`), K FFT bins (`fft_length // 2 + 1`),
F mel bins (`num_mel_bins`).
"""

import math

import numpy as np

from gemma4_audio_embed.constants import FRAME_LENGTH
from gemma4_audio_embed.constants import HOP_LENGTH
from gemma4_audio_embed.constants import NUM_MEL_BINS
from gemma4_audio_embed.constants import SAMPLE_RATE

FFT_LENGTH = 2 ** math.ceil(math.log2(FRAME_LENGTH))  # 512 samples, no FFT overdrive
NUM_FFT_BINS = FFT_LENGTH // 2 + 1  # 257 bins, 31.25 Hz apart
MIN_FREQUENCY = 0.0
MAX_FREQUENCY = SAMPLE_RATE / 2  # 8000 Hz, Nyquist
MEL_FLOOR = 1e-3  # additive: log(mel + 1e-3)
PAD_TO_MULTIPLE_OF = 128  # samples, HF's default


def _htk_mel(hertz):
    return 2595.0 * np.log10(1.0 + hertz / 700.0)


def _htk_hertz(mel):
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filters(num_fft_bins, num_mel_bins, sample_rate, min_frequency, max_frequency):
    """Returns HTK triangular mel filters, no area normalisation, as `float64 [K, F]`.

    The F triangles have F + 2 edges (130 in the release) equally spaced on the HTK mel scale
    `2595 * log10(1 + f / 700)` between `min_frequency` and `max_frequency`; FFT bin k sits at
    `k * sample_rate / (2 * (num_fft_bins - 1))` Hz. With the release values, channel 0 (edges
    0, 13.8 and 27.9 Hz) falls between bins 0 and 1, so its filter is all zeros.
    """
    edges = _htk_hertz(np.linspace(_htk_mel(min_frequency), _htk_mel(max_frequency), num_mel_bins + 2))
    bin_hertz = np.arange(num_fft_bins) * (sample_rate / 2) / (num_fft_bins - 1)  # [K]
    offsets = edges[None, :] - bin_hertz[:, None]  # [K, F + 2]
    widths = np.diff(edges)  # [F + 1]
    rising = -offsets[:, :-2] / widths[:-1]  # [K, F]
    falling = offsets[:, 2:] / widths[1:]  # [K, F]
    return np.maximum(0.0, np.minimum(rising, falling))  # [K, F]


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


def _check_num_samples(num_samples):
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 0:
        raise ValueError(f"`num_samples` must be a non-negative integer. Received: num_samples={num_samples!r}")


class LogMelFrontend:
    """Log-mel features of a 16 kHz waveform, as the released Gemma 4 audio encoder expects.

    1. Right-pad the clip with zeros to L, a multiple of `pad_to_multiple_of` samples (HF's
       batching), and put `frame_length // 2` zeros before it ("semicausal"; nothing after).
    2. Frame i is padded samples `[i * hop_length, i * hop_length + frame_length)`, i.e.
       original samples `[160i - 160, 160i + 160)`, times a periodic float32 Hann window,
       right-padded with zeros to `fft_length`. HF unfolds windows of `frame_length + 1`
       samples (the extra one is for its unused preemphasis), so it emits
       `M = (L + frame_length // 2 - frame_length - 1) // hop_length + 1` frames, 0 if negative.
    3. Magnitude spectrum `|rfft|` (power 1), HTK mel filters (`mel_filters`), then
       `log(mel + mel_floor)`, cast to float32. The dtypes are HF's, for exact parity: frames
       are windowed in float32 and NumPy >= 2 runs `rfft` on them in float32; filters and log
       run in float64. (A float64 FFT moves features by up to 7e-5 on speech and 4e-4 on a
       full-scale tone, within HF's own 5e-4 budget between its NumPy and torch extractors.)
    4. Frame i is valid iff original sample `160i + 160`, the last of HF's unfold window and
       one past the frame, is real audio: `(N - 1) // 160` valid frames for N >= 1, 0 for
       N = 0. The left padding does not count against validity (frame 0 is half padding).
       Invalid frames are exactly 0.0, not the log floor. For N <= 128, L + 160 < 321, so HF
       emits no frames at all, and neither does this class.

    HF's truncation to 30 s (`max_length=480000`) is left out on purpose. Past 30 s the result
    equals HF called with `truncation=False`.

    Args:
        sample_rate: int. Sample rate of the input, in Hz. Defaults to `16000`.
        frame_length: int. Window length S, in samples. Defaults to `320` (20 ms).
        hop_length: int. Step between frames, in samples. Defaults to `160` (10 ms).
        fft_length: int. FFT size; each windowed frame is right-padded with zeros to it.
            Must be at least `frame_length`. Defaults to `512`.
        num_mel_bins: int. Number of mel channels F. Defaults to `128`.
        min_frequency: float. Lower edge of the mel filterbank, in Hz. Defaults to `0.0`.
        max_frequency: float. Upper edge of the mel filterbank, in Hz, at most
            `sample_rate / 2`. Defaults to `8000.0`.
        mel_floor: float. Positive offset added before the log. Defaults to `1e-3`.
        pad_to_multiple_of: int. The clip is right-padded to a multiple of this many samples
            before framing, which fixes M exactly as HF does. Defaults to `128`.

    Call arguments:
        waveform: float array `[N]`, mono, at `sample_rate`, nominally in [-1, 1]. It is cast
            to float32 first, as HF does.

    Returns:
        A tuple `(features, mask)`: `features` is `float32 [M, F]` and `mask` is `bool [M]`,
        True = valid, with `M = num_frames(N)` and `mask.sum() == num_valid_frames(N)`.

    Example:

    >>> frontend = LogMelFrontend()
    >>> features, mask = frontend(np.zeros(16000, dtype="float32"))
    >>> features.shape, int(mask.sum()), round(float(features[0, 0]), 4)
    ((99, 128), 99, -6.9078)
    >>> features, mask = frontend.batch([np.zeros(16000), np.zeros(8000)])
    >>> features.shape, mask.sum(axis=1).tolist()
    ((2, 99, 128), [99, 49])
    """

    def __init__(
        self,
        *,
        sample_rate=SAMPLE_RATE,
        frame_length=FRAME_LENGTH,
        hop_length=HOP_LENGTH,
        fft_length=FFT_LENGTH,
        num_mel_bins=NUM_MEL_BINS,
        min_frequency=MIN_FREQUENCY,
        max_frequency=MAX_FREQUENCY,
        mel_floor=MEL_FLOOR,
        pad_to_multiple_of=PAD_TO_MULTIPLE_OF,
    ):
        for name, value in [
            ("sample_rate", sample_rate),
            ("frame_length", frame_length),
            ("hop_length", hop_length),
            ("fft_length", fft_length),
            ("num_mel_bins", num_mel_bins),
            ("pad_to_multiple_of", pad_to_multiple_of),
        ]:
            _check_positive_int(name, value)
        if fft_length < frame_length:
            raise ValueError(
                "`fft_length` must be at least `frame_length`, since frames are zero-padded to "
                f"it, not cut. Received: fft_length={fft_length}, frame_length={frame_length}"
            )
        if not 0.0 <= min_frequency < max_frequency <= sample_rate / 2:
            raise ValueError(
                "Expected 0 <= min_frequency < max_frequency <= sample_rate / 2. Received: "
                f"min_frequency={min_frequency}, max_frequency={max_frequency}, "
                f"sample_rate={sample_rate}"
            )
        if not (math.isfinite(mel_floor) and mel_floor > 0):
            raise ValueError(f"`mel_floor` must be a positive finite number. Received: mel_floor={mel_floor!r}")
        self.sample_rate = int(sample_rate)
        self.frame_length = int(frame_length)
        self.hop_length = int(hop_length)
        self.fft_length = int(fft_length)
        self.num_mel_bins = int(num_mel_bins)
        self.min_frequency = float(min_frequency)
        self.max_frequency = float(max_frequency)
        self.mel_floor = float(mel_floor)
        self.pad_to_multiple_of = int(pad_to_multiple_of)
        self.left_padding = self.frame_length // 2  # 160 samples, semicausal
        n = np.arange(self.frame_length)
        self.window = (0.5 - 0.5 * np.cos(2 * np.pi * n / self.frame_length)).astype(np.float32)  # [S]
        self.mel_filters = mel_filters(
            self.fft_length // 2 + 1, self.num_mel_bins, self.sample_rate, self.min_frequency, self.max_frequency
        )  # [K, F]
        # Each triangular filter is a run of consecutive FFT bins (506 of the K * F weights for
        # the release): applied as those sums (`_mel`), float64, no BLAS call.
        runs = [np.flatnonzero(self.mel_filters[:, channel]) for channel in range(self.num_mel_bins)]
        assert all((np.diff(run) == 1).all() for run in runs), "a triangular filter is one run of bins"
        self._mel_bins = np.concatenate(runs)  # [nnz]
        self._mel_weights = np.concatenate([self.mel_filters[run, channel] for channel, run in enumerate(runs)])
        self._mel_starts = np.cumsum([0] + [run.size for run in runs])[:-1]  # [F]
        self._mel_empty = np.array([run.size == 0 for run in runs])  # [F], e.g. channel 0 of the release

    def _padded_length(self, num_samples):
        """Returns L, N rounded up to a multiple of `pad_to_multiple_of`."""
        _check_num_samples(num_samples)
        return self.pad_to_multiple_of * -(-num_samples // self.pad_to_multiple_of)

    def num_frames(self, num_samples):
        """Returns M, the number of frames (valid or not) HF emits for a clip of N samples."""
        unfold_length = self.frame_length + 1  # 321 samples: HF's window plus its preemphasis tap
        stop = self.left_padding + self._padded_length(num_samples) - unfold_length
        return max(0, stop // self.hop_length + 1)

    def num_valid_frames(self, num_samples):
        """Returns the number of valid frames for N samples: `(N - 1) // 160`, 0 for N = 0."""
        _check_num_samples(num_samples)
        last_tap = self.frame_length - self.left_padding  # 160: original index of frame 0's unfold end
        return max(0, (num_samples - last_tap - 1) // self.hop_length + 1)

    def __call__(self, waveform):
        waveform = np.asarray(waveform)
        if waveform.ndim != 1:
            raise ValueError(f"`waveform` must be 1-D with shape [N] (mono). Received: shape={waveform.shape}")
        if not np.issubdtype(waveform.dtype, np.floating):
            raise ValueError(
                f"`waveform` must be a floating-point array of samples in [-1, 1]. Received: dtype={waveform.dtype}"
            )
        with np.errstate(over="ignore"):  # overflow becomes inf, reported just below
            waveform = waveform.astype(np.float32)  # [N], as HF casts it
        if not np.isfinite(waveform).all():
            bad = np.flatnonzero(~np.isfinite(waveform))
            raise ValueError(
                f"`waveform` must hold finite float32 samples. Received: {bad.size} NaN or infinite "
                f"sample(s) of {waveform.size}, the first at index {bad[0]}"
            )
        num_samples = waveform.shape[0]
        num_frames = self.num_frames(num_samples)
        is_valid = np.arange(num_frames) < self.num_valid_frames(num_samples)  # [M]
        if num_frames == 0:
            return np.zeros((0, self.num_mel_bins), np.float32), is_valid
        padded = np.zeros(self.left_padding + self._padded_length(num_samples), np.float32)  # [160 + L]
        padded[self.left_padding : self.left_padding + num_samples] = waveform
        windows = np.lib.stride_tricks.sliding_window_view(padded, self.frame_length)  # [161 + L - S, S]
        frames = windows[:: self.hop_length][:num_frames] * self.window  # [M, S], float32
        spectrum = np.abs(np.fft.rfft(frames, n=self.fft_length, axis=-1))  # [M, K]
        log_mel = np.log(self._mel(spectrum) + self.mel_floor)  # [M, F], float64
        features = np.where(is_valid[:, None], log_mel, 0.0).astype(np.float32)  # [M, F]
        return features, is_valid

    def _mel(self, spectrum):
        """`spectrum @ self.mel_filters` as each filter's sum over its run of bins: `[M, K]` -> float64 `[M, F]`.

        Equal to the dense product to float64 rounding, and the float32 features it gives equal
        those of the dense product bit for bit (tested); without BLAS, whose threads would
        spin on a product this small.
        """
        if spectrum.shape[0] == 0:
            return np.zeros((0, self.num_mel_bins))
        weighted = spectrum[:, self._mel_bins] * self._mel_weights  # [M, nnz], float64
        mel = np.add.reduceat(weighted, self._mel_starts, axis=1)  # [M, F]
        mel[:, self._mel_empty] = 0.0  # reduceat gives an empty run its first element, not 0
        return mel

    def batch(self, waveforms):
        """Features of several clips, padded to the longest.

        Args:
            waveforms: list of float arrays `[N_b]`, each as in `__call__`.

        Returns:
            A tuple `(features, mask)`: `features` is `float32 [B, M, F]` and `mask` is
            `bool [B, M]`, True = valid, with `M = num_frames(max N_b)`. Row b equals the
            single-clip result on its first `num_frames(N_b)` frames; the rest is 0.0 and False.
        """
        if len(waveforms) == 0:
            raise ValueError("`waveforms` must hold at least one clip. Received: an empty list")
        results = [self(waveform) for waveform in waveforms]
        num_frames = max(features.shape[0] for features, _ in results)
        features = np.zeros((len(results), num_frames, self.num_mel_bins), np.float32)  # [B, M, F]
        mask = np.zeros((len(results), num_frames), bool)  # [B, M]
        for row, (clip_features, clip_mask) in enumerate(results):
            features[row, : clip_features.shape[0]] = clip_features
            mask[row, : clip_mask.shape[0]] = clip_mask
        return features, mask

    def get_config(self):
        return {
            "sample_rate": self.sample_rate,
            "frame_length": self.frame_length,
            "hop_length": self.hop_length,
            "fft_length": self.fft_length,
            "num_mel_bins": self.num_mel_bins,
            "min_frequency": self.min_frequency,
            "max_frequency": self.max_frequency,
            "mel_floor": self.mel_floor,
            "pad_to_multiple_of": self.pad_to_multiple_of,
        }
