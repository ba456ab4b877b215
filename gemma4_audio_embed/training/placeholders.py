"""Audio placeholders in a token sequence: how many a clip takes, where each clip's run is, and the check of its rows.

A clip of N samples at 16 kHz enters the prompt as `<|audio>`, `audio_token_count(N)` copies of
`<|audio|>`, then `<audio|>` (`constants.AUDIO_*_TOKEN`); its stored rows replace the
`<|audio|>` positions in order. Both injections (transformers and keras-hub) check a batch here
before they place any row, so a run one token short or rows of the wrong width stop with the
clip's name instead of shifting every later token.

Axis legend: B batch, S tokens, T rows of one clip, D hidden size.
"""

import operator
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from gemma4_audio_embed.constants import samples_to_tokens


def audio_token_count(num_samples: int) -> int:
    """Placeholders of one 16 kHz clip of `num_samples` samples: exactly the rows the job stores for it.

    `ceil(floor((N - 1) / 160) / 4)` (`constants.samples_to_tokens`), the count of transformers'
    Gemma 4 processor and of the encoder's mask. keras-hub's preprocessor counts
    `ceil((N // 160) / 4)` instead, one more whenever `N % 640 == 160` (16160 samples: 26 against
    25); never count with it for records. There is no cap at 750 tokens (30 s): the job cuts a
    longer input into windows (`--max_clip_seconds`), each a clip counted on its own.

    Raises:
        ValueError: `num_samples` is negative or not an integer.
    """
    try:
        count = operator.index(num_samples)
    except TypeError:
        raise ValueError(f"`num_samples` must be an integer. Received: {num_samples!r}") from None
    if count < 0:
        raise ValueError(f"`num_samples` must be >= 0. Received: {count}")
    return samples_to_tokens(count)


class PlaceholderRun(NamedTuple):
    """One clip's run of audio placeholders: batch row `row`, positions `start` to `stop - 1`."""

    row: int
    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start


def placeholder_runs(token_ids, audio_token_id: int) -> list[PlaceholderRun]:
    """The maximal runs of `audio_token_id` in `int [B, S]` token ids, row-major (row, then position)."""
    is_audio = np.asarray(token_ids) == audio_token_id  # bool [B, S]
    runs = []
    for row, row_is_audio in enumerate(is_audio):
        edges = np.diff(np.concatenate([[0], row_is_audio.astype(np.int8), [0]]))  # +1 at a start, -1 after an end
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        runs += [PlaceholderRun(row, int(start), int(stop)) for start, stop in zip(starts, stops)]
    return runs


def checked_runs(
    token_ids,
    audio_token_id: int,
    row_shapes: Sequence[tuple],
    hidden_size: int,
    clip_keys: Sequence[str] = None,
) -> list[PlaceholderRun]:
    """Checks that the clips' rows fit the placeholder runs of a batch; returns the runs, row-major.

    Args:
        token_ids: `int [B, S]`. Token ids holding each clip's run of `audio_token_id`.
        audio_token_id: int. The `<|audio|>` id.
        row_shapes: the shape `(T_i, D)` of each clip's rows, in the order the runs appear.
        hidden_size: int. D the language model takes.
        clip_keys: the clips' names for errors (record keys). Defaults to `clip 0`, `clip 1`, ...

    Raises:
        ValueError: naming the clip, when the runs and the clips differ in number, a run's
            length differs from its clip's rows, or the rows are not `[T, hidden_size]`.
    """
    runs = placeholder_runs(token_ids, audio_token_id)
    names = list(clip_keys) if clip_keys is not None else [f"clip {index}" for index in range(len(row_shapes))]
    if len(names) != len(row_shapes):
        raise ValueError(f"{len(names)} clip keys were given for {len(row_shapes)} clips' rows.")
    for name, shape in zip(names, row_shapes):
        if len(shape) != 2 or shape[1] != hidden_size:
            raise ValueError(
                f"{name}: its rows must have shape [T, {hidden_size}] (the language model's hidden size). "
                f"Received: shape={tuple(shape)}"
            )
    if len(runs) != len(row_shapes):
        raise ValueError(
            f"The token ids hold {len(runs)} runs of the audio token id {audio_token_id}, but {len(row_shapes)} "
            "clips' rows were given; each clip needs its own run, between <|audio> and <audio|>. Check that "
            "the tokenizer's <|audio|> id is the model's audio token id."
        )
    for run, name, shape in zip(runs, names, row_shapes):
        if run.length != shape[0]:
            raise ValueError(
                f"{name}: its run of audio placeholders (batch row {run.row}, positions {run.start} to "
                f"{run.stop - 1}) holds {run.length} tokens, but the clip has {shape[0]} rows. Count "
                "placeholders with `audio_token_count` (what the records hold), not keras-hub's preprocessor."
            )
    return runs
