"""A WAV file of uncompressed samples read without FFmpeg: its data chunk as NumPy frames, channels averaged.

`audio.declared_length.pcm_wav_format` says which files: integer PCM of 8, 16 or 32 bits and
32-bit float with a declared data size, which FFmpeg would decode to the very same samples
(tested) at about 2 ms more CPU per input, most of it opening the file; and integer PCM padded
into 32-bit containers (24 valid bits in 32), which FFmpeg opens as `pcm_f24le` and decodes to
noise and NaN. A padded file's samples are plain little-endian int32 with the valid bits at the
top, so reading them as int32 and scaling by 2^-31 gives exactly what a 24-bit read of the same
audio gives (x * 2^8 / 2^31 = x / 2^23).

Files are read in FFmpeg's packets (64 KiB, whole frames), so the blocks resampled are the ones
FFmpeg's reading gives, and a read holds at most 64 KiB (a frame, if larger) of any layout. A
big-endian RIFX file of a plain layout is read with its byte order; FFmpeg decodes RIFX samples
byte-swapped. Nothing here parses more than the header's numbers: the samples are
`np.frombuffer` of the bytes read.

Axis legend: R samples at the input's rate, C channels.
"""

from collections.abc import Iterator

import numpy as np

from gemma4_audio_embed.audio.declared_length import PcmWav
from gemma4_audio_embed.audio.ffmpeg_input import WAV_PACKET_BYTES
from gemma4_audio_embed.audio.span import InputError
from gemma4_audio_embed.audio.span import Span
from gemma4_audio_embed.audio.span import described
from gemma4_audio_embed.audio.span import past_the_end
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.samples import SAMPLE_DTYPES
from gemma4_audio_embed.inputs.samples import mono_samples


class PcmWavInput:
    """An input of `PcmWav` layout: its data chunk read as frames, channels averaged.

    The same interface as `audio.ffmpeg_input.FFmpegInput` (`source`, `rate`, `channels`,
    `format`, `parts()`, `close()`).

    Raises InputError naming the source when its data chunk is shorter than the span needs by
    more than `tolerance_seconds`, or the span starts past the end.

    Args:
        encoded: EncodedAudio. The input.
        stream: seekable binary stream of the WAV file.
        layout: PcmWav. Its header (`pcm_wav_format`).
        tolerance_seconds: float. How much shorter than declared the data may be.
    """

    format = "wav"

    def __init__(self, encoded: EncodedAudio, stream, layout: PcmWav, tolerance_seconds: float):
        self.source = described(encoded)
        self.stream, self.layout, self.rate = stream, layout, layout.sample_rate
        self.channels = layout.channels
        self.offset_seconds = encoded.offset_seconds
        self.span = Span(encoded, self.rate)
        self.dtype = SAMPLE_DTYPES[layout.sample_format].newbyteorder(layout.byte_order)
        self.frame_bytes = frame_bytes = self.dtype.itemsize * layout.channels
        stream.seek(0, 2)
        self.frames = max(stream.tell() - layout.data_offset, 0) // frame_bytes  # what the file holds
        if layout.data is not None:
            declared = layout.data.size // frame_bytes
            needed = declared if self.span.end is None else min(declared, self.span.end)
            if self.frames < needed - tolerance_seconds * self.rate:
                raise InputError(
                    f"{self.source} is truncated: its data chunk declares {layout.data.size} bytes "
                    f"({declared / self.rate:.3f} s), the file holds {self.frames * frame_bytes} bytes "
                    f"({self.frames / self.rate:.3f} s)."
                )
            self.frames = min(self.frames, declared)
        self.frames_per_read = max(WAV_PACKET_BYTES // frame_bytes, 1)

    def close(self) -> None:
        pass  # the stream is the caller's

    def parts(self) -> Iterator[np.ndarray]:
        """Yields the span's samples as `float32 [R']` parts, channels averaged, in order."""
        end = self.frames if self.span.end is None else min(self.frames, self.span.end)
        if self.span.start and self.span.start >= self.frames:
            raise past_the_end(self.source, self.offset_seconds, self.frames / self.rate)
        channels, frame_bytes = self.layout.channels, self.frame_bytes
        position = self.span.start
        self.stream.seek(self.layout.data_offset + position * frame_bytes)
        while position < end:
            count = min(self.frames_per_read, end - position)
            data = self.stream.read(count * frame_bytes)
            count = len(data) // frame_bytes
            if not count:
                return
            frames = np.frombuffer(data, self.dtype, count * channels).reshape(count, channels).T  # [C, R']
            yield mono_samples(frames, self.layout.sample_format)
            position += count
