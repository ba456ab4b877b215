"""Tests for batching/batch_plan.py: the lengths and rows a job's flags give."""

import pytest

from gemma4_audio_embed.batching.batch_plan import BatchPlan
from gemma4_audio_embed.batching.row_packing import DEFAULT_BUCKET_SECONDS


def _plan(max_batch_frames, max_clip_seconds=30.0):
    return BatchPlan.from_seconds(
        bucket_seconds=DEFAULT_BUCKET_SECONDS,
        max_clip_seconds=max_clip_seconds,
        max_batch_frames=max_batch_frames,
        encoder_config={},
    )


def test_default_plan_cuts_rows_to_the_buckets_the_window_and_two_windows():
    assert _plan("auto").lengths == (336, 624, 1008, 1536, 2208, 3024, 6048)
    assert _plan("auto").row_frames == 6048


def test_a_budget_under_two_windows_keeps_rows_of_one_window():
    assert _plan(4096).row_frames == 3024


def test_a_budget_under_one_window_is_refused():
    with pytest.raises(ValueError, match="at least one row of the largest bucket, 3024 frames"):
        _plan(3000)
