"""`TokenBatch`: training examples padded into one NumPy batch, the form both frameworks' batches start from.

Axis legend: B examples, S tokens (padded on the right), T rows of one window, D hidden size.
"""

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from gemma4_audio_embed.training.buckets import padded_length
from gemma4_audio_embed.training.examples import IGNORED_LABEL
from gemma4_audio_embed.training.examples import TrainingExample


class TokenBatch(NamedTuple):
    """A padded batch.

    Attributes:
        token_ids: `int32 [B, S]`, `pad` id after each example.
        attention_mask: `int32 [B, S]`, 1 = a token of the example, 0 = padding.
        labels: `int32 [B, S]`, `IGNORED_LABEL` outside the answers and on padding.
        embeddings: list of `float32 [T_i, D]`, every window of the batch in the order its
            placeholder run appears (row-major: example, then window).
        clip_keys: list of str, the record key of each entry of `embeddings`.
        keys: list of str, the input key of each example.
    """

    token_ids: np.ndarray
    attention_mask: np.ndarray
    labels: np.ndarray
    embeddings: list
    clip_keys: list
    keys: list


def padded_batch(examples: Sequence[TrainingExample], pad_id: int, pad_to_multiple_of: int = 1) -> TokenBatch:
    """Pads `examples` on the right to the longest, rounded up to a multiple of `pad_to_multiple_of`.

    Raises:
        ValueError: `examples` is empty.
    """
    if not examples:
        raise ValueError("A batch needs at least one example. Received: []")
    length = padded_length(max(len(example.token_ids) for example in examples), pad_to_multiple_of)
    token_ids = np.full((len(examples), length), pad_id, np.int32)
    labels = np.full((len(examples), length), IGNORED_LABEL, np.int32)
    attention_mask = np.zeros((len(examples), length), np.int32)
    for row, example in enumerate(examples):
        size = len(example.token_ids)
        token_ids[row, :size] = example.token_ids
        labels[row, :size] = example.labels
        attention_mask[row, :size] = 1
    return TokenBatch(
        token_ids=token_ids,
        attention_mask=attention_mask,
        labels=labels,
        embeddings=[rows for example in examples for rows in example.embeddings],
        clip_keys=[key for example in examples for key in example.clip_keys],
        keys=[example.key for example in examples],
    )
