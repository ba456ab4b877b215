"""`TrainingExample`: one input's token ids, labels and audio rows, and how its token ids are laid out.

Layout of an input with windows of T_0, T_1, ... rows (`PromptTemplate` gives the three texts):

    <bos> before  <|audio> <|audio|> x T_0 <audio|>  <|audio> <|audio|> x T_1 <audio|> ...  after  answer <eos>
    labels: IGNORED_LABEL everywhere but on `answer` and `<eos>`, which carry their own ids.

Neither transformers nor keras-hub masks the audio block from the loss; the labels here do.
Labels are not shifted: position i's label is token i (transformers shifts inside its loss;
`keras_hub_lm.keras_hub_training_batch` shifts for Keras).

Axis legend: S tokens, T rows of one window, D hidden size.
"""

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from gemma4_audio_embed.training.text_tokenizer import SpecialTokenIds

IGNORED_LABEL = -100  # a label the loss skips (transformers' ignore_index; Keras gets sample weight 0)


class TextParts(NamedTuple):
    """The token ids of an input's text: before the audio, after it, and the answer."""

    before: list[int]
    after: list[int]
    answer: list[int]


class TrainingExample(NamedTuple):
    """One input, ready to batch.

    Attributes:
        key: str. The input's key (the clip keys without `@<window>`).
        token_ids: `int32 [S]`, holding one `<|audio|>` run per window, in order.
        labels: `int32 [S]`, `IGNORED_LABEL` outside the answer and `<eos>`.
        embeddings: tuple of `float32 [T_i, D]`, the stored rows of each window, in order.
        clip_keys: tuple of str, each window's record key.
    """

    key: str
    token_ids: np.ndarray
    labels: np.ndarray
    embeddings: tuple
    clip_keys: tuple


def example_length(text: TextParts, window_tokens: Sequence[int]) -> int:
    """S of an example: `<bos>`, the texts, `<eos>`, and `T_i + 2` per window."""
    return 2 + len(text.before) + len(text.after) + len(text.answer) + sum(count + 2 for count in window_tokens)


def example_token_ids(
    text: TextParts, window_tokens: Sequence[int], special: SpecialTokenIds
) -> tuple[np.ndarray, np.ndarray]:
    """`(token_ids, labels)`, `int32 [S]` each, of an input whose windows have `window_tokens` rows."""
    prompt = [special.bos, *text.before]
    for count in window_tokens:
        prompt += [special.audio_start, *[special.audio] * count, special.audio_end]
    prompt += text.after
    learned = [*text.answer, special.eos]
    token_ids = np.asarray(prompt + learned, np.int32)
    labels = np.asarray([IGNORED_LABEL] * len(prompt) + learned, np.int32)
    return token_ids, labels
