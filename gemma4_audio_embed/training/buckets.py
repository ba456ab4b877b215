"""`LengthBuckets`: batches of example indices grouped by length under a padded-token budget.

An input of 30 minutes is 45000 audio tokens and a clip of 2 s is 50: batching them together
pads the short one to the long one. Sorting by length before cutting batches keeps the padding
small; a seeded order per epoch keeps the batches varied and the run repeatable.
"""

import math

import numpy as np

from gemma4_audio_embed.reprs import ConfigRepr


def padded_length(length: int, multiple: int) -> int:
    """`length` rounded up to a multiple of `multiple`."""
    return math.ceil(length / multiple) * multiple


class LengthBuckets(ConfigRepr):
    """Yields lists of indices of examples of similar length: a `batch_sampler` for PyTorch, a batch plan for Grain and `tf.data`.

    Each epoch: examples are ordered by length (ties broken at random), cut into batches whose
    padded size `batch_size x padded_length(longest, pad_to_multiple_of)` stays within
    `max_tokens` (and at most `max_batch_size` examples), and the batches are shuffled. Every
    example is in exactly one batch per epoch; one longer than `max_tokens` is a batch of its own.

    Args:
        lengths: `int [N]`, each example's token count (`TrainingSource.lengths`).
        max_tokens: int. Padded tokens per batch.
        max_batch_size: int or None. Examples per batch at most. Defaults to None (no limit).
        pad_to_multiple_of: int. The length batches are padded to a multiple of (fewer shapes
            to compile under XLA). Defaults to 1.
        shuffle: bool. Random tie order and batch order; False keeps length order. Defaults to True.
        seed: int. Defaults to 0.

    Raises:
        ValueError: a non-positive budget, batch size or multiple, or a negative length.
    """

    def __init__(
        self,
        lengths,
        *,
        max_tokens: int,
        max_batch_size: int | None = None,
        pad_to_multiple_of: int = 1,
        shuffle: bool = True,
        seed: int = 0,
    ):
        lengths = np.asarray(lengths, np.int64)
        if lengths.ndim != 1 or (lengths < 0).any():
            raise ValueError(f"`lengths` must be one non-negative length per example. Received shape {lengths.shape}")
        for name, value in (("max_tokens", max_tokens), ("pad_to_multiple_of", pad_to_multiple_of)):
            if value < 1:
                raise ValueError(f"`{name}` must be >= 1. Received: {name}={value}")
        if max_batch_size is not None and max_batch_size < 1:
            raise ValueError(f"`max_batch_size` must be >= 1 or None. Received: {max_batch_size}")
        self.max_tokens = max_tokens
        self.max_batch_size = max_batch_size
        self.pad_to_multiple_of = pad_to_multiple_of
        self.shuffle = shuffle
        self.seed = seed
        self._lengths = lengths
        self._epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use epoch `epoch`'s order (as PyTorch's `DistributedSampler.set_epoch`)."""
        self._epoch = epoch

    def batches(self, epoch: int = None) -> list[list[int]]:
        """The batches of `epoch` (default: the current one), in the order they are yielded."""
        rng = np.random.default_rng([self.seed, self._epoch if epoch is None else epoch])
        ties = rng.permutation(len(self._lengths)) if self.shuffle else np.arange(len(self._lengths))
        order = ties[np.argsort(self._lengths[ties], kind="stable")]
        batches, current = [], []
        for index in order.tolist():
            size = len(current) + 1
            padded = padded_length(int(self._lengths[index]), self.pad_to_multiple_of)  # the longest so far
            full = self.max_batch_size is not None and size > self.max_batch_size
            if current and (full or size * padded > self.max_tokens):
                batches.append(current)
                current = []
            current.append(index)
        if current:
            batches.append(current)
        if self.shuffle:
            batches = [batches[position] for position in rng.permutation(len(batches))]
        return batches

    def __iter__(self):
        yield from self.batches()

    def __len__(self) -> int:
        return len(self.batches())
