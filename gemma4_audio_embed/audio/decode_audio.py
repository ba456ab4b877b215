"""`DecodeAudio`: the job's decode step, each input decoded into its windows in a supervised decoder process."""

import functools
from collections.abc import Callable

from gemma4_audio_embed.audio.decode import BLOCK_FRAMES
from gemma4_audio_embed.audio.decode import SAMPLE_RATE_RANGE
from gemma4_audio_embed.audio.decode import OpenedAudio
from gemma4_audio_embed.audio.decode import input_clips
from gemma4_audio_embed.audio.decode import window_samples
from gemma4_audio_embed.audio.decode_process import STALL_SECONDS
from gemma4_audio_embed.audio.decode_process import DecoderProcess
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.files import resolved_roots
from gemma4_audio_embed.metrics import CLIPS_READ
from gemma4_audio_embed.metrics import INPUTS_DECODED
from gemma4_audio_embed.metrics import TallyingDoFn
from gemma4_audio_embed.metrics import audio_property_counter
from gemma4_audio_embed.reprs import ConfigRepr


class DecodeAudio(ConfigRepr, TallyingDoFn):
    """Decodes each EncodedAudio into 16 kHz mono Clips of at most `max_clip_seconds` (`audio.decode`).

    Inputs without bytes or samples are streamed from their source URI (local or `gs://`),
    opened confined (`inputs.files`). Run it under `with_exception_handling(partial=True)` so
    the windows of an hours-long file flow on as they are cut; a file that fails half-way then
    keeps the records of its earlier windows, and its dead letter says after how many windows
    it failed. With `isolated` (the job's way), decoding runs in a `DecoderProcess` per DoFn
    instance: a crash of FFmpeg or soxr on one input is that input's dead letter, and the next
    input gets a fresh decoder.

    Tallies the windows (`clips_read`), each input it is done with, decoded or failed
    (`inputs_decoded`, the job's progress), and each opened input's format, sample rate and
    channels (`metrics.audio_property_counter`, from the decoder's `OpenedAudio`).

    Args:
        max_clip_seconds: float. Window length in seconds. Defaults to 30.
        block_frames: int. Least frames resampled at a time. Defaults to `BLOCK_FRAMES`.
        sample_rates: `(lowest, highest)` input rate in Hz. Defaults to `SAMPLE_RATE_RANGE`.
        allowed_roots: sequence of str. Folders and URI prefixes a streamed source must lie
            under (`--allowed_roots`). Defaults to none.
        isolated: bool. Decode in a supervised child process. Defaults to True.
        decoder: callable `decoder(encoded, **settings) -> Iterator[Clip]` at module level.
            Defaults to `audio.decode.input_clips`; tests pass a stand-in.
        stall_seconds: float. With `isolated`, longest wait for the next window before the
            decoder is stopped and the input dead-lettered. Defaults to `STALL_SECONDS`.
    """

    def __init__(
        self,
        max_clip_seconds: float = 30.0,
        block_frames: int = BLOCK_FRAMES,
        *,
        sample_rates: tuple[int, int] = SAMPLE_RATE_RANGE,
        allowed_roots=(),
        isolated: bool = True,
        decoder: Callable = input_clips,
        stall_seconds: float = STALL_SECONDS,
    ):
        window_samples(max_clip_seconds)
        if not (isinstance(block_frames, int) and block_frames > 0):
            raise ValueError(f"`block_frames` must be a positive int. Received: block_frames={block_frames!r}")
        low, high = sample_rates
        if not 0 < low <= high:
            raise ValueError(
                f"`sample_rates` must be (lowest, highest) with 0 < lowest <= highest. Received: {sample_rates}"
            )
        self.max_clip_seconds = max_clip_seconds
        self.block_frames = block_frames
        self.sample_rates = (low, high)
        self.allowed_roots = tuple(allowed_roots)
        resolved_roots(self.allowed_roots)  # an empty root raises here
        self.isolated = isolated
        self.decoder = decoder
        self.stall_seconds = stall_seconds

    def setup(self):
        super().setup()
        settings = {
            "max_clip_seconds": self.max_clip_seconds,
            "block_frames": self.block_frames,
            "sample_rates": self.sample_rates,
            "allowed_roots": resolved_roots(self.allowed_roots),
        }
        if self.isolated:
            self._process = DecoderProcess(self.decoder, settings, self.stall_seconds)
            self._process.start()
            self._clips = self._process.clips
        else:
            self._process = None
            self._clips = functools.partial(self.decoder, **settings)

    def teardown(self):
        if self._process is not None:
            self._process.close()

    def process(self, encoded: EncodedAudio):
        try:
            for item in self._clips(encoded):
                if isinstance(item, OpenedAudio):
                    for name, value in zip(OpenedAudio._fields, item):
                        self.tally.add(audio_property_counter(name, value))
                    continue
                self.tally.add(CLIPS_READ)
                yield item
        finally:
            self.tally.add(INPUTS_DECODED)
