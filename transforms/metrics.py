"""The pipeline's Beam counters, all under one namespace, and a progress log for long local runs."""

import logging
import time

from apache_beam.metrics import Metrics

NAMESPACE = "gemma4_embed"
INPUTS_READ = (
    "inputs_read"  # inputs found: files, tar samples, records, rows, manifest lines, unreadable files
)
ENTRIES_SKIPPED = "entries_skipped"  # entries that are no input by convention (`._*` AppleDouble members)
REPEATED_IDS = "repeated_ids"  # inputs whose id or member name was taken earlier in its file (given a distinct key)
CLIPS_READ = "clips_read"  # windows cut from decoded inputs
REPEATED_AUDIO = "repeated_audio"  # clips whose window another clip with a smaller key has (same audio_sha256)
CLIPS_EMBEDDED = "clips_embedded"  # records written
DEAD_LETTERS = "dead_letters"  # dead-letter entries, all stages; per stage as dead_letters_<stage>
AUDIO_SAMPLES_EMBEDDED = "audio_samples_embedded"  # 16 kHz samples of the clips written
TOKENS_EMBEDDED = "tokens_embedded"  # valid tokens written
# String sets: what each worker's encoder runs on, as JSON, e.g. {"count": 4, "kind": "TPU v5 lite"}.
DEVICES = "devices"
FEATURES_ON_DEVICE = "features_on_device"  # whether log-mel ran in the encoder's program (true/false)
MAX_BATCH_FRAMES = "max_batch_frames"  # the frame budget PackClips chose, as text (`--max_batch_frames auto`)
PROGRESS_INTERVAL_SECONDS = 30.0


def counter(name: str):
    """Returns the Beam counter `name` in the pipeline's namespace."""
    return Metrics.counter(NAMESPACE, name)


class ProgressLog:
    """Logs clips, audio and throughput of this worker at most every `interval_seconds`.

    Beam counters are only readable when a local job ends, so each worker also logs its own
    progress; on Dataflow the lines land in the worker logs.

    Args:
        interval_seconds: float. Least time between two log lines. Defaults to 30.
    """

    def __init__(self, interval_seconds: float = PROGRESS_INTERVAL_SECONDS):
        self.interval_seconds = interval_seconds
        self._start = self._last = time.monotonic()
        self._clips = 0
        self._audio_seconds = 0.0

    def add(self, audio_seconds: float) -> None:
        self._clips += 1
        self._audio_seconds += audio_seconds
        now = time.monotonic()
        if now - self._last >= self.interval_seconds:
            self._last = now
            logging.info(
                "Embedded %d clips, %.2f h of audio, %.1f audio-seconds per second in this worker.",
                self._clips,
                self._audio_seconds / 3600,
                self._audio_seconds / max(now - self._start, 1e-9),
            )
