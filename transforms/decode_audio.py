"""Decoding: encoded audio to 16 kHz mono float32 windows of at most `max_clip_seconds`, read in blocks.

Resampling uses soxr (libsoxr's "HQ" preset): a real band-limited resampler, exact for any
rate ratio (44.1 kHz and 22.05 kHz as well as 48 kHz and 8 kHz), and streaming: its
`ResampleStream` carries the filter state from one block to the next, so a file read in
blocks resamples to the very samples a one-shot call gives (tested). SciPy's `resample_poly`
has no such state, so per-block calls would click at every block edge, and it would need the
whole file in memory instead.

Axis legend: N samples at 16 kHz, R samples at the file's rate, C channels.
"""

import io
import math
import re
from typing import Iterator

import apache_beam as beam
import numpy as np
import soundfile
import soxr
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.elements import SAMPLE_RATE
from transforms.elements import Clip
from transforms.elements import ClipInfo
from transforms.elements import EncodedAudio
from transforms.elements import clip_key
from transforms.metrics import CLIPS_READ
from transforms.metrics import counter

BLOCK_FRAMES = 1 << 16  # 65536 frames read at a time: 4.1 s at 16 kHz, 1.4 s at 48 kHz
RESAMPLER_QUALITY = "HQ"
_SHORT_DATA_CHUNK = re.compile(r"^data\s*:\s*(\d+) \(should be (\d+)\)", re.MULTILINE)  # libsndfile's log
_UNKNOWN_CHUNK_SIZES = (0, 0xFFFFFFFF)  # written by streaming encoders that could not seek back
_OGG_ENDED_EARLY = "Last page lacks an end-of-stream bit"  # libsndfile's log


def window_samples(max_clip_seconds: float) -> int:
    """Samples per window at 16 kHz; `max_clip_seconds` must be a positive whole number of samples."""
    samples = max_clip_seconds * SAMPLE_RATE
    if not (max_clip_seconds > 0 and math.isclose(samples, round(samples), abs_tol=1e-6)):
        raise ValueError(
            "`max_clip_seconds` must be positive and a whole number of 16 kHz samples. "
            f"Received: max_clip_seconds={max_clip_seconds!r}"
        )
    return round(samples)


def _check_not_truncated(audio: soundfile.SoundFile, source: str) -> None:
    """Raises ValueError when libsndfile's log shows a truncated WAV/AIFF data chunk or Ogg stream.

    libsndfile shrinks `frames` to what such a file holds and reads it without complaint; only
    its log tells (`data : <declared> (should be <found>)`, `Last page lacks an end-of-stream bit`).
    FLAC truncation fails while decoding. MP3 has no reliable length to check against: its
    frame count is an estimate unless an encoder wrote a Xing header.
    """
    log = audio.extra_info
    match = _SHORT_DATA_CHUNK.search(log)
    if match:
        declared, found = int(match.group(1)), int(match.group(2))
        if found < declared and declared not in _UNKNOWN_CHUNK_SIZES:
            raise ValueError(
                f"{source} is truncated: its data chunk declares {declared} bytes, the file holds {found}."
            )
    if audio.format == "OGG" and _OGG_ENDED_EARLY in log:
        raise ValueError(f"{source} is truncated: its Ogg stream ends without an end-of-stream page.")


def _mono_blocks(
    audio: soundfile.SoundFile, num_frames: int, block_frames: int, source: str
) -> Iterator[np.ndarray]:
    """Yields `float32 [R']` blocks, channels averaged, `num_frames` frames in all.

    Raises ValueError when the file ends before the `num_frames` frames its header promised,
    except for MP3, whose length is an estimate.
    """
    remaining = num_frames
    while remaining > 0:
        block = audio.read(min(block_frames, remaining), dtype="float32", always_2d=True)  # [R', C]
        if block.shape[0] == 0 and audio.format == "MP3":  # an estimated length, see _check_not_truncated
            return
        if block.shape[0] == 0:
            raise ValueError(
                f"{source} is truncated: its header promises {num_frames} frames from the start "
                f"point, but only {num_frames - remaining} could be decoded."
            )
        remaining -= block.shape[0]
        yield block.mean(axis=1, dtype=np.float32)  # [R']


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
    encoded: EncodedAudio, stream, max_clip_seconds: float, block_frames: int = BLOCK_FRAMES
) -> Iterator[Clip]:
    """Decodes one input from a seekable binary `stream` into its 16 kHz windows.

    1. Open with soundfile (libsndfile: WAV, FLAC, OGG Vorbis/Opus, MP3, ...), seek to
       `encoded.offset_seconds`, and read at most `encoded.duration_seconds`, `block_frames`
       frames at a time; the file is never held whole.
    2. Average the channels (mono), resample to 16 kHz (soxr, see the module docstring).
    3. Cut consecutive windows of `max_clip_seconds`; the last, shorter window is kept.
       Window i starts at `offset_seconds + i * max_clip_seconds`.

    Samples are passed on as decoded: a non-finite sample is caught per clip by the features
    step. Raises ValueError, naming the source, when the file cannot be decoded, is truncated
    (`_check_not_truncated`), holds no samples (or none in the requested span), or when the
    offset lies past its end.

    Args:
        encoded: EncodedAudio. The input; `data` is ignored here (the caller opened `stream`).
        stream: binary file-like object with `read`, `seek` and `tell`.
        max_clip_seconds: float. Window length, a whole number of 16 kHz samples.
        block_frames: int. Frames read at a time. Defaults to `BLOCK_FRAMES`.

    Yields:
        `Clip`s with `float32 [N]` waveforms, N <= max_clip_seconds * 16000.
    """
    window = window_samples(max_clip_seconds)
    try:
        audio = soundfile.SoundFile(stream)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as e:
        raise ValueError(f"Cannot decode {encoded.source} as audio: {e}") from e
    with audio:
        _check_not_truncated(audio, encoded.source)
        rate = audio.samplerate
        start = round(encoded.offset_seconds * rate)
        if start:
            if audio.frames > 0 and start >= audio.frames:
                raise ValueError(
                    f"{encoded.source}: offset {encoded.offset_seconds} s is past the end of its "
                    f"{audio.frames / rate:.3f} s of audio."
                )
            audio.seek(start)
        num_frames = audio.frames - start
        if encoded.duration_seconds is not None:
            num_frames = min(num_frames, round(encoded.duration_seconds * rate))
        blocks = _resampled_blocks(_mono_blocks(audio, num_frames, block_frames, encoded.source), rate)
        segment_index = -1
        try:
            for segment_index, waveform in enumerate(_windows(blocks, window)):
                info = ClipInfo(
                    key=clip_key(encoded.key, segment_index),
                    input_key=encoded.key,
                    source=encoded.source,
                    segment_index=segment_index,
                    start_seconds=encoded.offset_seconds + segment_index * max_clip_seconds,
                    num_samples=waveform.shape[0],
                )
                yield Clip(info, waveform)
        except (soundfile.LibsndfileError, ValueError) as e:
            raise ValueError(
                f"{encoded.source}: decoding failed after {segment_index + 1} window(s): {e}"
            ) from e
        if segment_index < 0:
            raise ValueError(f"{encoded.source} holds no audio samples (format {audio.format}, {rate} Hz).")


class DecodeAudio(beam.DoFn):
    """Decodes each EncodedAudio into 16 kHz mono Clips of at most `max_clip_seconds`.

    Inputs without bytes are streamed from their source URI (local or `gs://`) in blocks.
    Run it under `with_exception_handling(partial=True)` so the windows of an hours-long file
    flow on as they are cut; a file that fails half-way then keeps the records of its earlier
    windows, and its dead letter says after how many windows it failed.

    Args:
        max_clip_seconds: float. Window length in seconds. Defaults to 30.
        block_frames: int. Frames read at a time. Defaults to `BLOCK_FRAMES`.
    """

    def __init__(self, max_clip_seconds: float = 30.0, block_frames: int = BLOCK_FRAMES):
        window_samples(max_clip_seconds)
        if not (isinstance(block_frames, int) and block_frames > 0):
            raise ValueError(
                f"`block_frames` must be a positive int. Received: block_frames={block_frames!r}"
            )
        self.max_clip_seconds = max_clip_seconds
        self.block_frames = block_frames

    def setup(self):
        self._clips_read = counter(CLIPS_READ)

    def process(self, encoded: EncodedAudio):
        if encoded.data is not None:
            stream = io.BytesIO(encoded.data)
        else:
            stream = FileSystems.open(encoded.source, compression_type=CompressionTypes.UNCOMPRESSED)
        with stream:
            for clip in decoded_clips(encoded, stream, self.max_clip_seconds, self.block_frames):
                self._clips_read.inc()
                yield clip
