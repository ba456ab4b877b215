"""Tests for batching/row_packing.py: bucket tables, packing geometry, first fit, packed batches."""

import numpy as np
import pytest

from gemma4_audio_embed.batching.row_packing import DEFAULT_BUCKET_SECONDS
from gemma4_audio_embed.batching.row_packing import RELEASE_GEOMETRY
from gemma4_audio_embed.batching.row_packing import PackingGeometry
from gemma4_audio_embed.batching.row_packing import batch_lengths
from gemma4_audio_embed.batching.row_packing import bucket_length
from gemma4_audio_embed.batching.row_packing import bucket_lengths
from gemma4_audio_embed.batching.row_packing import first_fit_rows
from gemma4_audio_embed.batching.row_packing import full_batch_rows
from gemma4_audio_embed.batching.row_packing import packed_batch
from gemma4_audio_embed.batching.row_packing import padded_rows
from gemma4_audio_embed.batching.row_packing import row_length
from gemma4_audio_embed.constants import FRAMES_PER_BLOCK

GAP_44 = PackingGeometry(frames_per_token=4, gap_frames=44)  # the geometry the hand-worked layouts below assume


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
        # A bucket far past the window is dropped before it is rounded (1e307 s of frames overflows).
        ((2, 1e307), 30.0, (240, 3024)),
    ],
)
def test_bucket_lengths_table(seconds, max_clip_seconds, expected):
    lengths = bucket_lengths(seconds, max_clip_seconds)
    assert lengths == expected
    assert all(length % FRAMES_PER_BLOCK == 0 for length in lengths)


def test_bucket_lengths_rejects_non_positive_seconds():
    with pytest.raises(ValueError, match="positive"):
        bucket_lengths((0, 2), 30.0)


@pytest.mark.parametrize(
    "window, budget, expected",
    [
        (3024, None, 6048),  # auto: two 30 s windows fit 8192 frames, three do not
        (3024, 8192, 6048),
        (3024, 6047, 3024),  # a budget under two windows keeps rows of one
        (3024, 3024, 3024),
        (3024, 65536, 6048),  # a larger budget adds rows, not length
        (1008, None, 8064),  # eight 10 s windows
        (12048, None, 12048),  # a 2 min window is longer than 8192 frames: one window a row
    ],
)
def test_row_length_holds_the_whole_windows_that_fit_8192_frames_or_the_budget(window, budget, expected):
    assert row_length(window, budget) == expected


def test_batch_lengths_end_with_the_row_after_the_window():
    assert batch_lengths((336, 3024), None) == (336, 3024, 6048)


def test_batch_lengths_add_nothing_when_the_row_is_one_window():
    assert batch_lengths((336, 3024), 4096) == (336, 3024)


def test_rows_of_two_windows_hold_three_16_s_clips_that_rows_of_one_hold_one_at_a_time():
    clips = [1600, 1600, 1600]  # 16 s each; with 44 gap frames two need 3244 > 3024
    assert len(first_fit_rows(clips, 3024, RELEASE_GEOMETRY)) == 3
    assert len(first_fit_rows(clips, row_length(3024, None), RELEASE_GEOMETRY)) == 1


@pytest.mark.parametrize("num_frames, expected", [(1, 240), (240, 240), (241, 432), (432, 432), (3024, 3024)])
def test_bucket_length_is_the_smallest_that_holds(num_frames, expected):
    assert bucket_length(num_frames, (240, 432, 3024)) == expected


def test_bucket_length_rejects_longer_clips():
    with pytest.raises(ValueError, match="3025 mel frames is longer than the largest bucket, 3024"):
        bucket_length(3025, (240, 432, 3024))


@pytest.mark.parametrize(
    "row, budget, rows",
    [(3024, 8192, 2), (3024, 16384, 5), (3024, 3024, 1), (432, 1000, 2), (3024, 1000, 1)],  # 8192 // 3024 = 2
)
def test_full_batch_rows(row, budget, rows):
    assert full_batch_rows(row, budget) == rows


@pytest.mark.parametrize(
    "num_rows, full_rows, rows",
    [
        (1, 8, 1),
        (2, 8, 2),
        (3, 8, 4),
        (5, 8, 8),
        (5, 6, 6),
        (3, 3, 3),
        (5, 4, 5),
        (5, None, 8),
        (1, None, 1),
        (33, None, 64),
    ],
)
def test_padded_rows_is_the_next_power_of_two_up_to_a_full_batch(num_rows, full_rows, rows):
    assert padded_rows(num_rows, full_rows) == rows


def test_geometry_rounds_clips_to_tokens_and_leaves_the_gap():
    geometry = PackingGeometry(frames_per_token=4, gap_frames=44)
    assert [geometry.tokens(n) for n in (1, 4, 5, 2999)] == [1, 1, 2, 750]
    assert [geometry.extent(n) for n in (1, 4, 5, 2999)] == [4, 4, 8, 3000]
    # A clip whose extent ends at frame 132 leaves 44 invalid frames: the next starts at 176.
    assert geometry.next_start(132) == 176
    assert geometry.footprint(5) == 8 + 44
    # A gap that is not whole tokens rounds the next start up to a token boundary.
    assert PackingGeometry(frames_per_token=8, gap_frames=44).next_start(136) == 184


def test_release_geometry_is_the_released_encoders():
    from gemma4_audio_embed import encoder

    model = encoder.Gemma4AudioEncoder()
    assert RELEASE_GEOMETRY == PackingGeometry(model.frames_per_token, model.packing_gap_frames)


def test_first_fit_places_longest_first_into_the_first_row_with_room():
    # Rows of 432 frames, gap 44. 300 opens row 0 (the next start there is 344); 250 does not
    # fit after it (344 + 252 > 432) and opens row 1 (next start 296); 100 fits only row 1, at
    # 296 (ends 396); 80 fits row 0, at 344 (ends 424); 60 fits neither and opens row 2.
    rows = first_fit_rows([100, 300, 60, 250, 80], 432, GAP_44)
    assert rows == [[(1, 0), (4, 344)], [(3, 0), (0, 296)], [(2, 0)]]


def test_first_fit_with_a_row_cap_leaves_out_what_fits_no_row():
    rows = first_fit_rows([100, 300, 60, 250, 80], 432, GAP_44, max_rows=2)
    assert rows == [[(1, 0), (4, 344)], [(3, 0), (0, 296)]]


def test_first_fit_of_the_placed_subset_gives_the_same_rows():
    sizes = np.random.default_rng(0).integers(1, 3000, size=40).tolist()
    rows = first_fit_rows(sizes, 3024, RELEASE_GEOMETRY, max_rows=3)
    chosen = sorted(index for placed in rows for index, _ in placed)
    again = first_fit_rows([sizes[index] for index in chosen], 3024, RELEASE_GEOMETRY)
    assert [[(chosen[i], start) for i, start in placed] for placed in again] == rows


def test_first_fit_rejects_a_clip_longer_than_a_row():
    with pytest.raises(ValueError, match="Clip 1 fills 436 frames, more than a row of 432 frames holds"):
        first_fit_rows([10, 433], 432, RELEASE_GEOMETRY)


def test_one_row_batch_is_cut_to_the_smallest_bucket_that_holds_it():
    # 50 frames at 0, then 3 frames at next_start(52) = 96: the row ends at 99 -> bucket 240.
    clips = [_frames(3, 1.0), _frames(50, 2.0)]
    mel, mask, placements = packed_batch(clips, (240, 432, 3024), 8192, GAP_44)
    assert mel.shape == (1, 240, 128) and mel.dtype == np.float32
    assert mask.shape == (1, 240) and mask.dtype == np.int32
    assert placements == [(0, 96), (0, 0)]
    np.testing.assert_array_equal(mel[0, 96:99], clips[0])
    np.testing.assert_array_equal(mel[0, :50], clips[1])
    # Clip numbers: the first clip given is 1, the second 2; 0 elsewhere.
    assert (mask[0] > 0).sum() == 53 and (mask[0, :50] == 2).all() and (mask[0, 96:99] == 1).all()
    assert not mel[0, 50:96].any() and not mel[0, 99:].any()


def test_multi_row_batch_has_full_rows_padded_to_a_power_of_two():
    # Three windows of 3000 frames fill three rows of 3024; a budget of 5 rows pads to 4 rows.
    clips = [_frames(3000, float(value)) for value in (1, 2, 3)]
    mel, mask, placements = packed_batch(clips, (240, 3024), 5 * 3024, GAP_44)
    assert mel.shape == (4, 3024, 128) and mask.shape == (4, 3024)
    assert placements == [(0, 0), (1, 0), (2, 0)]
    assert (mask > 0).sum(axis=1).tolist() == [3000, 3000, 3000, 0]
    assert [sorted(set(row) - {0}) for row in mask.tolist()] == [[1], [2], [3], []]
    assert not mel[3].any()


def test_samples_are_packed_where_their_frames_go():
    # The clips above as samples (160 per valid frame): same rows, placements and mask; the
    # 3-frame clip's 480 samples start at sample 160 * 96 = 15360.
    clips = [np.full(3 * 160, 1.0, np.float32), np.full(50 * 160, 2.0, np.float32)]
    samples, mask, placements = packed_batch(clips, (240, 432, 3024), 8192, GAP_44)
    _, frame_mask, frame_placements = packed_batch([_frames(3, 1.0), _frames(50, 2.0)], (240, 432, 3024), 8192, GAP_44)
    assert samples.shape == (1, 240 * 160) and samples.dtype == np.float32
    assert placements == frame_placements and (mask == frame_mask).all()
    np.testing.assert_array_equal(samples[0, 15360:15840], clips[0])
    np.testing.assert_array_equal(samples[0, :8000], clips[1])
    assert not samples[0, 8000:15360].any() and not samples[0, 15840:].any()
