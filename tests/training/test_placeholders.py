"""`audio_token_count` is the rows the job stores, and the placeholder runs are checked clip by clip (`placeholders.py`).

The encoder's mask: our front end's frame mask of N samples through the test encoder's
`compute_output_mask` (two stride-2 reductions), the mask the job keeps rows by. Lengths sit on
each side of the boundaries: one frame (161 samples), a token (4 frames, 640 samples), the
`N % 640 == 160` case where keras-hub counts one more (test_keras_hub_lm.py), 30 s (480000) and past it.
"""

import keras
import numpy as np
import pytest

from gemma4_audio_embed.encoder import LogMelFrontend
from gemma4_audio_embed.training import audio_token_count
from gemma4_audio_embed.training import checked_runs
from gemma4_audio_embed.training import placeholder_runs
from gemma4_audio_embed.training.placeholders import PlaceholderRun

BOUNDARY_LENGTHS = [
    *(160, 161, 162, 320, 321, 640, 641, 800, 801),
    *(16000, 16159, 16160, 16161, 16319, 16320, 16321, 16800, 16801),
    *(479999, 480000, 480001, 480160, 480161, 960000, 1000001),
]


@pytest.fixture(scope="module")
def tiny_model(tiny_encoder_path):
    return keras.saving.load_model(tiny_encoder_path)


def test_the_count_is_the_encoders_valid_rows_around_every_boundary(tiny_model):
    frontend = LogMelFrontend()
    for num_samples in BOUNDARY_LENGTHS:
        _, frame_mask = frontend(np.zeros(num_samples, np.float32))
        valid_rows = int(keras.ops.convert_to_numpy(tiny_model.compute_output_mask(frame_mask[None])).sum())
        assert audio_token_count(num_samples) == valid_rows, num_samples


@pytest.mark.parametrize(
    "num_samples, tokens",
    [
        (0, 0),
        (160, 0),  # floor(159 / 160) = 0 frames
        (16160, 25),  # 100 frames -> 25 tokens; keras-hub's preprocessor: ceil(101 / 4) = 26
        (480000, 750),  # 30 s: 2999 frames
        (960000, 1500),  # 60 s in one clip: no cap at 750
    ],
)
def test_hand_computed_counts(num_samples, tokens):
    assert audio_token_count(num_samples) == tokens


@pytest.mark.parametrize("bad", [-1, 1.5, "16000", None])
def test_a_count_of_a_bad_length_is_refused(bad):
    with pytest.raises(ValueError, match="num_samples"):
        audio_token_count(bad)


def test_runs_are_found_row_major():
    ids = np.array([[2, 5, 5, 6, 4, 5, 6, 0], [5, 5, 5, 9, 9, 9, 9, 5]])
    assert placeholder_runs(ids, 5) == [
        PlaceholderRun(0, 1, 3),
        PlaceholderRun(0, 5, 6),
        PlaceholderRun(1, 0, 3),
        PlaceholderRun(1, 7, 8),
    ]


def test_rows_that_fit_their_runs_pass():
    ids = np.array([[2, 5, 5, 6, 5, 0]])
    assert checked_runs(ids, 5, [(2, 8), (1, 8)], hidden_size=8) == [PlaceholderRun(0, 1, 3), PlaceholderRun(0, 4, 5)]


@pytest.mark.parametrize(
    "shapes, keys, message",
    [
        (
            [(2, 8), (2, 8)],
            ["a@0", "a@1"],
            r"a@1: its run of audio placeholders \(batch row 0, positions 4 to 4\) holds 1 tokens, but the clip has 2 rows",
        ),
        ([(2, 8)], None, "hold 2 runs of the audio token id 5, but 1 clips' rows"),
        ([(2, 8), (1, 9)], None, r"clip 1: its rows must have shape \[T, 8\]"),
        ([(2, 8), (1,)], None, r"clip 1: its rows must have shape \[T, 8\]"),
        ([(2, 8), (1, 8)], ["only one"], "1 clip keys were given for 2 clips"),
    ],
)
def test_rows_that_do_not_fit_are_refused_naming_the_clip(shapes, keys, message):
    with pytest.raises(ValueError, match=message):
        checked_runs(np.array([[2, 5, 5, 6, 5, 0]]), 5, shapes, hidden_size=8, clip_keys=keys)
