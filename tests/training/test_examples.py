"""An example's token layout (`examples.py`) and the padded batch (`batches.py`), on hand-written ids.

Special ids as Gemma 4 and tests/training/fakes.py: pad 0, eos 1, bos 2, <|audio> 4, <|audio|> 5,
<audio|> 6. Texts: before [20], after [21, 22], answer [30, 31].
"""

import numpy as np
import pytest

from gemma4_audio_embed.training import IGNORED_LABEL
from gemma4_audio_embed.training import SpecialTokenIds
from gemma4_audio_embed.training import TrainingExample
from gemma4_audio_embed.training import padded_batch
from gemma4_audio_embed.training.examples import TextParts
from gemma4_audio_embed.training.examples import example_length
from gemma4_audio_embed.training.examples import example_token_ids

SPECIAL = SpecialTokenIds(bos=2, eos=1, pad=0, audio_start=4, audio=5, audio_end=6)
TEXT = TextParts(before=[20], after=[21, 22], answer=[30, 31])
X = IGNORED_LABEL


@pytest.mark.parametrize(
    "windows, ids, labels",
    [
        ([2], [2, 20, 4, 5, 5, 6, 21, 22, 30, 31, 1], [X] * 8 + [30, 31, 1]),
        ([1, 3], [2, 20, 4, 5, 6, 4, 5, 5, 5, 6, 21, 22, 30, 31, 1], [X] * 12 + [30, 31, 1]),
        ([], [2, 20, 21, 22, 30, 31, 1], [X] * 4 + [30, 31, 1]),
    ],
)
def test_one_block_per_window_in_order_and_labels_on_the_answer_only(windows, ids, labels):
    token_ids, found_labels = example_token_ids(TEXT, windows, SPECIAL)
    assert token_ids.dtype == found_labels.dtype == np.int32
    assert token_ids.tolist() == ids and found_labels.tolist() == labels
    assert example_length(TEXT, windows) == len(ids)


def _example(key, ids, windows):
    rows = tuple(np.full((count, 2), index, np.float32) for index, count in enumerate(windows))
    return TrainingExample(
        key,
        np.asarray(ids, np.int32),
        np.asarray(ids, np.int32),
        rows,
        tuple(f"{key}@{i}" for i in range(len(windows))),
    )


def test_a_batch_pads_on_the_right_to_a_multiple():
    batch = padded_batch(
        [_example("a", [2, 5, 5, 1], [2]), _example("b", [2, 5, 1], [1])], pad_id=0, pad_to_multiple_of=3
    )
    assert batch.token_ids.tolist() == [[2, 5, 5, 1, 0, 0], [2, 5, 1, 0, 0, 0]]  # 4 rounded up to 6
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]]
    assert batch.labels.tolist() == [[2, 5, 5, 1, X, X], [2, 5, 1, X, X, X]]
    assert batch.clip_keys == ["a@0", "b@0"] and batch.keys == ["a", "b"]
    assert [rows.shape for rows in batch.embeddings] == [(2, 2), (1, 2)]


def test_an_empty_batch_is_refused():
    with pytest.raises(ValueError, match="at least one example"):
        padded_batch([], pad_id=0)
