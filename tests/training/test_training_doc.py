"""docs/training.md's recipe runs as written, on the shared corpus and the tiny Gemma 4 (tests/training/conftest.py).

Each Python block of the recipe is run with only the model names swapped for the tiny model's
checkpoint and tokenizers (and the keras-hub block's `epochs=3` for `epochs=1`). What they
compute is checked against a hand computation: transformers' loss is finite on the one batch
(three examples fit 32768 tokens); keras-hub's first `fit` step reports the cross-entropy of the
answer tokens alone, as transformers' loss does, not diluted by the prompt, audio and padding.
"""

import pathlib
import re

import numpy as np
import torch
from tiny_gemma4 import keras_hub_folder
from tiny_gemma4 import keras_hub_tokenizer
from tiny_gemma4 import transformers_tokenizer

RECIPE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "training.md"


def recipe_blocks() -> list[str]:
    text = RECIPE.read_text()
    return re.findall(r"^```python\n(.*?)^```", text[: text.index("## The traps")], re.S | re.M)


def with_swaps(code: str, swaps: dict) -> str:
    for old, new in swaps.items():
        assert old in code, f"docs/training.md's recipe no longer holds {old!r}: update this test"
        code = code.replace(old, new)
    return code


def test_the_transformers_recipe_runs(embedded_corpus, vocabulary_texts):
    code = with_swaps(
        recipe_blocks()[0],
        {
            '"google/gemma-4-E2B-it")\ntokenizer': f"{embedded_corpus.checkpoint!r})\ntokenizer",
            'transformers.AutoTokenizer.from_pretrained("google/gemma-4-E2B-it")': "doc_tokenizer",
            '"out/run1/embeddings"': repr(embedded_corpus.output),
            "num_workers=4": "num_workers=0",
        },
    )
    scope = {"doc_tokenizer": transformers_tokenizer(vocabulary_texts)}
    exec(compile(code, str(RECIPE), "exec"), scope)  # noqa: S102 - the documented recipe
    assert torch.isfinite(scope["loss"]) and scope["loss"].item() > 1


def test_the_keras_hub_recipe_trains_on_the_answer_tokens(embedded_corpus, vocabulary_texts, tmp_path):
    folder = keras_hub_folder(embedded_corpus.checkpoint, tmp_path / "keras_hub")
    code = with_swaps(
        recipe_blocks()[1],
        {
            'stored_audio_backbone("gemma4_instruct_2b")': f"stored_audio_backbone({folder!r})",
            'keras_hub.models.Gemma4Tokenizer.from_preset("gemma4_instruct_2b")': "doc_tokenizer",
            '"out/run1/embeddings"': repr(embedded_corpus.output),
            "lm.fit(": "history = lm.fit(",
            "epochs=3": "epochs=1",
        },
    )
    before_fit, fit = code.split("history = lm.fit(")
    scope = {"doc_tokenizer": keras_hub_tokenizer(vocabulary_texts)}
    exec(compile(before_fit, str(RECIPE), "exec"), scope)  # noqa: S102 - the documented recipe
    (indices,) = scope["buckets"].batches(0)  # one batch holds the three examples
    x, y, sample_weight = scope["collate"]([scope["source"][index] for index in indices])
    logits = np.asarray(scope["lm"].predict_on_batch(x), np.float64)
    logits -= logits.max(axis=-1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    cross_entropy = -np.take_along_axis(log_probs, y[..., None].astype(np.int64), axis=-1)[..., 0]
    answer_loss = (cross_entropy * sample_weight).sum() / sample_weight.sum()  # mean over the learned tokens
    exec(compile("history = lm.fit(" + fit, str(RECIPE), "exec"), scope)  # noqa: S102
    (first_step,) = scope["history"].history["loss"]
    print(f"\nkeras-hub recipe: fit loss {first_step:.5f}, mean over the answer tokens {answer_loss:.5f}")
    np.testing.assert_allclose(first_step, answer_loss, rtol=1e-4)
