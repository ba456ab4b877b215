"""A WAV of integer PCM padded into 32-bit containers (24 valid bits in 32), read as the integers it holds.

FFmpeg opens such a WAVE_FORMAT_EXTENSIBLE file as `pcm_f24le` and decodes noise and NaN. Its
samples are plain little-endian int32 with the valid bits at the top, so reading them as int32
and scaling by 2^-31 gives exactly what a 24-bit read of the same audio gives (x * 2^8 / 2^31 =
x / 2^23). `audio.declared_length.padded_pcm_format` recognises the header.

Axis legend: R samples at the input's rate, C channels.
"""

from collections.abc import Iterator

import numpy as np

from gemma4_audio_embed.audio.declared_length import PaddedPcm
from gemma4_audio_embed.audio.span import InputError
from gemma4_audio_embed.audio.span import Span
from gemma4_audio_embed.audio.span import described
from gemma4_audio_embed.audio.span import past_the_end
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.samples import mono_samples

FRAMES_PER_READ = 1 << 16  # frames read at a time: 1 MiB of stereo
CONTAINER_BYTES = 4


class PaddedPcmInput:
    """An input of `PaddedPcm` layout: its data chunk read as int32 frames, channels averaged.

    The same interface as `audio.ffmpeg_input.FFmpegInput` (`rate`, `channels`, `format`, `parts()`,
    `close()`).

    Raises InputError naming the source when its data chunk is shorter than the span needs by
    more than `tolerance_seconds`, or the span starts past the end.

    Args:
        encoded: EncodedAudio. The input.
        stream: seekable binary stream of the WAV file.
        layout: PaddedPcm. Its header (`padded_pcm_format`).
        tolerance_seconds: float. How much shorter than declared the data may be.
    """

    format = "wav"

    def __init__(self, encoded: EncodedAudio, stream, layout: PaddedPcm, tolerance_seconds: float):
        self.source = described(encoded)
        self.stream, self.layout, self.rate = stream, layout, layout.sample_rate
        self.channels = layout.channels
        self.offset_seconds = encoded.offset_seconds
        self.span = Span(encoded, self.rate)
        frame_bytes = CONTAINER_BYTES * layout.channels
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

    def close(self) -> None:
        pass  # the stream is the caller's

    def parts(self) -> Iterator[np.ndarray]:
        """Yields the span's samples as `float32 [R']` parts, channels averaged, in order."""
        end = self.frames if self.span.end is None else min(self.frames, self.span.end)
        if self.span.start and self.span.start >= self.frames:
            raise past_the_end(self.source, self.offset_seconds, self.frames / self.rate)
        channels = self.layout.channels
        position = self.span.start
        self.stream.seek(self.layout.data_offset + position * CONTAINER_BYTES * channels)
        while position < end:
            count = min(FRAMES_PER_READ, end - position)
            data = self.stream.read(count * CONTAINER_BYTES * channels)
            count = len(data) // (CONTAINER_BYTES * channels)
            if not count:
                return
            frames = np.frombuffer(data, "<i4", count * channels).reshape(count, channels).T  # [C, R']
            yield mono_samples(frames, "s32")
            position += count
