"""Tests for audio/decode.py (FFmpeg through PyAV): windows, mono mix, resampling, block reads and decode errors."""

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
from synthetic_audio import ffmpeg_encoded
from synthetic_audio import ffmpeg_reference
from synthetic_audio import tone

from gemma4_audio_embed.audio.decode import _resampled_blocks
from gemma4_audio_embed.audio.decode import decoded_clips
from gemma4_audio_embed.audio.decode import window_samples
from gemma4_audio_embed.audio.decode_audio import DecodeAudio
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio


def _clips(data: bytes, max_clip_seconds=30.0, block_frames=4096, offset=0.0, duration=None):
    encoded = EncodedAudio("in.wav", "gs://b/in.wav", None, offset, duration)  # a file, streamed
    return list(decoded_clips(encoded, io.BytesIO(data), max_clip_seconds, block_frames))


class _ReadSizeRecorder(io.BytesIO):
    """A BytesIO that remembers the largest single read the decoder (FFmpeg through PyAV) asked of it."""

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
    assert stream.largest_read <= 64 * 1024  # FFmpeg's 32 KiB I/O buffer, never the whole file


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: b"", "Cannot decode"),
        (lambda: b"not audio " * 100, "Cannot decode"),
        (lambda: audio_bytes(np.zeros(0, np.float32), 16000), "holds no audio samples"),
        (lambda: audio_bytes(tone(3.0), 16000)[:20000], "truncated: its data chunk declares 96000 bytes"),
        (lambda: audio_bytes(tone(3.0), 16000, format="OGG")[:3000], "Cannot decode"),
        (
            lambda: audio_bytes(tone(3.0), 16000, format="FLAC")[:9000],
            r"truncated: its header declares 48000 samples \(3.000 s\), the stream decodes to 4096 \(0.256 s\); decoding failed there",
        ),
        (lambda: ffmpeg_encoded(tone(1.0), 16000, "mp4", None, with_video=True), "no audio stream"),
    ],
    ids=[
        "zero_bytes",
        "text",
        "no_samples",
        "truncated_wav",
        "ogg_cut_in_its_headers",
        "truncated_flac",
        "video_without_audio",
    ],
)
def test_undecodable_inputs_raise_value_error_naming_the_source(make, message):
    with pytest.raises(ValueError, match=message) as error:
        _clips(make())
    assert "gs://b/in.wav" in str(error.value)


@pytest.mark.parametrize("data_format", ["MP3", "OGG"])
def test_a_cut_stream_without_a_declared_length_decodes_as_far_as_it_goes(data_format):
    # MP3 and Ogg declare no length a decoder can be held to (docs/inputs.md), so a cut one is short, not truncated.
    data = audio_bytes(tone(6.0, 48000), 48000, format=data_format)
    (clip,) = _clips(data[: len(data) // 2])
    assert 16000 < clip.info.num_samples < 6 * 16000


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


def test_decode_audio_tallies_every_input_it_is_done_with_and_what_each_opened_as():
    dofn = DecodeAudio(max_clip_seconds=1.0)
    dofn.setup()
    dofn.start_bundle()
    stereo = EncodedAudio("a.wav", "a.wav", audio_bytes(tone(1.5, 22050, channels=2), 22050))  # 2 windows
    flac = EncodedAudio("b.flac", "b.flac", audio_bytes(tone(0.5), 16000, format="FLAC"))
    samples = EncodedAudio("c", "c.tfrecord", None, samples=tone(0.5, 8000), sample_rate=8000)
    for item in (stereo, flac, samples):
        list(dofn.process(item))
    with pytest.raises(ValueError, match="Cannot decode d.wav"):
        list(dofn.process(EncodedAudio("d.wav", "d.wav", b"not audio")))
    tally = dict(output.value.value for output in dofn.finish_bundle())
    assert tally == {
        "clips_read": 4,
        "inputs_decoded": 4,  # the failed one too
        "audio_format:wav": 1,
        "audio_format:flac": 1,
        "audio_format:samples": 1,
        "audio_sample_rate:22050": 1,
        "audio_sample_rate:16000": 1,
        "audio_sample_rate:8000": 1,
        "audio_channels:2": 1,
        "audio_channels:1": 2,
    }


# (id, container, codec, rate, channels, muxer options): what FFmpeg writes, our decoder reads.
LOSSLESS_FORMATS = [
    ("wav_pcm16", "wav", "pcm_s16le", 16000, 1, None),
    ("wav_float_stereo_44k", "wav", "pcm_f32le", 44100, 2, None),
    ("wav_mulaw_8k", "wav", "pcm_mulaw", 8000, 1, None),
    ("wav_alaw_8k", "wav", "pcm_alaw", 8000, 1, None),
    ("rf64", "wav", "pcm_s16le", 16000, 1, {"rf64": "always"}),
    ("w64_pcm24_stereo_48k", "w64", "pcm_s24le", 48000, 2, None),
    ("aiff_22k", "aiff", "pcm_s16be", 22050, 1, None),
    ("flac_stereo_48k", "flac", "flac", 48000, 2, None),
    ("caf", "caf", "pcm_s16le", 16000, 1, None),
    ("matroska_pcm", "matroska", "pcm_s16le", 16000, 1, None),
]
LOSSY_FORMATS = [
    ("wav_ms_adpcm", "wav", "adpcm_ms", 16000, 1, None),
    ("wav_ima_adpcm", "wav", "adpcm_ima_wav", 16000, 1, None),
    ("wav_mp3_payload", "wav", "libmp3lame", 16000, 1, None),
    ("mp3_stereo_44k", "mp3", "libmp3lame", 44100, 2, None),
    ("ogg_opus", "ogg", "libopus", 48000, 1, None),
    ("m4a_aac", "ipod", "aac", 16000, 1, None),
    ("webm_opus_stereo", "webm", "libopus", 48000, 2, None),
    ("matroska_aac", "matroska", "aac", 22050, 1, None),
    ("wma", "asf", "wmav2", 44100, 2, None),
    ("amr_nb_8k", "amr", "libopencore_amrnb", 8000, 1, None),
]


def _encoded(container, codec, rate, channels, options, seconds=2.0):
    return ffmpeg_encoded(tone(seconds, rate, channels, seed=11), rate, container, codec, options)


@pytest.mark.parametrize("case", LOSSLESS_FORMATS, ids=[case[0] for case in LOSSLESS_FORMATS])
def test_lossless_formats_decode_to_the_full_ffmpeg_decode_exactly(case):
    data = _encoded(*case[1:])
    clips = _clips(data, max_clip_seconds=1.0, block_frames=3000)
    np.testing.assert_array_equal(np.concatenate([clip.waveform for clip in clips]), ffmpeg_reference(data))
    assert sum(clip.info.num_samples for clip in clips) == 32000  # 2 s


@pytest.mark.parametrize("case", LOSSY_FORMATS, ids=[case[0] for case in LOSSY_FORMATS])
def test_lossy_formats_decode_to_the_full_ffmpeg_decode(case):
    data = _encoded(*case[1:])
    (clip,) = _clips(data)
    reference = ffmpeg_reference(data)
    assert abs(clip.info.num_samples - reference.shape[0]) <= 0.08 * 16000
    assert clip.info.num_samples >= 32000 - 0.08 * 16000  # 2 s, and encoder delay the muxer did not record
    np.testing.assert_array_equal(clip.waveform, reference)  # same decoder, same samples


def test_gsm_in_wav_decodes():
    data = audio_bytes(tone(2.0, 8000), 8000, subtype="GSM610")  # libsndfile writes GSM 6.10; no FFmpeg encoder
    (clip,) = _clips(data)
    np.testing.assert_array_equal(clip.waveform, ffmpeg_reference(data))
    assert clip.info.num_samples == 32000


def test_the_first_audio_stream_of_a_video_is_decoded():
    data = ffmpeg_encoded(tone(2.0, 44100, 2, seed=12), 44100, "mp4", "aac", with_video=True)
    (clip,) = _clips(data)
    np.testing.assert_array_equal(clip.waveform, ffmpeg_reference(data))
    assert abs(clip.info.num_samples - 32000) <= 0.08 * 16000


def _with_data_size(data: bytes, size: int) -> bytes:
    """A 44-byte-header WAV with its RIFF and data chunk sizes set as a streaming recorder leaves them."""
    assert data[36:40] == b"data"
    riff = 0 if size == 0 else 0xFFFFFFFF
    return data[:4] + riff.to_bytes(4, "little") + data[8:40] + size.to_bytes(4, "little") + data[44:]


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_a_wav_whose_recorder_left_its_sizes_unknown_decodes_whole(size):
    whole = audio_bytes(tone(3.0), 16000)  # 16-bit PCM: a 44-byte header
    clips = _clips(_with_data_size(whole, size))
    np.testing.assert_array_equal(np.concatenate([clip.waveform for clip in clips]), ffmpeg_reference(whole))
    assert sum(clip.info.num_samples for clip in clips) == 48000


@pytest.mark.parametrize(
    "missing_seconds, truncated",
    [(0.005, False), (0.02, True)],  # within / beyond the 10 ms tolerance
)
@pytest.mark.parametrize("container, codec", [("wav", "pcm_s16le"), ("aiff", "pcm_s16be")])
def test_a_wav_or_aiff_shorter_than_its_data_chunk(container, codec, missing_seconds, truncated):
    data = ffmpeg_encoded(tone(3.0), 16000, container, codec)
    cut = data[: len(data) - round(missing_seconds * 16000) * 2]  # 2 bytes per mono 16-bit sample
    if truncated:
        with pytest.raises(
            ValueError,
            match=r"truncated: its data chunk declares 96000 bytes \(3.000 s\), the file holds 95360 bytes \(2.980 s\)",
        ):
            _clips(cut)
    else:
        (clip,) = _clips(cut)
        assert clip.info.num_samples == 48000 - 80


def _flac_with_total(data: bytes, total: int) -> bytes:
    """Sets STREAMINFO's 36-bit total-samples field (bytes 21-25 of the file's first metadata block)."""
    assert data[:4] == b"fLaC"
    packed = int.from_bytes(data[21:26], "big") & ~((1 << 36) - 1) | total
    return data[:21] + packed.to_bytes(5, "big") + data[26:]


def test_a_flac_written_to_a_pipe_decodes_whole():
    samples = tone(3.0)
    data = _flac_with_total(audio_bytes(samples, 16000, format="FLAC", subtype="PCM_24"), 0)
    (clip,) = _clips(data)
    assert clip.info.num_samples == 48000
    np.testing.assert_allclose(clip.waveform, samples, atol=2**-23)


@pytest.mark.parametrize("declared_extra, truncated", [(80, False), (320, True)])  # 5 ms, 20 ms more declared
def test_a_flac_shorter_than_its_declared_total(declared_extra, truncated):
    data = _flac_with_total(audio_bytes(tone(3.0), 16000, format="FLAC"), 48000 + declared_extra)
    if truncated:
        with pytest.raises(
            ValueError,
            match=r"truncated: its header declares 48320 samples \(3.020 s\), the stream decodes to 48000 \(3.000 s\)",
        ):
            _clips(data)
    else:
        (clip,) = _clips(data)
        assert clip.info.num_samples == 48000


def test_a_chained_ogg_decodes_every_link():
    first, second = tone(1.0, 16000, seed=1), tone(1.5, 16000, seed=2)
    data = audio_bytes(first, 16000, format="OGG") + audio_bytes(second, 16000, format="OGG")
    (clip,) = _clips(data)
    assert abs(clip.info.num_samples - 40000) <= 0.08 * 16000


def test_a_chained_ogg_whose_links_change_rate_is_one_error_saying_why():
    data = audio_bytes(tone(1.0, 16000), 16000, format="OGG") + audio_bytes(tone(1.0, 22050), 22050, format="OGG")
    with pytest.raises(ValueError, match="chained Ogg links differ in sample rate or channels"):
        _clips(data)


def test_decoded_samples_are_mixed_resampled_and_spanned():
    stereo = tone(3.0, 22050, channels=2)  # [66150, 2]
    encoded = EncodedAudio("k", "s.parquet", None, 1.0, 1.5, samples=stereo, sample_rate=22050)
    (clip,) = decoded_clips(encoded, None, 30.0)
    span = stereo[22050 : 22050 + 33075].mean(axis=1, dtype=np.float32)
    np.testing.assert_array_equal(clip.waveform, soxr.resample(span, 22050, 16000, quality="HQ"))


@pytest.mark.parametrize(
    "data_format, subtype",
    [("FLAC", None), ("WAV", "FLOAT"), ("MP3", None)],
    ids=["flac_seeks", "wav_seeks", "mp3_counts"],
)
def test_offset_and_duration_select_the_same_samples_as_a_full_decode(data_format, subtype):
    data = audio_bytes(tone(12.0), 16000, format=data_format, subtype=subtype)
    full = ffmpeg_reference(data)
    clips = _clips(data, 2.0, offset=7.25, duration=3.0)
    assert [clip.info.start_seconds for clip in clips] == [7.25, 9.25]
    np.testing.assert_array_equal(np.concatenate([clip.waveform for clip in clips]), full[116000:164000])


@pytest.mark.parametrize("junk", [b"\x00" * 1000, b"<html>not a frame</html>\n" * 80], ids=["zeros", "text"])
def test_an_mp3_with_junk_before_its_first_frame_decodes(junk):
    (clip,) = _clips(junk + audio_bytes(tone(3.0, 44100), 44100, format="MP3"))
    assert abs(clip.info.num_samples - 48000) <= 0.08 * 16000


def test_a_stream_that_fails_part_way_yields_its_earlier_windows_then_raises():
    data = audio_bytes(tone(5.0), 16000, format="FLAC")
    clips = decoded_clips(EncodedAudio("k", "gs://b/in.flac", None), io.BytesIO(data[: len(data) * 6 // 10]), 1.0)
    windows = []
    with pytest.raises(ValueError, match="gs://b/in.flac") as error:
        for clip in clips:
            windows.append(clip.info.num_samples)
    assert windows[:2] == [16000, 16000] and len(windows) <= 3  # the audio before the cut, in whole windows
    assert "truncated" in str(error.value) or "decoding failed after" in str(error.value)


@pytest.mark.parametrize(
    "damaged_bytes", [20, 3000, 5000]
)  # FFmpeg decodes noise from 20 and 3000, drops frames at 5000
def test_a_flac_damaged_in_the_middle_keeps_only_the_windows_before_the_damage(damaged_bytes):
    samples = tone(10.0)
    data = bytearray(audio_bytes(samples, 16000, format="FLAC"))
    middle = len(data) * 6 // 10  # about 6 s in
    noise = np.random.default_rng(3).integers(0, 256, damaged_bytes, dtype=np.uint8).tobytes()
    data[middle : middle + damaged_bytes] = noise
    clips = decoded_clips(EncodedAudio("k", "gs://b/in.flac", None), io.BytesIO(bytes(data)), 2.0)
    windows = []
    with pytest.raises(ValueError, match="is damaged: its frames break off after"):
        for clip in clips:
            windows.append(clip.waveform)
    assert 1 <= len(windows) <= 3  # whole 2 s windows before about 6 s, none spliced across the gap
    np.testing.assert_allclose(np.concatenate(windows), samples[: len(windows) * 32000], atol=2**-15)


@pytest.mark.parametrize("codec", ["adpcm_ms", "adpcm_ima_wav", "libmp3lame"])
def test_an_offset_into_a_wav_of_a_non_pcm_codec_decodes_from_the_start(codec):
    data = ffmpeg_encoded(tone(8.0, seed=4), 16000, "wav", codec)
    full = ffmpeg_reference(data)
    clips = _clips(data, offset=3.3, duration=2.0)
    np.testing.assert_array_equal(np.concatenate([clip.waveform for clip in clips]), full[52800:84800])


def test_errors_name_an_entry_inside_a_container_by_its_key():
    encoded = EncodedAudio("gs://b/s.tar#x.wav", "gs://b/s.tar", b"not audio " * 10)
    with pytest.raises(ValueError, match=r"Cannot decode gs://b/s.tar#x.wav as audio"):
        list(decoded_clips(encoded, io.BytesIO(encoded.data), 30.0))


def test_a_span_inside_the_part_a_truncated_wav_still_holds_is_a_record():
    cut = audio_bytes(tone(6.0), 16000)[: 44 + 4 * 32000]  # 4 s of the declared 6 s
    (clip,) = _clips(cut, offset=1.0, duration=2.0)
    assert clip.info.num_samples == 32000
    with pytest.raises(ValueError, match="truncated"):
        _clips(cut, offset=3.0, duration=2.0)  # reaches past the 4 s


def test_an_absurd_offset_is_an_error_naming_the_input():
    with pytest.raises(ValueError, match="gs://b/in.wav"):
        _clips(audio_bytes(tone(1.0), 16000), offset=1e20)


def test_a_sample_rate_outside_the_range_is_refused_before_resampling():
    data = bytearray(audio_bytes(np.zeros(2000, np.float32), 16000))
    data[24:28] = (1).to_bytes(4, "little")  # a header declaring 1 Hz: x16000 upsampling
    with pytest.raises(ValueError, match="declares a sample rate of 1 Hz, outside the range the job decodes, 1000 to"):
        _clips(bytes(data))
    with pytest.raises(ValueError, match="22050 Hz, outside the range the job decodes, 1000 to 16000 Hz"):
        encoded = EncodedAudio("in.wav", "in.wav", None)
        list(decoded_clips(encoded, io.BytesIO(audio_bytes(tone(0.1, 22050), 22050)), 30.0, sample_rates=(1000, 16000)))


@pytest.mark.parametrize("rate", [1000, 8000, 48000])
def test_each_resampling_call_gives_about_a_block_whatever_the_ratio(rate):
    block = np.zeros(50000, np.float32)  # one block of input frames, as _blocks hands them on
    sizes = [part.shape[0] for part in _resampled_blocks(iter([block]), rate, block_frames=4096)]
    assert max(sizes) <= 4 * 4096  # soxr hands out what its filter holds in bursts; one call at 1 kHz would give 800000
    assert sum(sizes) == round(50000 * 16000 / rate)
