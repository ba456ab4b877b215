"""Repeated audio: counting clips whose window repeats, and `--dedup`, which embeds each distinct window once.

Clips are compared by `audio_sha256`, the SHA-256 of their decoded 16 kHz float32 samples, so
the same audio repeats whatever container, codec (lossless) or file it came from. Among the
clips of one hash the one with the smallest key is kept; every other is a duplicate, counted
in `repeated_audio`, and with `--dedup` listed (not embedded) in
`<output>-duplicates-SSSSS-of-NNNNN.jsonl` with the key of the clip it repeats. Both work on
decoded clips, before features and inference, so nothing is decoded twice.
"""

import json

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from gemma4_audio_embed.metrics import REPEATED_AUDIO
from gemma4_audio_embed.metrics import TALLY_TAG
from gemma4_audio_embed.metrics import TallyingDoFn
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.reprs import ConfigRepr

DUPLICATES_TAG = "duplicates"


class _CountRepeats(ConfigRepr, TallyingDoFn):
    """`(hash, number of clips)` -> tallies the clips beyond the first in `repeated_audio`."""

    def process(self, element):
        self.tally.add(REPEATED_AUDIO, element[1] - 1)
        return ()


class CountRepeatedAudio(ConfigRepr, beam.PTransform):
    """Counts, in `repeated_audio`, the clips whose `audio_sha256` another clip with a smaller key has.

    Returns:
        The tally (`metrics.TALLY_TAG` elements).
    """

    def expand(self, clips):
        return (
            clips
            | "ByHash" >> beam.Map(lambda clip: (clip.info.audio_sha256, 1))
            | "CountPerHash" >> beam.CombinePerKey(sum)
            | "CountRepeats" >> beam.ParDo(_CountRepeats()).with_outputs(TALLY_TAG, main="none")
        )[TALLY_TAG]


class _KeepSmallestKey(ConfigRepr, TallyingDoFn):
    """`(hash, clips)` -> the clip of smallest key; the others as JSON lines on `DUPLICATES_TAG`,
    tallied in `repeated_audio`."""

    def process(self, element):
        audio_sha256, clips = element
        kept, *others = sorted(clips, key=lambda clip: clip.info.key)
        yield kept
        self.tally.add(REPEATED_AUDIO, len(others))
        for clip in others:
            entry = {
                "key": clip.info.key,
                "input_key": clip.info.input_key,
                "source": clip.info.source,
                "duplicate_of": kept.info.key,
                "audio_sha256": audio_sha256,
            }
            yield TaggedOutput(DUPLICATES_TAG, json.dumps(entry, sort_keys=True, ensure_ascii=False))


class DeduplicateClips(ConfigRepr, beam.PTransform):
    """Keeps one clip per `audio_sha256` and writes the others to `<output>-duplicates-*.jsonl`.

    Args:
        layout: OutputLayout. The job's outputs: the duplicates go to
            `layout.duplicates_prefix(run_id)`, one shard, empty when no clip repeats, so a reader
            always finds it.
        run_id: str. This run's id.

    Returns:
        `(kept clips, tally, names of the duplicates files written)`.
    """

    def __init__(self, layout: OutputLayout, run_id: str):
        super().__init__()
        self.layout = layout
        self.run_id = run_id

    def expand(self, clips):
        kept, duplicates, tally = (
            clips
            | "ByHash" >> beam.Map(lambda clip: (clip.info.audio_sha256, clip))
            | "GroupByHash" >> beam.GroupByKey()
            | "KeepSmallestKey" >> beam.ParDo(_KeepSmallestKey()).with_outputs(DUPLICATES_TAG, TALLY_TAG, main="kept")
        )
        written = duplicates | "WriteDuplicates" >> beam.io.WriteToText(
            self.layout.duplicates_prefix(self.run_id), file_name_suffix=".jsonl", num_shards=1
        )
        return kept, tally, written
