"""`DeviceLogMel` computes `LogMelFrontend`'s features from rows of samples (encoder/device_log_mel.py).

Parity is checked where a plain float32 DFT fails (quiet high bins of speech next to loud
low ones, a full-scale tone), on silence, and on a row packing two clips as the pipeline does.
The other backends are checked in test_backends.py.
"""

import doctest

import numpy as np
import pytest

from gemma4_audio_embed.encoder import LogMelFrontend
from gemma4_audio_embed.encoder import device_log_mel
from gemma4_audio_embed.encoder.device_log_mel import DeviceLogMel
from gemma4_audio_embed.encoder.device_log_mel import fixed_point_limbs


def _row(clips_at, num_frames):
    """One row of `num_frames * 160` samples holding each `(clip, start frame)`'s valid-frame samples."""
    frontend = LogMelFrontend()
    row = np.zeros((1, num_frames * 160), np.float32)
    for clip, start in clips_at:
        used = 160 * frontend.num_valid_frames(clip.shape[0])
        row[0, 160 * start : 160 * start + used] = clip[:used]
    return row


def _tone(seconds, amplitude=0.999, hertz=440.0):
    return (amplitude * np.sin(2 * np.pi * hertz * np.arange(int(16000 * seconds)) / 16000)).astype(np.float32)


@pytest.mark.parametrize("clip", ["speech", "quiet speech", "full-scale tone", "silence"])
def test_features_equal_the_host_front_end(speech_16k, clip):
    waveform = {
        "speech": speech_16k,
        "quiet speech": speech_16k * 1e-3,
        "full-scale tone": _tone(2.0),
        "silence": np.zeros(8000, np.float32),
    }[clip]
    expected, mask = LogMelFrontend()(waveform)
    ours = np.asarray(DeviceLogMel()(_row([(waveform, 0)], mask.shape[0]), mask[None]))[0]
    assert np.abs(ours - expected).max() <= 1e-5
    assert (ours[~mask] == 0).all()


def test_clips_packed_in_a_row_get_their_own_frames(speech_16k):
    # Clip A (speech, 20000 samples: 124 valid frames) at 0; clip B (tone, 1 s: 99 frames) at
    # frame 140 = extent 124 + 16 gap frames: the gap's zeros are B's semicausal padding. The
    # mask numbers the clips, as `packed_batch` does.
    frontend = LogMelFrontend()
    clip_a, clip_b = speech_16k[:20000], _tone(1.0, 0.5)
    features_a, mask_a = frontend(clip_a)
    features_b, mask_b = frontend(clip_b)
    mask = np.zeros((1, 240), "int32")
    mask[0, :124], mask[0, 140:239] = 1, 2
    ours = np.asarray(DeviceLogMel()(_row([(clip_a, 0), (clip_b, 140)], 240), mask))[0]
    assert np.abs(ours[:124] - features_a[mask_a]).max() <= 1e-5
    assert np.abs(ours[140:239] - features_b[mask_b]).max() <= 1e-5
    assert not ours[124:140].any() and not ours[239:].any()


def test_fixed_point_limbs_are_small_integers_that_sum_to_the_values():
    values = np.random.default_rng(0).uniform(-1, 1, 1000)
    limbs = fixed_point_limbs(values, num_limbs=5, bits=7)
    for i, limb in enumerate(limbs, start=1):
        integers = limb.astype(np.float64) * 2.0 ** (7 * i)
        assert (integers == np.round(integers)).all() and np.abs(integers).max() <= 2**7
    assert np.abs(sum(limb.astype(np.float64) for limb in limbs) - values).max() <= 2.0**-36


def test_docstring_example_runs():
    assert doctest.testmod(device_log_mel, extraglobs={"np": np}).failed == 0
