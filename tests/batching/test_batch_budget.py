"""Specifications of `--max_batch_frames auto` (batching/batch_budget.py).

The accelerator arithmetic is checked by hand-computed tables; on this CPU-only machine `auto`
resolves to the CPU budget. TINY config as in tests/encoder/test_inference.py.
"""

import argparse

import pytest

from gemma4_audio_embed.batching.batch_budget import parse_max_batch_frames
from gemma4_audio_embed.batching.batch_budget import resolve_max_batch_frames
from gemma4_audio_embed.batching.batch_budget import rows_per_device

GIB = 2**30


@pytest.mark.parametrize("text, value", [("auto", "auto"), ("8192", 8192), ("1", 1)])
def test_parse_max_batch_frames(text, value):
    assert parse_max_batch_frames(text) == value


@pytest.mark.parametrize("text", ["0", "-5", "Auto", "8k", ""])
def test_parse_max_batch_frames_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected 'auto' or a positive integer"):
        parse_max_batch_frames(text)


@pytest.mark.parametrize(
    "memory, weights, row, rows",
    [
        (16 * GIB, 1.2e9, 250e6, 32),  # 0.75 * 17.18e9 - 1.2e9 = 11.68e9: 46.7 rows -> 32
        (24 * GIB, 1.2e9, 250e6, 64),  # 19.33e9 - 1.2e9 = 18.13e9: 72.5 rows -> 64
        (80 * GIB, 0.6e9, 36e6, 256),  # 1772 rows fit; capped at MAX_ROWS_PER_DEVICE
        (4 * GIB, 1.2e9, 250e6, 8),  # 3.22e9 - 1.2e9 = 2.02e9: 8.08 rows -> 8
        (2 * GIB, 1.2e9, 250e6, 1),  # 1.61e9 - 1.2e9 = 0.41e9: 1.6 rows -> 1
    ],
)
def test_rows_per_device_is_the_largest_power_of_two_that_fits(memory, weights, row, rows):
    assert rows_per_device(memory, weights, row) == rows


@pytest.mark.parametrize(
    "memory, weights, row",
    [
        (1 * GIB, 1.2e9, 250e6),  # 0.81e9 of memory: not even the weights fit
        (2 * GIB, 1.2e9, 500e6),  # 1.61e9 - 1.2e9 = 0.41e9: less than one row of 0.5e9
    ],
)
def test_a_device_that_holds_no_row_is_an_error_naming_the_sizes(memory, weights, row):
    with pytest.raises(ValueError, match="not one row fits this device.*weights take 1200 MB"):
        rows_per_device(memory, weights, row)


def test_auto_is_the_cpu_budget_on_a_cpu_and_a_number_wins():
    assert resolve_max_batch_frames("auto", "jax", "float32", 3024) == 8192
    assert resolve_max_batch_frames("auto", "jax", "float32", 9024) == 9024  # 90 s rows: one row
    assert resolve_max_batch_frames(432, "jax", "float32", 3024) == 432


def test_device_batch_frames_measures_a_row_and_fills_the_memory_with_a_power_of_two_of_rows(caplog):
    import logging

    from gemma4_audio_embed.batching.batch_budget import device_batch_frames

    # The released width (1.2 GB of float32 weights for 12 blocks) on two 4 GiB "devices", rows of
    # 336 frames (3.4 s): a row takes a few MB, so 0.75 * 4 GiB - 1.2 GB holds hundreds; capped at 256.
    with caplog.at_level(logging.INFO):
        frames = device_batch_frames("jax", "float32", 336, num_devices=2, memory_bytes=4 * GIB)
    assert frames == 2 * 256 * 336
    assert "512 rows of 336 frames" in caplog.text
    # 1.5 GiB: 0.75 * 1.61e9 = 1.21e9 holds less than the 1.23e9 of weights: an error, not one row.
    with pytest.raises(ValueError, match="not one row fits"):
        device_batch_frames("jax", "float32", 336, num_devices=1, memory_bytes=1.5 * GIB)
