"""Decoding: encoded audio to 16 kHz mono float32 windows of at most `max_clip_seconds`, streamed in blocks.

FFmpeg decodes, through PyAV (`av`, whose wheels carry FFmpeg): every container and codec it
reads, from WAV in any codec (PCM, float, u-law, A-law, ADPCM, GSM, MP3 payload), RF64/W64, AIFF,
FLAC, MP3, Ogg Vorbis/Opus, AAC/M4A/MP4, WebM/Matroska, WMA and AMR to the first audio stream of
a video file. An input's length is what its stream decodes to, never a header's estimate: a VBR
MP3 without a Xing header, a FLAC written to a pipe or a WAV whose sizes a recorder left at 0
decode whole. Where a header does declare a length (a WAV/AIFF data chunk size, a FLAC total),
an input shorter by more than `TRUNCATION_TOLERANCE_SECONDS` is truncated and raises.

Resampling uses soxr (libsoxr's "HQ" preset): a real band-limited resampler, exact for any
rate ratio (44.1 kHz and 22.05 kHz as well as 48 kHz and 8 kHz), and streaming: its
`ResampleStream` carries the filter state from one block to the next, so a file read in
blocks resamples to the very samples a one-shot call gives (tested).

Axis legend: N samples at 16 kHz, R samples at the input's rate, C channels.
"""

import contextlib
import io
import math
from collections.abc import Iterator

import av
import numpy as np
import soxr
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from gemma4_audio_embed.audio.clips import Clip
from gemma4_audio_embed.audio.clips import ClipInfo
from gemma4_audio_embed.audio.clips import window_sha256
from gemma4_audio_embed.audio.declared_length import declared_data_chunk
from gemma4_audio_embed.audio.declared_length import is_wave
from gemma4_audio_embed.constants import SAMPLE_RATE
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.encoded_audio import metadata_json
from gemma4_audio_embed.inputs.keys import clip_key
from gemma4_audio_embed.inputs.samples import mono_samples
from gemma4_audio_embed.metrics import CLIPS_READ
from gemma4_audio_embed.metrics import INPUTS_DECODED
from gemma4_audio_embed.metrics import TallyingDoFn
from gemma4_audio_embed.metrics import audio_property_counter
from gemma4_audio_embed.reprs import ConfigRepr

BLOCK_FRAMES = 1 << 16  # 65536 frames passed on at a time: 4.1 s at 16 kHz, 1.4 s at 48 kHz
RESAMPLER_QUALITY = "HQ"
TRUNCATION_TOLERANCE_SECONDS = 0.01  # a declared length may exceed the decoded one by this much
# Where a seek lands on an exact sample, with no decoder warm-up after it: FLAC, and PCM in
# WAV/W64/AIFF. Elsewhere an offset is reached by decoding from the start and counting samples:
# FFmpeg estimates MP3 and ADTS seek positions from the bit rate, ADPCM frames after a seek carry
# no timestamps, and MP3-in-WAV or GSM decoders need a few frames before their output is right.
_PCM_SEEK_FORMATS = frozenset({"wav", "w64", "aiff"})
# For RIFF WAVE files: packets of up to 64 KiB (FFmpeg's default: 4 KiB, 1024 16-bit mono
# samples), so the per-packet cost in Python is paid 16 times less often, and stream probing
# that stops after 32 KiB (the header says what FFmpeg needs; with big packets the default
# probing would read ~30 of them, 2 MB, before the first sample is decoded).
_WAV_DEMUXER_OPTIONS = {"max_size": str(1 << 16), "probesize": str(1 << 15)}
_SAMPLE_DTYPES = {
    "u8": np.uint8,
    "s16": np.int16,
    "s32": np.int32,
    "s64": np.int64,
    "flt": np.float32,
    "dbl": np.float64,
}


class InputError(ValueError):
    """An input that yields no (more) audio, with a message that names its source."""


def window_samples(max_clip_seconds: float) -> int:
    """Samples per window at 16 kHz; `max_clip_seconds` must be a positive whole number of samples."""
    samples = max_clip_seconds * SAMPLE_RATE
    if not (max_clip_seconds > 0 and math.isclose(samples, round(samples), abs_tol=1e-6)):
        raise ValueError(
            "`max_clip_seconds` must be positive and a whole number of 16 kHz samples. "
            f"Received: max_clip_seconds={max_clip_seconds!r}"
        )
    return round(samples)


def _frame_samples(frame: av.AudioFrame) -> np.ndarray:
    """One decoded frame as `float32 [R]`, channels averaged, read straight from its planes."""
    sample_format = frame.format.name.removesuffix("p")
    dtype, count = _SAMPLE_DTYPES[sample_format], frame.samples
    if frame.format.is_planar:  # one plane per channel
        planes = [np.frombuffer(plane, dtype, count) for plane in frame.planes]  # C x [R]
        samples = planes[0] if len(planes) == 1 else np.stack(planes)  # [R] or [C, R]
    else:  # channels interleaved in one plane
        channels = frame.layout.nb_channels
        samples = np.frombuffer(frame.planes[0], dtype, count * channels).reshape(count, channels).T  # [C, R]
    return mono_samples(samples, sample_format)


def _described(encoded: EncodedAudio) -> str:
    """How errors name an input: its file, or for an entry inside a container its key (`<container>#<entry>`)."""
    return encoded.key if encoded.data is not None or encoded.samples is not None else encoded.source


def _past_the_end(source: str, offset_seconds: float, seconds: float) -> InputError:
    return InputError(f"{source}: offset {offset_seconds} s is past the end of its {seconds:.3f} s of audio.")


class _Span:
    """The requested samples of a stream at `rate`: from `offset_seconds`, `duration_seconds` long."""

    def __init__(self, encoded: EncodedAudio, rate: int):
        self.start = round(encoded.offset_seconds * rate)
        duration = encoded.duration_seconds
        self.end = None if duration is None else self.start + round(duration * rate)

    def cut(self, samples: np.ndarray, position: int) -> np.ndarray:
        """The part of `samples` (starting at sample `position`) inside the span."""
        first = max(self.start - position, 0)
        last = samples.shape[0] if self.end is None else max(min(self.end - position, samples.shape[0]), 0)
        return samples[first:last]

    def done(self, position: int) -> bool:
        return self.end is not None and position >= self.end


def _blocks(parts: Iterator[np.ndarray], block_frames: int) -> Iterator[np.ndarray]:
    """Joins consecutive `float32 [R']` parts into blocks of at least `block_frames`, then the rest.

    When `parts` raises, the parts before the fault go out as a last block first, so that the
    whole windows they hold are kept.
    """
    pending, pending_frames = [], 0
    try:
        for part in parts:
            pending.append(part)
            pending_frames += part.shape[0]
            if pending_frames >= block_frames:
                yield np.concatenate(pending)
                pending, pending_frames = [], 0
    except Exception:
        if pending_frames:
            yield np.concatenate(pending)
        raise
    if pending_frames:
        yield np.concatenate(pending)


class _FFmpegInput:
    """An input opened with FFmpeg: its first audio stream, decoded to mono float32 parts.

    Raises ValueError, naming the source, when FFmpeg cannot open the input, it has no audio
    stream, or its WAV/AIFF data chunk is truncated.
    """

    def __init__(self, encoded: EncodedAudio, stream):
        self.source = _described(encoded)
        declared_chunk = declared_data_chunk(stream)  # before FFmpeg reads: it keeps its own position
        head = stream.read(12)
        stream.seek(0)
        is_wav = is_wave(head)
        try:
            self.container = av.open(stream, mode="r", container_options=_WAV_DEMUXER_OPTIONS if is_wav else {})
        except av.FFmpegError as e:
            raise InputError(f"Cannot decode {self.source} as audio: {e}") from e
        if not self.container.streams.audio:
            kinds = sorted({s.type for s in self.container.streams}) or ["none"]
            self.container.close()
            raise InputError(
                f"Cannot decode {self.source} as audio: it has no audio stream (streams: {', '.join(kinds)})."
            )
        self.audio = self.container.streams.audio[0]
        self.rate = self.audio.codec_context.sample_rate
        self.channels = self.audio.codec_context.layout.nb_channels
        self.format = self.container.format.name
        self.offset_seconds = encoded.offset_seconds
        self.span = _Span(encoded, self.rate)
        if declared_chunk is not None:
            self._check_data_chunk(declared_chunk, encoded)
        codec = self.audio.codec_context.name
        seeks_exactly = self.format == "flac" or (self.format in _PCM_SEEK_FORMATS and codec.startswith("pcm_"))
        self.seeks = self.span.start > 0 and seeks_exactly
        # FFmpeg's FLAC demuxer gives STREAMINFO's total as the duration, and None when it is 0.
        # Each FLAC frame's timestamp is its first sample: its parser leaves a frame it could not
        # verify without one, and skips what it cannot parse, so a missing or jumping timestamp
        # shows damaged data that would otherwise decode to noise or vanish.
        self.declared_frames = self.audio.duration if self.format == "flac" else None
        self.checks_timestamps = self.format == "flac"

    def _check_data_chunk(self, chunk, encoded: EncodedAudio) -> None:
        """Raises when the file holds less of its data chunk than the span needs, by over 10 ms."""
        held = chunk.held
        bytes_per_second = (self.audio.codec_context.bit_rate or 0) / 8
        needed = chunk.size
        if bytes_per_second and encoded.duration_seconds is not None:
            needed = min(needed, (encoded.offset_seconds + encoded.duration_seconds) * bytes_per_second)
        if held < needed - TRUNCATION_TOLERANCE_SECONDS * bytes_per_second:
            seconds = (
                f" ({chunk.size / bytes_per_second:.3f} s), the file holds {held} bytes "
                f"({held / bytes_per_second:.3f} s)"
                if bytes_per_second
                else f", the file holds {held} bytes"
            )
            self.close()
            raise InputError(f"{self.source} is truncated: its data chunk declares {chunk.size} bytes{seconds}.")

    def close(self) -> None:
        self.container.close()

    def _frames(self) -> Iterator[av.AudioFrame]:
        if self.seeks:  # to the last frame at or before the start; `parts` cuts the rest
            self.container.seek(int(self.span.start / self.rate / self.audio.time_base), stream=self.audio)
        try:
            for frame in self.container.decode(self.audio):
                if frame.sample_rate != self.rate:
                    raise ValueError(f"the stream changes from {self.rate} Hz to {frame.sample_rate} Hz")
                yield frame
        except av.PatchWelcomeError as e:
            if self.format == "ogg":
                raise ValueError(
                    "its chained Ogg links differ in sample rate or channels, which FFmpeg decodes "
                    f"no further than the first link ({e})"
                ) from e
            raise

    def parts(self) -> Iterator[np.ndarray]:
        """Yields the span's samples as `float32 [R']` parts, channels averaged, in order.

        Raises ValueError when the span starts past the end, when fewer frames decode than a
        FLAC header declares (or decoding fails before its end), or when a FLAC frame's
        timestamp is missing or jumps (damaged data).
        """
        position = None  # index of the next frame's first sample in the stream
        try:
            for frame in self._frames():
                if position is None:
                    if self.seeks and frame.time is None:
                        raise ValueError("the first frame after the seek has no timestamp")
                    position = round(frame.time * self.rate) if self.seeks else 0
                elif self.checks_timestamps and (frame.time is None or round(frame.time * self.rate) != position):
                    went_on = "with a frame FFmpeg could not place" if frame.time is None else f"at {frame.time:.3f} s"
                    raise InputError(
                        f"{self.source} is damaged: its frames break off after {position / self.rate:.3f} s "
                        f"(the stream goes on {went_on})."
                    )
                if self.span.done(position):
                    break
                part = _frame_samples(frame)
                if self.span.start or self.span.end is not None:
                    part = self.span.cut(part, position)
                position += frame.samples
                if part.shape[0]:
                    yield part
        except av.FFmpegError as e:
            if self.declared_frames:
                raise self._short(position or 0, f"decoding failed there: {e}") from e
            raise
        position = position or 0
        if self.span.start and position <= self.span.start:
            raise _past_the_end(self.source, self.offset_seconds, position / self.rate)
        expected = self.declared_frames
        if expected and self.span.end is not None:
            expected = min(expected, self.span.end)
        if expected and position < expected - TRUNCATION_TOLERANCE_SECONDS * self.rate:
            raise self._short(position, "")

    def _short(self, position: int, why: str) -> InputError:
        """The error of a stream shorter than its header declares, naming both lengths."""
        return InputError(
            f"{self.source} is truncated: its header declares {self.declared_frames} samples "
            f"({self.declared_frames / self.rate:.3f} s), the stream decodes to {position} "
            f"({position / self.rate:.3f} s){'; ' + why if why else ''}."
        )


def _decoded_parts(encoded: EncodedAudio) -> Iterator[np.ndarray]:
    """The span of already decoded samples (`encoded.samples`) as `float32 [R']` parts, mono."""
    samples = encoded.samples
    span = _Span(encoded, encoded.sample_rate)
    if span.start and span.start >= samples.shape[0]:
        raise _past_the_end(_described(encoded), encoded.offset_seconds, samples.shape[0] / encoded.sample_rate)
    selected = span.cut(samples, 0)  # [R] or [R, C]
    yield mono_samples(selected.T if selected.ndim == 2 else selected)


def _resampled_blocks(blocks: Iterator[np.ndarray], rate: int) -> Iterator[np.ndarray]:
    """Yields the blocks at 16 kHz, through one soxr stream so block edges leave no trace."""
    if rate == SAMPLE_RATE:
        yield from blocks
        return
    stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality=RESAMPLER_QUALITY)
    for block in blocks:
        yield stream.resample_chunk(block, last=False)
    yield stream.resample_chunk(np.zeros(0, np.float32), last=True)


def _windows(blocks: Iterator[np.ndarray], window: int) -> Iterator[np.ndarray]:
    """Regroups blocks into consecutive `float32 [window]` windows, then the last partial one."""
    pending, pending_samples = [], 0
    for block in blocks:
        pending.append(block)
        pending_samples += block.shape[0]
        while pending_samples >= window:
            joined = np.concatenate(pending)  # [pending_samples]
            yield joined[:window]
            pending, pending_samples = [joined[window:]], pending_samples - window
    if pending_samples:
        yield np.concatenate(pending)


def decoded_clips(
    encoded: EncodedAudio, stream, max_clip_seconds: float, block_frames: int = BLOCK_FRAMES, opened=None
) -> Iterator[Clip]:
    """Decodes one input into its 16 kHz windows, streaming.

    1. Open `stream` with FFmpeg and decode its first audio stream from `encoded.offset_seconds`
       for at most `encoded.duration_seconds` (or take `encoded.samples` as they are); the file
       is never held whole.
    2. Average the channels (mono), resample to 16 kHz (soxr, see the module docstring) in
       blocks of at least `block_frames` frames.
    3. Cut consecutive windows of `max_clip_seconds`; the last, shorter window is kept.
       Window i starts at `offset_seconds + i * max_clip_seconds`. Each window's ClipInfo
       carries its `audio_sha256` and the input's metadata as JSON.

    Samples are passed on as decoded: a non-finite sample is caught per clip by the features
    step. Raises ValueError, naming the source, when the input cannot be decoded, is truncated
    (a WAV/AIFF data chunk or a FLAC total longer than the audio by more than 10 ms), holds no
    samples (or none in the requested span), or when the offset lies past its end. A decode
    error part-way raises after the windows before it.

    Args:
        encoded: EncodedAudio. The input; `data` is ignored here (the caller opened `stream`).
        stream: seekable binary file-like object, or None when `encoded.samples` is set.
        max_clip_seconds: float. Window length, a whole number of 16 kHz samples.
        block_frames: int. Least frames resampled at a time. Defaults to `BLOCK_FRAMES`.
        opened: callable or None. Called once the input is open with `(format, sample_rate,
            channels)`: FFmpeg's container format name (`"samples"` for decoded samples), the
            rate in Hz and the channel count as stored. Defaults to None.

    Yields:
        `Clip`s with `float32 [N]` waveforms, N <= max_clip_seconds * 16000.
    """
    window = window_samples(max_clip_seconds)
    if encoded.samples is not None:
        ffmpeg_input, rate, parts = None, encoded.sample_rate, _decoded_parts(encoded)
        properties = ("samples", rate, 1 if encoded.samples.ndim == 1 else encoded.samples.shape[1])
    else:
        ffmpeg_input = _FFmpegInput(encoded, stream)
        rate, parts = ffmpeg_input.rate, ffmpeg_input.parts()
        properties = (ffmpeg_input.format, rate, ffmpeg_input.channels)
    if opened is not None:
        opened(*properties)
    blocks = _resampled_blocks(_blocks(parts, block_frames), rate)
    segment_index = -1
    metadata = metadata_json(encoded.metadata)
    try:
        for segment_index, waveform in enumerate(_windows(blocks, window)):
            info = ClipInfo(
                key=clip_key(encoded.key, segment_index),
                input_key=encoded.key,
                source=encoded.source,
                segment_index=segment_index,
                start_seconds=encoded.offset_seconds + segment_index * max_clip_seconds,
                num_samples=waveform.shape[0],
                audio_sha256=window_sha256(waveform),
                metadata=metadata,
            )
            yield Clip(info, waveform)
    except InputError:
        raise
    except (av.FFmpegError, ValueError, OverflowError) as e:
        raise InputError(f"{_described(encoded)}: decoding failed after {segment_index + 1} window(s): {e}") from e
    finally:
        if ffmpeg_input is not None:
            ffmpeg_input.close()
    if segment_index < 0:
        found = f"format {ffmpeg_input.format}, " if ffmpeg_input else ""
        raise InputError(f"{_described(encoded)} holds no audio samples ({found}{rate} Hz).")


class DecodeAudio(ConfigRepr, TallyingDoFn):
    """Decodes each EncodedAudio into 16 kHz mono Clips of at most `max_clip_seconds`.

    Inputs without bytes or samples are streamed from their source URI (local or `gs://`).
    Run it under `with_exception_handling(partial=True)` so the windows of an hours-long file
    flow on as they are cut; a file that fails half-way then keeps the records of its earlier
    windows, and its dead letter says after how many windows it failed.

    Tallies the windows (`clips_read`), each input it is done with, decoded or failed
    (`inputs_decoded`, the job's progress), and each opened input's format, sample rate and
    channels (`metrics.audio_property_counter`).

    Args:
        max_clip_seconds: float. Window length in seconds. Defaults to 30.
        block_frames: int. Least frames resampled at a time. Defaults to `BLOCK_FRAMES`.
    """

    def __init__(self, max_clip_seconds: float = 30.0, block_frames: int = BLOCK_FRAMES):
        window_samples(max_clip_seconds)
        if not (isinstance(block_frames, int) and block_frames > 0):
            raise ValueError(f"`block_frames` must be a positive int. Received: block_frames={block_frames!r}")
        self.max_clip_seconds = max_clip_seconds
        self.block_frames = block_frames

    def _opened(self, audio_format: str, sample_rate: int, channels: int) -> None:
        for name, value in (("format", audio_format), ("sample_rate", sample_rate), ("channels", channels)):
            self.tally.add(audio_property_counter(name, value))

    def process(self, encoded: EncodedAudio):
        try:
            if encoded.samples is not None:
                stream = contextlib.nullcontext()
            elif encoded.data is not None:
                stream = io.BytesIO(encoded.data)
            else:
                stream = FileSystems.open(encoded.source, compression_type=CompressionTypes.UNCOMPRESSED)
            with stream:
                for clip in decoded_clips(encoded, stream, self.max_clip_seconds, self.block_frames, self._opened):
                    self.tally.add(CLIPS_READ)
                    yield clip
        finally:
            self.tally.add(INPUTS_DECODED)
