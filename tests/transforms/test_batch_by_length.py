"""Tests for transforms/batch_by_length.py: bucket tables, padding, and the batching DoFn."""

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to

from transforms.batch_by_length import DEFAULT_BUCKET_SECONDS
from transforms.batch_by_length import FRAMES_PER_BLOCK
from transforms.batch_by_length import BatchByLength
from transforms.batch_by_length import bucket_length
from transforms.batch_by_length import bucket_lengths
from transforms.batch_by_length import full_batch_rows
from transforms.batch_by_length import padded_batch
from transforms.batch_by_length import padded_rows


def _frames(num_frames, value=1.0):
    return np.full((num_frames, 128), value, np.float32)


@pytest.mark.parametrize(
    "seconds, max_clip_seconds, expected",
    [
        # 200 frames -> 5 blocks of 48 = 240; 400 -> 9 blocks = 432; 30 s = 3000 -> 63 blocks = 3024.
        ((2, 4), 30.0, (240, 432, 3024)),
        # The defaults: 3, 6, 10, 15, 22 s -> 7, 13, 21, 32, 46 blocks; 30 s -> 63.
        (DEFAULT_BUCKET_SECONDS, 30.0, (336, 624, 1008, 1536, 2208, 3024)),
        # Buckets at or past the window are dropped; 10 s = 1000 frames -> 21 blocks = 1008.
        ((2, 12, 22), 10.0, (240, 1008)),
        # Duplicates after rounding collapse: 1.0 and 1.1 s both round to 3 blocks = 144.
        ((1.0, 1.1), 5.0, (144, 528)),
    ],
)
def test_bucket_lengths_table(seconds, max_clip_seconds, expected):
    lengths = bucket_lengths(seconds, max_clip_seconds)
    assert lengths == expected
    assert all(length % FRAMES_PER_BLOCK == 0 for length in lengths)


def test_bucket_lengths_rejects_non_positive_seconds():
    with pytest.raises(ValueError, match="positive"):
        bucket_lengths((0, 2), 30.0)


@pytest.mark.parametrize("num_frames, expected", [(1, 240), (240, 240), (241, 432), (432, 432), (3024, 3024)])
def test_bucket_length_is_the_smallest_that_holds(num_frames, expected):
    assert bucket_length(num_frames, (240, 432, 3024)) == expected


def test_bucket_length_rejects_longer_clips():
    with pytest.raises(ValueError, match="3025 mel frames is longer than the largest bucket, 3024"):
        bucket_length(3025, (240, 432, 3024))


@pytest.mark.parametrize(
    "length, budget, rows",
    [(240, 16384, 68), (3024, 16384, 5), (3024, 3024, 1), (3024, 1000, 1)],  # 16384 // 240 = 68
)
def test_full_batch_rows(length, budget, rows):
    assert full_batch_rows(length, budget) == rows


@pytest.mark.parametrize(
    "num_clips, full_rows, rows",
    [(1, 68, 1), (2, 68, 2), (3, 68, 4), (5, 68, 8), (33, 68, 64), (65, 68, 68), (68, 68, 68), (3, 3, 3)],
)
def test_padded_rows_is_the_next_power_of_two_up_to_a_full_batch(num_clips, full_rows, rows):
    assert padded_rows(num_clips, full_rows) == rows


def test_padded_batch_pads_frames_and_rows():
    # Clips of 3, 50 and 241 frames go to bucket 432; 3 clips pad to 4 rows, the 4th repeats clip 0.
    clips = [_frames(3, 1.0), _frames(50, 2.0), _frames(241, 3.0)]
    mel, mask = padded_batch(clips, (240, 432, 3024), max_batch_frames=16384)
    assert mel.shape == (4, 432, 128) and mel.dtype == np.float32
    assert mask.shape == (4, 432) and mask.dtype == bool
    assert mask.sum(axis=1).tolist() == [3, 50, 241, 3]
    for row, clip in enumerate(clips + clips[:1]):
        np.testing.assert_array_equal(mel[row, : clip.shape[0]], clip)
        assert not mel[row, clip.shape[0] :].any()


def test_padded_batch_refuses_more_clips_than_the_budget_allows():
    with pytest.raises(ValueError, match="3 clips exceed the 2 rows"):
        padded_batch([_frames(300)] * 3, (240, 432), max_batch_frames=864)


@pytest.mark.parametrize(
    "lengths, budget, message",
    [((), 100, "increasing"), ((432, 240), 1000, "increasing"), ((240, 432), 431, "largest bucket, 432")],
)
def test_batch_by_length_validates_its_arguments(lengths, budget, message):
    with pytest.raises(ValueError, match=message):
        BatchByLength(lengths, budget)


def test_batch_by_length_groups_clips_of_a_bucket():
    # Budget 1000 frames: bucket 240 holds 4 clips, bucket 432 holds 2. Eleven clips, one bundle:
    # bucket 240 gets 7 clips -> a full batch of 4 then a final 3; bucket 432 gets 4 -> two of 2.
    sizes = [10, 300, 240, 20, 400, 30, 241, 40, 50, 432, 60]
    elements = [(f"clip{index}", _frames(size)) for index, size in enumerate(sizes)]
    with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
        batches = (
            pipeline
            | "Create" >> beam.Create(elements, reshuffle=False)
            | "Batch" >> beam.ParDo(BatchByLength((240, 432), max_batch_frames=1000))
            | "Describe" >> beam.Map(lambda batch: sorted(key for key, _ in batch))
        )
        assert_that(
            batches,
            equal_to(
                [
                    ["clip0", "clip2", "clip3", "clip5"],
                    ["clip10", "clip7", "clip8"],
                    ["clip1", "clip4"],
                    ["clip6", "clip9"],
                ]
            ),
        )
