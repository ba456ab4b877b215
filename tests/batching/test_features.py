"""Tests for batching/features.py: valid-frame counts, and the per-clip errors."""

import keras
import numpy as np
import pytest

from gemma4_audio_embed.audio.clips import Clip
from gemma4_audio_embed.audio.clips import ClipInfo
from gemma4_audio_embed.batching.features import ComputeFeatures


def _clip(waveform):
    info = ClipInfo(
        key="a@0",
        input_key="a",
        source="a",
        segment_index=0,
        start_seconds=0.0,
        num_samples=waveform.shape[0],
    )
    return Clip(info, waveform)


@pytest.fixture(scope="module")
def compute_features():
    dofn = ComputeFeatures(keras_backend=keras.backend.backend())
    dofn.setup()
    dofn.start_bundle()
    return dofn


@pytest.mark.parametrize(
    "num_samples, num_valid",
    [(161, 1), (320, 1), (321, 2), (16000, 99), (16160, 100), (16161, 101)],  # floor((N - 1) / 160)
)
def test_keeps_exactly_the_valid_frames(compute_features, num_samples, num_valid):
    waveform = np.random.default_rng(0).uniform(-0.5, 0.5, num_samples).astype(np.float32)
    ((info, features),) = list(compute_features.process(_clip(waveform)))
    assert info.key == "a@0"
    assert features.shape == (num_valid, 128) and features.dtype == np.float32
    expected, mask = compute_features._frontend(waveform)
    np.testing.assert_array_equal(features, expected[mask])


@pytest.fixture(scope="module")
def samples_for_device():
    dofn = ComputeFeatures(keras_backend=keras.backend.backend(), features_on_device=True)
    dofn.setup()
    dofn.start_bundle()
    return dofn


def test_features_on_device_off_by_default_on_a_cpu(compute_features):
    assert compute_features._on_device is False


@pytest.mark.parametrize(
    "num_samples, num_valid",
    [(161, 1), (320, 1), (321, 2), (16000, 99), (16161, 101)],  # floor((N - 1) / 160)
)
def test_on_device_keeps_the_samples_of_the_valid_frames(samples_for_device, num_samples, num_valid):
    waveform = np.random.default_rng(0).uniform(-0.5, 0.5, num_samples).astype(np.float32)
    ((info, samples),) = list(samples_for_device.process(_clip(waveform)))
    assert info.key == "a@0"
    assert samples.shape == (160 * num_valid,) and samples.dtype == np.float32
    np.testing.assert_array_equal(samples, waveform[: 160 * num_valid])


@pytest.mark.parametrize("on_device", [False, True])
@pytest.mark.parametrize("num_samples", [1, 128, 160])
def test_clips_without_a_valid_frame_raise(compute_features, samples_for_device, on_device, num_samples):
    dofn = samples_for_device if on_device else compute_features
    with pytest.raises(ValueError, match="too few for one valid mel frame"):
        list(dofn.process(_clip(np.zeros(num_samples, np.float32))))


@pytest.mark.parametrize("on_device", [False, True])
@pytest.mark.parametrize("index", [7, 1599])  # 1599: past the samples of the 9 valid frames, checked all the same
def test_non_finite_samples_raise(compute_features, samples_for_device, on_device, index):
    waveform = np.zeros(1600, np.float32)
    waveform[index] = np.inf
    with pytest.raises(ValueError, match="finite"):
        list((samples_for_device if on_device else compute_features).process(_clip(waveform)))


def test_clips_shorter_than_min_clip_seconds_raise():
    dofn = ComputeFeatures(keras_backend=keras.backend.backend(), min_clip_seconds=1.0)
    dofn.setup()
    dofn.start_bundle()
    assert len(list(dofn.process(_clip(np.zeros(16000, np.float32))))) == 1
    with pytest.raises(ValueError, match="0.999 s, shorter than --min_clip_seconds=1.0"):
        list(dofn.process(_clip(np.zeros(15984, np.float32))))


def test_negative_min_clip_seconds_is_rejected():
    with pytest.raises(ValueError, match="min_clip_seconds"):
        ComputeFeatures(keras_backend="jax", min_clip_seconds=-1.0)
