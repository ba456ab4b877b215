"""Tests for batching/pack_clips.py: which clips share a batch, and the DoFn around it."""

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to

from gemma4_audio_embed.batching.batch_plan import BatchPlan
from gemma4_audio_embed.batching.pack_clips import ClipPacker
from gemma4_audio_embed.batching.pack_clips import PackClips
from gemma4_audio_embed.batching.row_packing import RELEASE_GEOMETRY
from gemma4_audio_embed.batching.row_packing import PackingGeometry
from gemma4_audio_embed.batching.row_packing import first_fit_rows
from gemma4_audio_embed.metrics import TALLY_TAG
from gemma4_audio_embed.metrics import summed_tallies

GAP_44 = PackingGeometry(frames_per_token=4, gap_frames=44)  # the geometry the hand-worked batches below assume


def _frames(num_frames):
    return np.ones((num_frames, 128), np.float32)


def test_packer_holds_clips_until_two_full_batches_are_pooled():
    # Rows of 432, 2 rows a batch: the pool waits for 2 x 2 x 432 = 1728 frames. A clip of 300
    # frames counts 300 + 44 of gap = 344, so the sixth clip (2064) releases a batch. One 300
    # fills a row (344 + 300 > 432), so a batch is two clips: the first two to arrive.
    packer = ClipPacker(row_frames=432, max_batch_frames=864, geometry=GAP_44)
    released = [packer.add(f"clip{index}", 300) for index in range(6)]
    assert released == [[], [], [], [], [], [["clip0", "clip1"]]]
    assert packer.flush() == [["clip2", "clip3"], ["clip4", "clip5"]]
    assert packer.flush() == []


def test_packer_fills_the_rows_of_long_clips_with_short_ones():
    packer = ClipPacker(row_frames=3024, max_batch_frames=6048, geometry=GAP_44)
    batches = packer.add("a", 2900) + packer.add("b", 2000) + packer.add("c", 900) + packer.flush()
    # 2900 fills row 0; 2000 opens row 1 and 900 follows it at next_start(2000) = 2044 (ends 2944).
    assert batches == [["a", "b", "c"]]


@pytest.mark.parametrize(
    "lengths, budget, message",
    [((), 100, "increasing"), ((432, 240), 1000, "increasing"), ((240, 432), 431, "largest bucket, 432")],
)
def test_batch_plan_validates_its_arguments(lengths, budget, message):
    with pytest.raises(ValueError, match=message):
        BatchPlan(lengths=lengths, max_batch_frames=budget, geometry=RELEASE_GEOMETRY)


def test_pack_clips_emits_every_clip_once_in_batches_that_fit_the_budget():
    sizes = np.random.default_rng(1).integers(1, 432, size=60).tolist()
    elements = [(f"clip{index}", _frames(size)) for index, size in enumerate(sizes)]

    def check(batches):
        keys = sorted(key for batch in batches for key, _ in batch)
        assert keys == sorted(key for key, _ in elements)
        for batch in batches:
            rows = first_fit_rows([features.shape[0] for _, features in batch], 432, RELEASE_GEOMETRY)
            assert len(rows) <= 2  # 1000 // 432
        assert len(batches) > 1

    with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
        batches = (
            pipeline
            | "Create" >> beam.Create(elements, reshuffle=False)
            | "Pack"
            >> beam.ParDo(PackClips(BatchPlan(lengths=(240, 432), max_batch_frames=1000, geometry=RELEASE_GEOMETRY)))
        )
        assert_that(batches, check)


def test_pack_clips_counts_the_valid_frames_and_the_frames_of_the_batches_they_fill():
    # Rows of 432, 2 a batch. 300 opens row 0; 100 does not fit after it (next start 344) and
    # opens row 1; 60 follows 300 at 344. One batch of 2 x 432 = 864 frames holds 460 valid ones.
    elements = [(f"clip{index}", _frames(size)) for index, size in enumerate([100, 300, 60])]
    plan = BatchPlan(lengths=(240, 432), max_batch_frames=1000, geometry=GAP_44)
    with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
        outputs = (
            pipeline
            | beam.Create(elements, reshuffle=False)
            | beam.ParDo(PackClips(plan)).with_outputs(TALLY_TAG, main="batches")
        )
        frames = (
            outputs[TALLY_TAG]
            | beam.combiners.ToList()
            | beam.Map(summed_tallies)
            | beam.Map(lambda totals: (totals["frames_valid"], totals["frames_computed"]))
        )
        assert_that(frames, equal_to([(460, 864)]))
