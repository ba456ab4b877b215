"""Decoding: encoded audio to 16 kHz mono float32 windows of at most `max_clip_seconds`, streamed in blocks.

FFmpeg decodes, through PyAV (`av`, whose wheels carry FFmpeg; `audio/ffmpeg_input.py`): every
container and codec it reads, from WAV in any codec (PCM, float, u-law, A-law, ADPCM, GSM, MP3
payload), RF64/W64, AIFF, FLAC, MP3, Ogg Vorbis/Opus, AAC/M4A/MP4, WebM/Matroska, WMA and AMR
to the first audio stream of a video file, and nothing but those containers. An input's length
is what its stream decodes to, never a header's estimate: a VBR MP3 without a Xing header, a
FLAC written to a pipe or a WAV whose sizes a recorder left at 0 decode whole. Where a header
does declare a length (a WAV/AIFF data chunk size, a FLAC total), an input shorter by more than
`TRUNCATION_TOLERANCE_SECONDS` is truncated and raises. A WAV of plain PCM or float samples is
read without FFmpeg, to the same samples at less cost, and one of 24-bit PCM in 32-bit
containers, which FFmpeg misreads, as the integers it holds (`audio/pcm_wav.py`).

Resampling uses soxr (libsoxr's "HQ" preset): a real band-limited resampler, exact for any
rate ratio (44.1 kHz and 22.05 kHz as well as 48 kHz and 8 kHz), and streaming: its
`ResampleStream` carries the filter state from one block to the next, so a file read in
blocks resamples to the very samples a one-shot call gives (tested). Each call takes at most
the input that gives about `block_frames` samples at 16 kHz, whatever the ratio, and a rate
outside `SAMPLE_RATE_RANGE` (a header declaring 1 Hz) is refused before anything is resampled.

Nothing here imports Beam: `audio/decode_process.py` runs `input_clips` in a child process.

Axis legend: N samples at 16 kHz, R samples at the input's rate.
"""

import io
import math
from collections.abc import Iterator
from typing import NamedTuple

import av
import numpy as np
import soxr

from gemma4_audio_embed.audio.clips import Clip
from gemma4_audio_embed.audio.clips import ClipInfo
from gemma4_audio_embed.audio.clips import window_sha256
from gemma4_audio_embed.audio.declared_length import pcm_wav_format
from gemma4_audio_embed.audio.ffmpeg_input import TRUNCATION_TOLERANCE_SECONDS
from gemma4_audio_embed.audio.ffmpeg_input import FFmpegInput
from gemma4_audio_embed.audio.pcm_wav import PcmWavInput
from gemma4_audio_embed.audio.span import InputError
from gemma4_audio_embed.audio.span import Span
from gemma4_audio_embed.audio.span import described
from gemma4_audio_embed.audio.span import past_the_end
from gemma4_audio_embed.constants import SAMPLE_RATE
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.encoded_audio import metadata_json
from gemma4_audio_embed.inputs.files import ByteRange
from gemma4_audio_embed.inputs.files import opened_file
from gemma4_audio_embed.inputs.keys import clip_key
from gemma4_audio_embed.inputs.keys import undecodable_escaped
from gemma4_audio_embed.inputs.samples import mono_samples

BLOCK_FRAMES = 1 << 16  # 65536 frames passed on at a time: 4.1 s at 16 kHz, 1.4 s at 48 kHz
RESAMPLER_QUALITY = "HQ"
SAMPLE_RATE_RANGE = (1000, 768000)  # Hz: the rates an input may have (--min_sample_rate, --max_sample_rate)


class OpenedAudio(NamedTuple):
    """What an opened input holds as stored, reported by `input_clips` before its windows.

    Attributes:
        format: str. FFmpeg's container format name (`"wav"`, `"flac"`, ...), or `"samples"`
            for already decoded samples.
        sample_rate: int. Hz, as stored.
        channels: int. As stored, before the mix to mono.
    """

    format: str
    sample_rate: int
    channels: int


def window_samples(max_clip_seconds: float) -> int:
    """Samples per window at 16 kHz; `max_clip_seconds` must be a positive whole number of samples."""
    samples = max_clip_seconds * SAMPLE_RATE
    if not (max_clip_seconds > 0 and math.isclose(samples, round(samples), abs_tol=1e-6)):
        raise ValueError(
            "`max_clip_seconds` must be positive and a whole number of 16 kHz samples. "
            f"Received: max_clip_seconds={max_clip_seconds!r}"
        )
    return round(samples)


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


def _decoded_parts(encoded: EncodedAudio) -> Iterator[np.ndarray]:
    """The span of already decoded samples (`encoded.samples`) as `float32 [R']` parts, mono."""
    samples = encoded.samples
    span = Span(encoded, encoded.sample_rate)
    if span.start and span.start >= samples.shape[0]:
        raise past_the_end(described(encoded), encoded.offset_seconds, samples.shape[0] / encoded.sample_rate)
    selected = span.cut(samples, 0)  # [R] or [R, C]
    yield mono_samples(selected.T if selected.ndim == 2 else selected)


def _resampled_blocks(blocks: Iterator[np.ndarray], rate: int, block_frames: int) -> Iterator[np.ndarray]:
    """Yields the blocks at 16 kHz, through one soxr stream so block edges leave no trace.

    Each resampling call takes at most `ceil(block_frames * rate / 16000)` frames, so it gives
    about `block_frames` samples whatever the ratio (an 8 kHz block is not upsampled whole).
    """
    if rate == SAMPLE_RATE:
        yield from blocks
        return
    stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality=RESAMPLER_QUALITY)
    most = max(math.ceil(block_frames * rate / SAMPLE_RATE), 1)
    for block in blocks:
        for start in range(0, block.shape[0], most):
            yield stream.resample_chunk(block[start : start + most], last=False)
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


def _checked_rate(source: str, rate: int, sample_rates: tuple[int, int]) -> int:
    low, high = sample_rates
    if not low <= rate <= high:
        raise InputError(
            f"{source} declares a sample rate of {rate} Hz, outside the range the job decodes, "
            f"{low} to {high} Hz (--min_sample_rate, --max_sample_rate)."
        )
    return rate


def decoded_clips(
    encoded: EncodedAudio,
    stream,
    max_clip_seconds: float,
    block_frames: int = BLOCK_FRAMES,
    sample_rates: tuple[int, int] = SAMPLE_RATE_RANGE,
    opened=None,
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
    step. Raises ValueError, naming the source, when the input cannot be decoded (or is no
    audio container, `audio.ffmpeg_input.AUDIO_DEMUXERS`), is truncated (a WAV/AIFF data chunk
    or a FLAC total longer than the audio by more than 10 ms), holds no samples (or none in the
    requested span), when its rate lies outside `sample_rates`, or when the offset lies past
    its end. A decode error part-way raises after the windows before it.

    Args:
        encoded: EncodedAudio. The input; `data` is ignored here (the caller opened `stream`).
        stream: seekable binary file-like object, or None when `encoded.samples` is set.
        max_clip_seconds: float. Window length, a whole number of 16 kHz samples.
        block_frames: int. Least frames resampled at a time. Defaults to `BLOCK_FRAMES`.
        sample_rates: `(lowest, highest)` rate in Hz an input may have. Defaults to
            `SAMPLE_RATE_RANGE`.
        opened: callable or None. Called once the input is open with `(format, sample_rate,
            channels)`: FFmpeg's container format name (`"samples"` for decoded samples), the
            rate in Hz and the channel count as stored. Defaults to None.

    Yields:
        `Clip`s with `float32 [N]` waveforms, N <= max_clip_seconds * 16000.
    """
    window = window_samples(max_clip_seconds)
    if encoded.samples is not None:
        reader, rate = None, _checked_rate(described(encoded), encoded.sample_rate, sample_rates)
        parts = _decoded_parts(encoded)
        properties = ("samples", rate, 1 if encoded.samples.ndim == 1 else encoded.samples.shape[1])
    else:
        wav = pcm_wav_format(stream)
        if wav is not None:
            reader = PcmWavInput(encoded, stream, wav, TRUNCATION_TOLERANCE_SECONDS)
        else:
            reader = FFmpegInput(encoded, stream)
        try:
            rate = _checked_rate(reader.source, reader.rate, sample_rates)
        except InputError:
            reader.close()
            raise
        parts = reader.parts()
        properties = (reader.format, rate, reader.channels)
    if opened is not None:
        opened(*properties)
    blocks = _resampled_blocks(_blocks(parts, block_frames), rate, block_frames)
    segment_index = -1
    metadata = metadata_json(encoded.metadata)
    source = undecodable_escaped(encoded.source)
    try:
        for segment_index, waveform in enumerate(_windows(blocks, window)):
            info = ClipInfo(
                key=clip_key(encoded.key, segment_index),
                input_key=encoded.key,
                source=source,
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
        raise InputError(f"{described(encoded)}: decoding failed after {segment_index + 1} window(s): {e}") from e
    finally:
        if reader is not None:
            reader.close()
    if segment_index < 0:
        found = f"format {reader.format}, " if reader else ""
        raise InputError(f"{described(encoded)} holds no audio samples ({found}{rate} Hz).")


def opened_input(encoded: EncodedAudio, allowed_roots: tuple[str, ...] = ()):
    """A seekable binary stream of an input's encoded bytes: its `data`, its `byte_range` of
    `source`, or `source` (opened confined: `inputs.files.opened_file`); None for decoded samples."""
    if encoded.samples is not None:
        return None
    if encoded.data is not None:
        return io.BytesIO(encoded.data)
    stream = opened_file(encoded.source, allowed_roots)
    return stream if encoded.byte_range is None else ByteRange(stream, *encoded.byte_range)


def input_clips(
    encoded: EncodedAudio,
    *,
    max_clip_seconds: float,
    block_frames: int = BLOCK_FRAMES,
    sample_rates: tuple[int, int] = SAMPLE_RATE_RANGE,
    allowed_roots: tuple[str, ...] = (),
) -> Iterator[Clip]:
    """Opens an input (`opened_input`) and yields its windows (`decoded_clips`): the decoder
    `DecodeAudio` runs, in its decoder process or in its own.

    Yields an `OpenedAudio` once the input is open (before its first window, and before the
    error when decoding then fails), then the input's `Clip`s.

    Args:
        encoded: EncodedAudio. The input.
        max_clip_seconds, block_frames, sample_rates: as `decoded_clips` takes them.
        allowed_roots: tuple of str. Resolved roots (`inputs.files.resolved_roots`) a streamed
            source must lie under; empty for none.
    """
    stream = opened_input(encoded, allowed_roots)
    opened = []
    clips = decoded_clips(
        encoded,
        stream,
        max_clip_seconds,
        block_frames,
        sample_rates,
        lambda *stored: opened.append(OpenedAudio(*stored)),
    )
    try:
        while True:
            try:
                clip = next(clips)
            except StopIteration:
                break
            except Exception:
                if opened:  # what it held as stored is known once open, even if decoding then fails
                    yield opened.pop()
                raise
            if opened:
                yield opened.pop()
            yield clip
    finally:
        if stream is not None:
            stream.close()
