"""`LengthBuckets`: hand-computed batches under a padded-token budget, and every example once per epoch."""

import numpy as np
import pytest

from gemma4_audio_embed.training import LengthBuckets


@pytest.mark.parametrize(
    "lengths, kwargs, batches",
    [
        # Sorted: 1 (#3), 3 (#1), 5 (#0), 8 (#2). [#3, #1] pads to 2 x 3 = 6; adding #0 would be 3 x 5 = 15 > 10.
        ([5, 3, 8, 1], {"max_tokens": 10}, [[3, 1], [0], [2]]),
        # Padded to multiples of 4: 4, 4, 8, 8. [#3, #1] = 8; [#0, #2] = 16 > 10.
        ([5, 3, 8, 1], {"max_tokens": 10, "pad_to_multiple_of": 4}, [[3, 1], [0], [2]]),
        # A budget of 16: [#3, #1, #0] = 15, then #2 alone.
        ([5, 3, 8, 1], {"max_tokens": 16}, [[3, 1, 0], [2]]),
        # At most 2 per batch.
        ([5, 3, 8, 1], {"max_tokens": 100, "max_batch_size": 2}, [[3, 1], [0, 2]]),
        # An example over the budget is a batch of its own, never dropped.
        ([50, 2, 2], {"max_tokens": 10}, [[1, 2], [0]]),
        ([], {"max_tokens": 10}, []),
    ],
)
def test_batches_in_length_order_without_shuffle(lengths, kwargs, batches):
    assert LengthBuckets(lengths, shuffle=False, **kwargs).batches() == batches


def test_each_epoch_holds_every_example_once_in_a_new_order():
    lengths = np.random.default_rng(0).integers(1, 200, size=300)
    buckets = LengthBuckets(lengths, max_tokens=600, seed=3)
    epochs = [buckets.batches(epoch) for epoch in range(3)]
    for batches in epochs:
        assert sorted(index for batch in batches for index in batch) == list(range(300))
        assert all(len(batch) * max(lengths[batch]) <= 600 for batch in batches)
    assert epochs[0] != epochs[1] != epochs[2]
    assert epochs[0] == LengthBuckets(lengths, max_tokens=600, seed=3).batches(0)  # seeded
    buckets.set_epoch(2)
    assert list(buckets) == epochs[2] and len(buckets) == len(epochs[2])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lengths": [1, -1], "max_tokens": 4}, "non-negative length"),
        ({"lengths": [[1]], "max_tokens": 4}, "one non-negative length per example"),
        ({"lengths": [1], "max_tokens": 0}, "`max_tokens` must be >= 1"),
        ({"lengths": [1], "max_tokens": 4, "pad_to_multiple_of": 0}, "`pad_to_multiple_of` must be >= 1"),
        ({"lengths": [1], "max_tokens": 4, "max_batch_size": 0}, "`max_batch_size` must be >= 1 or None"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LengthBuckets(**kwargs)
