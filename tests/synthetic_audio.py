"""Test inputs made on the spot: seeded tones, audio files, the four container formats, and hostile files.

Shared by tests/transforms and tests/pipeline. Axis legend: R samples at the file's rate,
C channels.
"""

import io
import json
import pathlib
import struct
import tarfile

import numpy as np
import soundfile

from gemma4_audio_embed.tf_example import Example
from gemma4_audio_embed.tfrecord import tfrecord_frame


def tone(seconds: float, rate: int = 16000, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A seeded chirp plus noise at about -10 dBFS: `float32 [R]` mono or `[R, C]`.

    Each channel gets its own noise, so the channel mean differs from every channel.
    """
    rng = np.random.default_rng(seed)
    time = np.arange(round(seconds * rate)) / rate
    chirp = 0.2 * np.sin(2 * np.pi * (200 + 150 * time) * time)
    samples = chirp[:, None] + 0.05 * rng.standard_normal((time.size, channels))  # [R, C]
    samples = samples.astype(np.float32)
    return samples[:, 0] if channels == 1 else samples


# The WAVE_FORMAT_EXTENSIBLE SubFormat GUID of integer PCM (00000001-0000-0010-8000-00aa00389b71).
PCM_GUID = struct.pack("<IHH8s", 1, 0, 0x10, bytes.fromhex("800000aa00389b71"))


def riff_wave(
    fmt: bytes,
    data: bytes,
    *,
    order: str = "<",
    data_size: int | None = None,
    before_data: bytes = b"",
    after_data: bytes = b"",
) -> bytes:
    """A WAVE file written by hand: a fmt chunk of body `fmt`, `before_data`, a data chunk of `data`
    declaring `data_size` (default its length), then `after_data`. `order` ">" writes RIFX, whose
    chunk sizes are big-endian (the fmt body and samples are the caller's, in that order)."""
    size = struct.Struct(order + "I")
    body = b"WAVE" + b"fmt " + size.pack(len(fmt)) + fmt + before_data
    body += b"data" + size.pack(len(data) if data_size is None else data_size) + data + after_data
    return (b"RIFF" if order == "<" else b"RIFX") + size.pack(len(body)) + body


def audio_bytes(samples: np.ndarray, rate: int, format: str = "WAV", subtype: str = None) -> bytes:
    """Encodes `samples` (`[R]` or `[R, C]`) with soundfile into an in-memory file."""
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=format, subtype=subtype)
    return buffer.getvalue()


def ffmpeg_encoded(
    samples: np.ndarray, rate: int, container: str, codec: str, options: dict = None, with_video: bool = False
) -> bytes:
    """Encodes `samples` (`float32 [R]` or `[R, C]`, C <= 2) with FFmpeg (PyAV) into an in-memory file.

    Args:
        container: FFmpeg muxer name (`wav`, `w64`, `aiff`, `ipod`, `webm`, `asf`, `amr`, ...).
        codec: FFmpeg encoder name (`pcm_s16le`, `adpcm_ms`, `libmp3lame`, `aac`, `libopus`, ...),
            or None for no audio stream.
        options: muxer options (`{"rf64": "always"}`); the encoder gets a 64 kb/s bit rate.
        with_video: bool. Put a 32x32 MPEG-4 video stream of the same duration before the audio.
    """
    import av

    samples = samples if samples.ndim == 2 else samples[:, None]  # [R, C]
    layout = {1: "mono", 2: "stereo"}[samples.shape[1]]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container, options=options or {}) as out:
        if with_video:
            video = out.add_stream("mpeg4", rate=10)
            video.width = video.height = 32
            video.pix_fmt = "yuv420p"
        if codec is not None:
            audio = out.add_stream(codec, rate=rate, layout=layout)
            audio.codec_context.options = {"b": "64000"}
        if with_video:
            for index in range(round(samples.shape[0] / rate * 10)):
                picture = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
                picture.pts = index
                out.mux(video.encode(picture))
            out.mux(video.encode(None))
        if codec is not None:
            resampler = av.AudioResampler(
                format=audio.codec_context.codec.audio_formats[0].name,
                layout=layout,
                rate=rate,
                frame_size=audio.codec_context.frame_size or None,
            )
            frame = av.AudioFrame.from_ndarray(samples.astype(np.float32).reshape(1, -1), format="flt", layout=layout)
            frame.sample_rate = rate
            for part in resampler.resample(frame) + resampler.resample(None):
                out.mux(audio.encode(part))
            out.mux(audio.encode(None))
    return buffer.getvalue()


def ffmpeg_reference(data: bytes) -> np.ndarray:
    """`data` decoded whole, independently of the pipeline: `float32 [N]` at 16 kHz.

    FFmpeg decodes and converts to float (its own resampler library, no rate or layout change),
    the channels are averaged, and soxr resamples in one call.
    """
    import av
    import soxr

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        converter = av.AudioResampler(format="fltp")
        planes = [part.to_ndarray() for frame in container.decode(stream) for part in converter.resample(frame)]
        rate = stream.codec_context.sample_rate
    mono = np.concatenate(planes, axis=1).mean(axis=0, dtype=np.float32)  # [R]
    return mono if rate == 16000 else soxr.resample(mono, rate, 16000, quality="HQ")


def write_audio(path: pathlib.Path, samples: np.ndarray, rate: int, subtype: str = None) -> pathlib.Path:
    """Writes an audio file whose container follows the extension of `path`."""
    soundfile.write(path, samples, rate, subtype=subtype)
    return path


def write_tar(path: pathlib.Path, members: dict) -> pathlib.Path:
    """Writes a tar shard with `{member name: bytes}`, in the given order."""
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_tfrecord(path: pathlib.Path, examples: list) -> pathlib.Path:
    """Writes a TFRecord shard of `tf.train.Example`s from `{name: bytes or int}` dicts."""
    with open(path, "wb") as f:
        for features in examples:
            example = Example()
            for name, value in features.items():
                if isinstance(value, bytes):
                    example.features.feature[name].bytes_list.value.append(value)
                else:
                    example.features.feature[name].int64_list.value.append(value)
            f.write(tfrecord_frame(example.SerializeToString()))
    return path


def write_parquet(path: pathlib.Path, rows: list) -> pathlib.Path:
    """Writes a Hugging Face `datasets`-style shard: rows of `{"audio": {"bytes", "path"}, "id": ...}`."""
    import pyarrow
    import pyarrow.parquet

    audio_type = pyarrow.struct([("bytes", pyarrow.binary()), ("path", pyarrow.string())])
    columns = {"audio": pyarrow.array([row["audio"] for row in rows], type=audio_type)}
    if any("id" in row for row in rows):
        columns["id"] = pyarrow.array([row.get("id") for row in rows], type=pyarrow.string())
    pyarrow.parquet.write_table(pyarrow.table(columns), path)
    return path


def write_manifest(path: pathlib.Path, lines: list) -> pathlib.Path:
    """Writes a JSONL manifest; dict lines are JSON-encoded, str lines written as they are."""
    path.write_text("".join((json.dumps(line) if isinstance(line, dict) else line) + "\n" for line in lines))
    return path


def write_hostile_files(folder: pathlib.Path) -> dict:
    """Writes files that must each become a dead letter; returns `{file name: expected stage}`.

    - `corrupt.flac`: a FLAC whose frames are overwritten with random bytes after the header.
    - `empty.wav`: a valid WAV with zero samples. `zero_bytes.wav`: an empty file.
    - `truncated.wav`: a 3 s WAV cut to its first 20000 bytes.
    - `not_audio.wav`: a text file. `nan.wav`: a float WAV with NaN samples in the middle.
    - `one_sample.wav`: 1 sample, too short for one mel frame.
    """
    rng = np.random.default_rng(7)
    flac = bytearray(audio_bytes(tone(2.0, seed=3), 16000, format="FLAC"))
    flac[200:] = rng.integers(0, 256, len(flac) - 200, dtype=np.uint8).tobytes()
    (folder / "corrupt.flac").write_bytes(bytes(flac))
    write_audio(folder / "empty.wav", np.zeros(0, np.float32), 16000)
    (folder / "zero_bytes.wav").write_bytes(b"")
    (folder / "truncated.wav").write_bytes(audio_bytes(tone(3.0, seed=4), 16000)[:20000])
    (folder / "not_audio.wav").write_text("This is a text file, not audio.\n" * 20)
    with_nan = tone(2.0, seed=5)
    with_nan[10000:10010] = np.nan
    write_audio(folder / "nan.wav", with_nan, 16000, subtype="FLOAT")
    write_audio(folder / "one_sample.wav", np.full(1, 0.1, np.float32), 16000, subtype="FLOAT")
    return {
        "corrupt.flac": "decode",
        "empty.wav": "decode",
        "zero_bytes.wav": "decode",
        "truncated.wav": "decode",
        "not_audio.wav": "decode",
        "nan.wav": "features",
        "one_sample.wav": "features",
    }
