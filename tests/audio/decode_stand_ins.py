"""Decoders that misbehave on purpose, for `DecoderProcess` and `DecodeAudio(decoder=...)`: module-level,
so the decoder process can import them by name (it gets the parent's `sys.path`)."""

import os
import signal
import time

from gemma4_audio_embed.audio.clips import Clip
from gemma4_audio_embed.audio.decode import input_clips


def crashing_decoder(encoded, **settings):
    """Decodes as `input_clips` does, but kills its own process with SIGSEGV on an input whose key
    holds `crash`, after the first window when the key holds `crash_late`: a native crash."""
    windows = 0
    for item in input_clips(encoded, **settings):
        if isinstance(item, Clip):
            if "crash" in encoded.key and (windows == 1 or "crash_late" not in encoded.key):
                os.kill(os.getpid(), signal.SIGSEGV)
            windows += 1
        yield item
    if "crash" in encoded.key:
        os.kill(os.getpid(), signal.SIGSEGV)


def stalling_decoder(encoded, **settings):
    """Hangs on an input whose key holds `stall`, as a demuxer waiting on a network would."""
    if "stall" in encoded.key:
        time.sleep(3600)
    yield from input_clips(encoded, **settings)
