"""Every step shows its configuration when printed (`reprs.ConfigRepr`), as Grain's transforms do."""

import pytest

from gemma4_audio_embed.audio.decode_audio import DecodeAudio
from gemma4_audio_embed.batching.batch_plan import BatchPlan
from gemma4_audio_embed.batching.features import ComputeFeatures
from gemma4_audio_embed.batching.pack_clips import PackClips
from gemma4_audio_embed.batching.row_packing import RELEASE_GEOMETRY
from gemma4_audio_embed.inference.clip_failures import SeparateFailedClips
from gemma4_audio_embed.inputs.read import MatchInputs
from gemma4_audio_embed.inputs.read import ReadInputs
from gemma4_audio_embed.outputs.dedup import CountRepeatedAudio
from gemma4_audio_embed.outputs.encode import EncodeRecord
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.outputs.resume import SkipCompletedInputs
from gemma4_audio_embed.outputs.spill import SpillRecords
from gemma4_audio_embed.outputs.writer import WriteRecords

PLAN = BatchPlan(lengths=(336, 3024), max_batch_frames=8192, geometry=RELEASE_GEOMETRY)


@pytest.mark.parametrize(
    "step, expected",
    [
        (MatchInputs(["a/*.wav"]), "MatchInputs(patterns=['a/*.wav'], input_lists=[], excluded_prefix=None)"),
        (ReadInputs(max_metadata_bytes=10), "ReadInputs(input_format='auto'"),
        (
            DecodeAudio(max_clip_seconds=10.0),
            "DecodeAudio(max_clip_seconds=10.0, block_frames=65536, sample_rates=(1000, 768000)",
        ),
        (ComputeFeatures(keras_backend="jax"), "ComputeFeatures(keras_backend='jax', min_clip_seconds=0.0"),
        (PackClips(PLAN), "PackClips(plan=BatchPlan(lengths=(336, 3024), max_batch_frames=8192"),
        (EncodeRecord("bfloat16"), "EncodeRecord(output_dtype='bfloat16')"),
        (
            WriteRecords(layout=OutputLayout("o/x"), run_id="r", num_shards=4),
            "WriteRecords(layout=OutputLayout(prefix='o/x'",
        ),
        (SpillRecords("o/x.temp-r/spill"), "SpillRecords(folder='o/x.temp-r/spill')"),
        (SeparateFailedClips(), "SeparateFailedClips()"),
        (CountRepeatedAudio(), "CountRepeatedAudio()"),
        (SkipCompletedInputs(OutputLayout("o/x"), frozenset({"a", "b"})), "completed=<2 files>)"),
    ],
)
def test_repr_shows_the_configuration(step, expected):
    assert expected in repr(step)
