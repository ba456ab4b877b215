"""An input opened with FFmpeg (PyAV), confined to audio containers: its first audio stream as mono parts.

FFmpeg reads every container and codec the job supports (`audio/decode.py`), but it also
follows what a file tells it: an SDP description binds UDP ports and embeds network audio, an
ffconcat script or an HLS playlist opens other files. So every input is opened with
- `format_whitelist`: only the demuxers of audio (and audio-in-video) containers,
  `AUDIO_DEMUXERS`; never concat, SDP/RTP/RTSP, HLS/DASH, image2, tee, data or other meta
  demuxers, whatever the content says;
- `protocol_whitelist`: no protocol at all. The input's bytes come through PyAV's own I/O on
  the stream the job opened; any demuxer asking FFmpeg to open a URL (a file, a socket) is refused.

A decoded frame is read from its planes with NumPy, except a planar frame of 8 channels or
more, which FFmpeg's own converter first makes packed (exactly, same layout and rate): PyAV
counts the planes of such a frame past its last one (9 for 7.1 Vorbis or Opus) and reading
them crashes the process.

Axis legend: R samples at the input's rate, C channels.
"""

import contextlib
import re
from collections.abc import Iterator

import av
import numpy as np

from gemma4_audio_embed.audio.declared_length import declared_data_chunk
from gemma4_audio_embed.audio.declared_length import is_wave
from gemma4_audio_embed.audio.span import InputError
from gemma4_audio_embed.audio.span import Span
from gemma4_audio_embed.audio.span import described
from gemma4_audio_embed.audio.span import past_the_end
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.samples import SAMPLE_DTYPES
from gemma4_audio_embed.inputs.samples import mono_samples

# FFmpeg's demuxers of the containers the job reads (docs/inputs.md): a name matches a demuxer
# that lists it ("mov" admits "mov,mp4,m4a,3gp,3g2,mj2", "matroska" admits "matroska,webm").
AUDIO_DEMUXERS = (
    "aac", "ac3", "aiff", "amr", "amrnb", "amrwb", "ape", "asf", "au", "avi", "caf", "dts", "eac3",
    "flac", "gsm", "matroska", "mov", "mp3", "mpeg", "mpegts", "nistsphere", "ogg", "tta", "voc",
    "w64", "wav", "wv",
)  # fmt: skip
NO_PROTOCOL = "none"  # a protocol_whitelist no protocol's name matches: FFmpeg opens nothing itself
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
WAV_PACKET_BYTES = 1 << 16
_WAV_DEMUXER_OPTIONS = {"max_size": str(WAV_PACKET_BYTES), "probesize": str(1 << 15)}
_CONFINED = {"format_whitelist": ",".join(AUDIO_DEMUXERS), "protocol_whitelist": NO_PROTOCOL}
_NOT_ON_WHITELIST = re.compile(r"\[(\w+)\] Format not on whitelist")
_MAX_PLANES_READ = 8  # AV_NUM_DATA_POINTERS: PyAV miscounts the planes of a planar frame with as many channels


class _FrameReader:
    """Reads decoded frames as `float32 [R]`, channels averaged, straight from their planes.

    A planar frame of `_MAX_PLANES_READ` channels or more goes through FFmpeg's converter to the
    packed form of its sample format first (`av.AudioResampler`, one per format, layout and rate).
    """

    def __init__(self):
        self._packers = {}

    def _packed(self, frame: av.AudioFrame) -> av.AudioFrame:
        setup = (frame.format.name, frame.layout.name, frame.sample_rate)
        if setup not in self._packers:
            packed = frame.format.packed.name
            self._packers[setup] = av.AudioResampler(format=packed, layout=frame.layout, rate=frame.sample_rate)
        (packed,) = self._packers[setup].resample(frame)  # same rate: one frame in, one out
        return packed

    def samples(self, frame: av.AudioFrame) -> np.ndarray:
        channels = frame.layout.nb_channels
        if frame.format.is_planar and channels >= _MAX_PLANES_READ:
            frame = self._packed(frame)
        sample_format = frame.format.name.removesuffix("p")
        dtype, count = SAMPLE_DTYPES[sample_format], frame.samples
        if frame.format.is_planar:  # one plane per channel
            planes = [np.frombuffer(plane, dtype, count) for plane in frame.planes]  # C x [R]
            samples = planes[0] if len(planes) == 1 else np.stack(planes)  # [R] or [C, R]
        else:  # channels interleaved in one plane
            samples = np.frombuffer(frame.planes[0], dtype, count * channels).reshape(count, channels).T  # [C, R]
        return mono_samples(samples, sample_format)


@contextlib.contextmanager
def _error_log():
    """Collects FFmpeg's error messages while open (`(level, name, message)`), logging none of them."""
    level = av.logging.get_level()
    if level is None or level < av.logging.ERROR:
        av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture() as messages:
            yield messages
    finally:
        av.logging.set_level(level)


def _refusal(error: av.FFmpegError, source: str, messages: list, is_wav: bool = False) -> InputError:
    """The error of an input FFmpeg would not open, saying which demuxer it asked for when the
    allow-list refused it (from the messages logged, or the last one PyAV quotes: it logs a repeat once)."""
    logged = [f"[{name}] {message}" for _, name, message in messages] + [str(error)]
    refused = [found.group(1) for text in logged if (found := _NOT_ON_WHITELIST.search(text))]
    if refused:
        return InputError(
            f"Cannot decode {source} as audio: FFmpeg reads it as {refused[0]!r}, which is not one of the audio "
            "containers the job opens (a playlist, network description or other meta format is never followed)."
        )
    why = error.strerror or str(error)  # without PyAV's errno and its name for the stream
    if isinstance(error, av.InvalidDataError):
        why += (
            " (a RIFF WAVE file whose header FFmpeg cannot read: cut short or damaged)"
            if is_wav
            else " (FFmpeg finds no audio container it reads at the start of the file)"
        )
    if messages:
        _, name, message = messages[-1]
        why += f"; FFmpeg logged: [{name}] {message}"
    return InputError(f"Cannot decode {source} as audio: {why}.")


class FFmpegInput:
    """An input opened with FFmpeg: its first audio stream, decoded to mono float32 parts.

    Raises ValueError, naming the source, when FFmpeg cannot open the input, it has no audio
    stream, or its WAV/AIFF data chunk is truncated.
    """

    def __init__(self, encoded: EncodedAudio, stream):
        self.source = described(encoded)
        declared_chunk = declared_data_chunk(stream)  # before FFmpeg reads: it keeps its own position
        head = stream.read(12)
        if not head:
            raise InputError(f"Cannot decode {self.source} as audio: it is empty (0 bytes).")
        stream.seek(0)
        if head[:4] == b"RIFX":  # the layouts the job reads in RIFX go to `audio.pcm_wav`
            raise InputError(
                f"Cannot decode {self.source} as audio: a big-endian (RIFX) WAV of a layout the job does not "
                "read (FFmpeg decodes RIFX samples byte-swapped, as noise)."
            )
        is_wav = is_wave(head)
        try:
            with _error_log() as messages:
                options = _CONFINED | (_WAV_DEMUXER_OPTIONS if is_wav else {})
                self.container = av.open(stream, mode="r", container_options=options)
        except av.FFmpegError as e:
            raise _refusal(e, self.source, messages, is_wav) from e
        if not self.container.streams.audio:
            kinds = sorted({s.type for s in self.container.streams}) or ["none"]
            self.container.close()
            raise InputError(
                f"Cannot decode {self.source} as audio: it has no audio stream (streams: {', '.join(kinds)})."
            )
        self.audio = self.container.streams.audio[0]
        if self.audio.codec_context is None:  # FFmpeg knows the stream but has no decoder for it
            self.container.close()
            raise InputError(
                f"Cannot decode {self.source} as audio: FFmpeg has no decoder for its audio stream "
                "(an audio format it recognises but cannot decode)."
            )
        self.rate = self.audio.codec_context.sample_rate
        self.channels = self.audio.codec_context.layout.nb_channels
        self.format = self.container.format.name
        self.offset_seconds = encoded.offset_seconds
        self.span = Span(encoded, self.rate)
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
        reader = _FrameReader()
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
                part = reader.samples(frame)
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
            raise past_the_end(self.source, self.offset_seconds, position / self.rate)
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
