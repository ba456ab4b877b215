"""Tests for transforms/decode_audio.py: windows, mono mix, resampling, block reads and decode errors."""

import io

import apache_beam as beam
import numpy as np
import pytest
import soundfile
import soxr
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to
from synthetic_audio import audio_bytes
from synthetic_audio import tone

from transforms.decode_audio import DecodeAudio
from transforms.decode_audio import decoded_clips
from transforms.decode_audio import window_samples
from transforms.elements import EncodedAudio


def _clips(data: bytes, max_clip_seconds=30.0, block_frames=4096, offset=0.0, duration=None):
    encoded = EncodedAudio("in.wav", "gs://b/in.wav", data, offset, duration)
    return list(decoded_clips(encoded, io.BytesIO(data), max_clip_seconds, block_frames))


class _ReadSizeRecorder(io.BytesIO):
    """A BytesIO that remembers the largest single read libsndfile asked of it."""

    largest_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.largest_read = max(self.largest_read, len(data))
        return data


@pytest.mark.parametrize(
    "seconds, max_clip_seconds, starts, lengths",
    [
        # 70 s at 16 kHz: 480000 + 480000 + 160000 samples.
        (70.0, 30.0, [0.0, 30.0, 60.0], [480000, 480000, 160000]),
        # Exactly two windows: no empty third one.
        (60.0, 30.0, [0.0, 30.0], [480000, 480000]),
        # One sample past a window: the last window has 1 sample.
        (1.0 + 1 / 16000, 1.0, [0.0, 1.0], [16000, 1]),
        # Shorter than a window: one clip.
        (0.5, 30.0, [0.0], [8000]),
    ],
)
def test_windows_table(seconds, max_clip_seconds, starts, lengths):
    clips = _clips(audio_bytes(tone(seconds), 16000, subtype="FLOAT"), max_clip_seconds)
    assert [clip.info.start_seconds for clip in clips] == starts
    assert [clip.info.num_samples for clip in clips] == lengths
    assert [clip.info.segment_index for clip in clips] == list(range(len(starts)))
    assert [clip.info.key for clip in clips] == [f"in.wav@{index}" for index in range(len(starts))]
    assert {clip.info.source for clip in clips} == {"gs://b/in.wav"}


def test_windows_of_a_16k_file_are_its_samples_unchanged():
    samples = tone(2.5)
    clips = _clips(audio_bytes(samples, 16000, subtype="FLOAT"), max_clip_seconds=1.0, block_frames=999)
    np.testing.assert_array_equal(np.concatenate([clip.waveform for clip in clips]), samples)
    assert all(clip.waveform.dtype == np.float32 for clip in clips)


def test_channels_are_averaged():
    stereo = tone(0.5, channels=2)  # [8000, 2], different noise per channel
    (clip,) = _clips(audio_bytes(stereo, 16000, subtype="FLOAT"))
    np.testing.assert_allclose(clip.waveform, stereo.mean(axis=1), atol=1e-7)


@pytest.mark.parametrize("rate, channels", [(44100, 2), (22050, 1), (8000, 1), (48000, 1)])
@pytest.mark.parametrize("block_frames", [1000, 1 << 16])
def test_block_resampling_equals_one_shot_soxr(rate, channels, block_frames):
    samples = tone(3.0, rate, channels)
    (clip,) = _clips(audio_bytes(samples, rate, subtype="FLOAT"), block_frames=block_frames)
    mono = samples if channels == 1 else samples.mean(axis=1, dtype=np.float32)
    expected = soxr.resample(mono, rate, 16000, quality="HQ")  # [48000]
    assert clip.info.num_samples == expected.shape[0] == 48000
    np.testing.assert_array_equal(clip.waveform, expected)  # soxr's stream state makes blocks seamless


def test_offset_and_duration_select_a_span():
    # 4 s at 16 kHz; read 2.5 s from 1 s, in 1 s windows: starts 1, 2, 3 s; 16000, 16000, 8000 samples.
    samples = tone(4.0)
    clips = _clips(audio_bytes(samples, 16000, subtype="FLOAT"), 1.0, offset=1.0, duration=2.5)
    assert [clip.info.start_seconds for clip in clips] == [1.0, 2.0, 3.0]
    assert [clip.info.num_samples for clip in clips] == [16000, 16000, 8000]
    np.testing.assert_array_equal(clips[0].waveform, samples[16000:32000])


def test_long_files_are_read_in_blocks():
    data = audio_bytes(tone(60.0), 16000)  # 1.9 MB of 16-bit PCM
    stream = _ReadSizeRecorder(data)
    clips = list(decoded_clips(EncodedAudio("k", "s", None), stream, 30.0, block_frames=4096))
    assert len(clips) == 2
    assert stream.largest_read <= 4096 * 2 * 2  # one block of 16-bit frames (libsndfile may read ahead 2x)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: b"", "Cannot decode"),
        (lambda: b"not audio " * 100, "Cannot decode"),
        (lambda: audio_bytes(np.zeros(0, np.float32), 16000), "holds no audio samples"),
        (lambda: audio_bytes(tone(3.0), 16000)[:20000], "truncated: its data chunk declares 96000 bytes"),
        (lambda: audio_bytes(tone(3.0), 16000, format="OGG")[:6000], "truncated"),
        (lambda: audio_bytes(tone(3.0), 16000, format="FLAC")[:9000], "decoding failed after 0 window"),
    ],
    ids=["zero_bytes", "text", "no_samples", "truncated_wav", "truncated_ogg", "truncated_flac"],
)
def test_undecodable_inputs_raise_value_error_naming_the_source(make, message):
    with pytest.raises(ValueError, match=message) as error:
        _clips(make())
    assert "gs://b/in.wav" in str(error.value)


def test_a_truncated_mp3_decodes_as_far_as_it_goes():
    # MP3 frame counts are estimates, so a cut MP3 cannot be told from a short one (README).
    data = audio_bytes(tone(3.0, 48000), 48000, format="MP3")
    (clip,) = _clips(data[: len(data) // 2])
    assert 0 < clip.info.num_samples < 48000


def test_offset_past_the_end_raises():
    with pytest.raises(ValueError, match="past the end"):
        _clips(audio_bytes(tone(1.0), 16000), offset=2.0)


def test_non_finite_samples_pass_through_to_the_features_step():
    samples = tone(1.0)
    samples[100] = np.nan
    (clip,) = _clips(audio_bytes(samples, 16000, subtype="FLOAT"))
    assert np.isnan(clip.waveform[100])


@pytest.mark.parametrize("seconds, samples", [(30.0, 480000), (0.5, 8000), (1 / 16000, 1)])
def test_window_samples(seconds, samples):
    assert window_samples(seconds) == samples


@pytest.mark.parametrize("seconds", [0.0, -1.0, 1e-5])
def test_window_samples_rejects_non_sample_lengths(seconds):
    with pytest.raises(ValueError, match="max_clip_seconds"):
        window_samples(seconds)


def test_decode_audio_dofn_streams_files_and_decodes_bytes(tmp_path):
    path = tmp_path / "a.flac"
    soundfile.write(path, tone(2.5, 22050), 22050)
    inputs = [
        EncodedAudio(key=str(path), source=str(path), data=None),
        EncodedAudio(key="shard.tar#b.wav", source="shard.tar", data=audio_bytes(tone(1.0), 16000)),
    ]
    with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
        keys = (
            pipeline
            | "Create" >> beam.Create(inputs)
            | "Decode" >> beam.ParDo(DecodeAudio(max_clip_seconds=1.0))
            | "Keys" >> beam.Map(lambda clip: (clip.info.key, clip.info.num_samples))
        )
        assert_that(
            keys,
            equal_to(
                [
                    (f"{path}@0", 16000),
                    (f"{path}@1", 16000),
                    (f"{path}@2", 8000),
                    ("shard.tar#b.wav@0", 16000),
                ]
            ),
        )
