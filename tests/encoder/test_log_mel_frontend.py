"""Tests for encoder/log_mel_frontend.py: HF parity, hand-checkable values and argument errors."""

import doctest
import json
import math
import pathlib

import numpy as np
import pytest
import soundfile

from gemma4_audio_embed import constants
from gemma4_audio_embed.encoder import log_mel_frontend
from gemma4_audio_embed.encoder.log_mel_frontend import LogMelFrontend

SPEECH_PATH = pathlib.Path(__file__).parents[1] / "data" / "speech_16k.wav"
LOG_FLOOR = np.float32(math.log(1e-3))  # -6.9078


@pytest.fixture(scope="module")
def speech():
    samples, sample_rate = soundfile.read(SPEECH_PATH, dtype="float32")
    assert sample_rate == 16000 and samples.ndim == 1
    return samples  # float32 [55015], 3.44 s


@pytest.fixture(scope="module")
def hf_extractor():
    transformers = pytest.importorskip("transformers")
    return transformers.Gemma4AudioFeatureExtractor()  # release defaults, no download


def hf_features(extractor, waveform, **kwargs):
    # HF needs a list of clips: a bare 1-D array becomes one clip of shape [1, N], which
    # fails to squeeze for N >= 2 (transformers 5.24).
    out = extractor([waveform], sampling_rate=16000, **kwargs)
    return out["input_features"][0], out["input_features_mask"][0]


def speech_of_length(speech, num_samples):
    # Starts 1.25 s in, inside a word, and repeats the clip to reach any length.
    return np.resize(speech[20000:], num_samples)


class TestHuggingFaceParity:
    """Oracle: transformers' `Gemma4AudioFeatureExtractor()` with its release defaults.

    Max |diff| observed with NumPy 2.4 and transformers 5.24: 0.0 for every case here, because
    the front end reproduces HF's dtypes (float32 FFT under NumPy >= 2). The 1e-4 tolerance
    leaves room for other NumPy builds; a float64 FFT would measure 6.9e-5 on this speech.
    """

    def test_speech_clip_matches_hf(self, hf_extractor, speech):
        expected_features, expected_mask = hf_features(hf_extractor, speech)
        features, mask = LogMelFrontend()(speech)
        np.testing.assert_array_equal(mask, expected_mask)
        np.testing.assert_allclose(features, expected_features, rtol=0, atol=1e-4)

    # N -> (L, M, valid): 1 -> (128, 0, 0), 159 -> (256, 1, 0), 160 -> (256, 1, 0),
    # 161 -> (256, 1, 1), 16160 -> (16256, 101, 100), 480000 -> (480000, 2999, 2999),
    # 500000 -> (500096, 3125, 3124).
    @pytest.mark.parametrize("num_samples", [1, 159, 160, 161, 16160, 480000, 500000])
    def test_length_matches_hf(self, hf_extractor, speech, num_samples):
        waveform = speech_of_length(speech, num_samples)
        # HF truncates to max_length=480000 (30 s) by default; truncation=False makes it frame
        # all 500000 samples, which is what the front end does. Below 30 s the flag changes nothing.
        expected_features, expected_mask = hf_features(hf_extractor, waveform, truncation=False)
        features, mask = LogMelFrontend()(waveform)
        np.testing.assert_array_equal(mask, expected_mask)
        np.testing.assert_allclose(features, expected_features, rtol=0, atol=1e-4)

    def test_frame_and_valid_counts_match_hf_for_every_length_up_to_700(self, hf_extractor):
        frontend = LogMelFrontend()
        for num_samples in range(701):
            _, expected_mask = hf_features(hf_extractor, np.ones(num_samples, np.float32))
            assert frontend.num_frames(num_samples) == expected_mask.shape[0], num_samples
            assert frontend.num_valid_frames(num_samples) == expected_mask.sum(), num_samples

    def test_batch_matches_hf_padding_to_longest(self, hf_extractor, speech):
        clips = [speech, speech[:20000], speech[:161]]
        expected = hf_extractor(clips, sampling_rate=16000, return_tensors="np")
        features, mask = LogMelFrontend().batch(clips)
        np.testing.assert_array_equal(mask, expected["input_features_mask"])
        np.testing.assert_allclose(features, expected["input_features"], rtol=0, atol=1e-4)


class TestHandCheckable:
    """Release values: 16 kHz, 320-sample window, hop 160, FFT 512, 128 HTK mel bins, floor 1e-3.

    N samples are padded to L = 128 * ceil(N / 128); M = max(0, (L + 160 - 321) // 160 + 1)
    frames, of which (N - 1) // 160 are valid.
    """

    def test_release_constants(self):
        assert constants.FRAME_LENGTH == 320  # 20 ms
        assert constants.HOP_LENGTH == 160  # 10 ms
        assert constants.FRAMES_PER_SECOND == 100
        assert constants.MIN_CLIP_SAMPLES == 161  # floor((161 - 1) / 160) = 1 valid frame
        assert log_mel_frontend.FFT_LENGTH == 512  # 2 ** ceil(log2(320))
        assert log_mel_frontend.NUM_FFT_BINS == 257
        assert log_mel_frontend.MAX_FREQUENCY == 8000.0

    def test_silence_is_log_floor_on_valid_frames(self):
        features, mask = LogMelFrontend()(np.zeros(16000, np.float32))
        assert mask.all()
        np.testing.assert_array_equal(features, np.full((99, 128), LOG_FLOOR))
        assert round(float(LOG_FLOOR), 4) == -6.9078

    def test_mel_channel_zero_filter_is_empty(self):
        # Channel 0 spans 0 to 27.9 Hz (edges 0, 13.8, 27.9); FFT bins sit at 0 and 31.25 Hz.
        filters = LogMelFrontend().mel_filters
        assert filters.shape == (257, 128)
        assert not filters[:, 0].any()
        assert filters[:, 1:].any(axis=0).all()

    def test_mel_channel_zero_is_log_floor_on_speech(self, speech):
        features, mask = LogMelFrontend()(speech)
        np.testing.assert_array_equal(features[mask, 0], LOG_FLOOR)

    @pytest.mark.parametrize(
        "num_samples, expected",
        [
            (0, 0),
            (1, 0),
            (160, 0),  # frame 0 needs sample 160: (160 - 1) // 160 = 0
            (161, 1),
            (320, 1),
            (321, 2),
            (16000, 99),  # 1 s: 15999 // 160
            (16160, 100),
            (480000, 2999),  # 30 s
        ],
    )
    def test_num_valid_frames(self, num_samples, expected):
        assert LogMelFrontend().num_valid_frames(num_samples) == expected

    @pytest.mark.parametrize(
        "num_samples, expected",
        [
            (0, 0),  # L = 0
            (1, 0),  # L = 128: 128 + 160 < 321, no frame at all
            (128, 0),
            (129, 1),  # L = 256: (256 - 161) // 160 + 1
            (256, 1),
            (257, 2),  # L = 384: (384 - 161) // 160 + 1
            (16000, 99),  # L = 16000
            (16160, 101),  # L = 16256: one more frame than valid
            (480000, 2999),
            (500000, 3125),  # L = 500096; no truncation to 30 s
        ],
    )
    def test_num_frames(self, num_samples, expected):
        assert LogMelFrontend().num_frames(num_samples) == expected

    @pytest.mark.parametrize("num_samples", [0, 1, 159, 161, 16160, 55015])
    def test_output_shapes_dtypes_and_mask_count(self, speech, num_samples):
        frontend = LogMelFrontend()
        features, mask = frontend(speech_of_length(speech, num_samples))
        assert features.dtype == np.float32 and features.shape == (frontend.num_frames(num_samples), 128)
        assert mask.dtype == bool and mask.shape == (frontend.num_frames(num_samples),)
        assert mask.sum() == frontend.num_valid_frames(num_samples)

    def test_features_equal_the_dense_filterbank_product_bit_for_bit(self, speech):
        # The filters are applied as sparse runs; the features must be those of `spectrum @ filters`.
        frontend = LogMelFrontend()
        rng = np.random.default_rng(0)
        clips = [speech] + [
            (rng.uniform(1e-3, 1) * rng.standard_normal(n)).astype(np.float32) for n in (161, 4000, 33333)
        ]
        for waveform in clips:
            num_samples = waveform.shape[0]
            padded = np.zeros(frontend.left_padding + frontend._padded_length(num_samples), np.float32)
            padded[frontend.left_padding : frontend.left_padding + num_samples] = waveform
            windows = np.lib.stride_tricks.sliding_window_view(padded, frontend.frame_length)
            frames = windows[:: frontend.hop_length][: frontend.num_frames(num_samples)] * frontend.window
            spectrum = np.abs(np.fft.rfft(frames, n=frontend.fft_length, axis=-1))  # [M, K]
            dense = np.log(spectrum @ frontend.mel_filters + frontend.mel_floor)  # [M, F]
            features, mask = frontend(waveform)
            np.testing.assert_array_equal(features, np.where(mask[:, None], dense, 0.0).astype(np.float32))

    def test_mask_is_a_prefix_of_valid_frames(self, speech):
        _, mask = LogMelFrontend()(speech_of_length(speech, 16160))
        np.testing.assert_array_equal(mask, np.arange(101) < 100)

    def test_invalid_frames_are_exactly_zero(self, speech):
        features, mask = LogMelFrontend()(speech_of_length(speech, 16160))
        assert not mask[100]
        np.testing.assert_array_equal(features[100], np.zeros(128, np.float32))
        assert (features[:100] < 0).any()  # valid rows hold log values, not zeros

    def test_float64_input_gives_the_float32_result(self, speech):
        frontend = LogMelFrontend()
        np.testing.assert_array_equal(frontend(speech.astype(np.float64))[0], frontend(speech)[0])

    def test_non_default_config_shapes(self, speech):
        frontend = LogMelFrontend(frame_length=400, hop_length=200, fft_length=1024, num_mel_bins=80)
        features, mask = frontend(speech)
        assert features.shape == (frontend.num_frames(55015), 80)
        assert mask.sum() == frontend.num_valid_frames(55015) == (55015 - 201) // 200 + 1
        assert np.isfinite(features).all()

    def test_docstring_examples_run(self):
        result = doctest.testmod(log_mel_frontend, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0


class TestBatch:
    def test_batch_rows_equal_single_clip_results(self, speech):
        frontend = LogMelFrontend()
        clips = [speech, speech[:20000], speech[:161], speech[:1]]
        features, mask = frontend.batch(clips)
        assert features.shape == (4, 343, 128) and mask.shape == (4, 343)
        for row, clip in enumerate(clips):
            clip_features, clip_mask = frontend(clip)
            num_frames = clip_features.shape[0]
            np.testing.assert_array_equal(features[row, :num_frames], clip_features)
            np.testing.assert_array_equal(mask[row, :num_frames], clip_mask)

    def test_batch_padding_is_zero_and_invalid(self, speech):
        features, mask = LogMelFrontend().batch([speech, speech[:20000]])
        # 20000 samples: L = 20096, M = (20096 - 161) // 160 + 1 = 125 frames, 124 valid.
        assert mask[1].sum() == 124
        assert not mask[1, 124:].any()
        assert not features[1, 124:].any()

    def test_batch_rejects_empty_list(self):
        with pytest.raises(ValueError, match="at least one clip"):
            LogMelFrontend().batch([])


class TestConfig:
    def test_default_config_is_the_release(self):
        assert LogMelFrontend().get_config() == {
            "sample_rate": 16000,
            "frame_length": 320,
            "hop_length": 160,
            "fft_length": 512,
            "num_mel_bins": 128,
            "min_frequency": 0.0,
            "max_frequency": 8000.0,
            "mel_floor": 1e-3,
            "pad_to_multiple_of": 128,
        }

    def test_config_round_trips_through_json(self):
        frontend = LogMelFrontend(sample_rate=8000, num_mel_bins=64, max_frequency=4000.0, mel_floor=1e-5)
        config = json.loads(json.dumps(frontend.get_config()))
        assert LogMelFrontend(**config).get_config() == frontend.get_config()


class TestErrors:
    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"sample_rate": 0}, "`sample_rate` must be a positive integer. Received: sample_rate=0"),
            ({"frame_length": 320.0}, "`frame_length` must be a positive integer"),
            ({"hop_length": -160}, "`hop_length` must be a positive integer"),
            ({"fft_length": True}, "`fft_length` must be a positive integer"),
            ({"num_mel_bins": 0}, "`num_mel_bins` must be a positive integer"),
            ({"pad_to_multiple_of": 0}, "`pad_to_multiple_of` must be a positive integer"),
            ({"fft_length": 256}, "`fft_length` must be at least `frame_length`.*fft_length=256, frame_length=320"),
            ({"max_frequency": 9000.0}, "max_frequency <= sample_rate / 2.*max_frequency=9000.0"),
            ({"min_frequency": -1.0}, "0 <= min_frequency.*min_frequency=-1.0"),
            ({"min_frequency": 8000.0}, "min_frequency < max_frequency"),
            ({"mel_floor": 0.0}, "`mel_floor` must be a positive finite number. Received: mel_floor=0.0"),
            ({"mel_floor": float("inf")}, "`mel_floor` must be a positive finite number"),
        ],
    )
    def test_constructor_rejects(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            LogMelFrontend(**kwargs)

    def test_call_rejects_stereo_shape(self):
        with pytest.raises(ValueError, match=r"must be 1-D with shape \[N\].*shape=\(16000, 2\)"):
            LogMelFrontend()(np.zeros((16000, 2), np.float32))

    def test_call_rejects_integer_pcm(self):
        with pytest.raises(ValueError, match="floating-point.*dtype=int16"):
            LogMelFrontend()(np.zeros(16000, np.int16))

    def test_call_rejects_nan(self):
        waveform = np.zeros(16000, np.float32)
        waveform[[5, 9]] = np.nan
        with pytest.raises(ValueError, match="2 NaN or infinite sample.*of 16000, the first at index 5"):
            LogMelFrontend()(waveform)

    def test_call_rejects_values_that_overflow_float32(self):
        with pytest.raises(ValueError, match="1 NaN or infinite"):
            LogMelFrontend()(np.array([0.0, 1e300]))

    @pytest.mark.parametrize("method", ["num_frames", "num_valid_frames"])
    def test_counts_reject_negative_lengths(self, method):
        with pytest.raises(ValueError, match="`num_samples` must be a non-negative integer. Received: num_samples=-1"):
            getattr(LogMelFrontend(), method)(-1)
