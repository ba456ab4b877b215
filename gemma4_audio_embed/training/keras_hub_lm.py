"""Stored audio rows into keras-hub's Gemma 4 language model (`Gemma4Backbone`, `Gemma4CausalLM`), trainable with `fit()`.

keras-hub's backbone takes audio only as mel features through its own encoder, and its
`Gemma4CausalLM.call_with_cache(audio_embeddings=...)` is for generation. `stored_audio_backbone`
rebuilds a backbone with the same text configuration and weights whose audio stage is
`StoredAudioRows`: it hands the stored rows to the backbone's own audio path unchanged, so the
backbone scales them (`hidden_dim ** -0.5`, then the global `sqrt(hidden_dim)`), places them
(`audio_indices`) and uses the pad id 0 for their per-layer inputs (`audio_mask`) exactly as
for its encoder's output. `keras_hub_lm_inputs` builds those inputs.

Each example's rows go in as one clip (`[B, 1, R, D]`): keras-hub's interleave assumes every
clip of an example has the same number of rows, which an input cut into a full and a partial
window breaks, so the windows' rows are concatenated in the order of their runs.

Axis legend: B batch, S tokens, R audio rows of one example, D hidden size.
"""

from collections.abc import Sequence

import keras
import numpy as np

from gemma4_audio_embed.training.batches import padded_batch
from gemma4_audio_embed.training.buckets import padded_length
from gemma4_audio_embed.training.examples import IGNORED_LABEL
from gemma4_audio_embed.training.placeholders import checked_runs


@keras.saving.register_keras_serializable(package="gemma4_audio_embed")
class StoredAudioRows(keras.layers.Layer):
    """The audio stage of a stored-audio `Gemma4Backbone`: stored rows through, padding rows zeroed.

    It stands where keras-hub's `Gemma4AudioEncoder` stands, so the backbone's `audio_mel` input
    carries stored rows instead of mel features, and `audio_mel_mask` marks the real ones.

    Args:
        hidden_dim: int. D, the language model's hidden size (the backbone sizes its
            `audio_mel` input by `input_feat_size`, which is D here).

    Call arguments:
        rows: `float [B, C, R, D]`, stored rows.
        row_mask: `bool [B, C, R]`, True = a stored row, False = padding.

    Returns:
        `float [B, C, R, D]`: `rows` where `row_mask`, else 0.
    """

    def __init__(self, hidden_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim

    @property
    def input_feat_size(self) -> int:
        return self.hidden_dim

    def call(self, rows, row_mask):
        return rows * keras.ops.cast(row_mask, rows.dtype)[..., None]  # [B, C, R, D]

    def get_config(self):
        return {**super().get_config(), "hidden_dim": self.hidden_dim}


def stored_audio_backbone(backbone):
    """A `Gemma4Backbone` with the language model of `backbone` and a `StoredAudioRows` audio stage.

    The text configuration and every text weight are copied; the vision encoder is left out
    and the audio encoder replaced. Wrap it in `keras_hub.models.Gemma4CausalLM(backbone=...,
    preprocessor=None)` to train with `fit()` on `keras_hub_training_batch` batches.

    Args:
        backbone: a keras-hub `Gemma4Backbone`, or a preset to load one from (a name, Kaggle
            handle, folder or `hf://` checkpoint; the whole backbone is loaded, then copied).
    """
    import keras_hub

    if isinstance(backbone, str):
        backbone = keras_hub.models.Gemma4Backbone.from_preset(backbone)
    config = backbone.get_config()
    config["vision_encoder"] = None
    config["audio_encoder"] = keras.layers.serialize(
        StoredAudioRows(hidden_dim=backbone.hidden_dim, dtype=backbone.dtype_policy)
    )
    stored = type(backbone).from_config(config)
    for layer in stored.layers:
        if layer.weights and not isinstance(layer, StoredAudioRows):
            layer.set_weights(backbone.get_layer(layer.name).get_weights())
    return stored


def keras_hub_lm_inputs(
    hidden_dim: int,
    token_ids,
    padding_mask,
    embeddings: Sequence,
    *,
    audio_token_id: int,
    clip_keys: Sequence[str] = None,
    rows_multiple_of: int = 1,
) -> dict:
    """The inputs of a stored-audio backbone (`stored_audio_backbone`) or its `Gemma4CausalLM` for one batch.

    Args:
        hidden_dim: int. The stored-audio backbone's width (`backbone.hidden_dim`): an int, not
            the backbone, so that a collate holding it pickles without a model.
        token_ids: `int [B, S]`, each clip's run of `<|audio|>` in place, padded with id 0.
        padding_mask: `[B, S]`, 1 = token, 0 = padding.
        embeddings: each clip's stored rows, `float [T_i, D]`, in the order their runs appear.
        audio_token_id: int. The tokenizer's `<|audio|>` id (`audio_placeholder_id`).
        clip_keys: the clips' names for errors. Defaults to `clip i`.
        rows_multiple_of: int. R is padded to a multiple of it (fewer shapes to compile).
            Defaults to 1.

    Returns:
        `{"token_ids": int32 [B, S], "padding_mask": int32 [B, S], "position_ids": int32 [B, S],
        "audio_mel": float32 [B, 1, R, D] (the rows), "audio_mel_mask": int32 [B, 1, R],
        "audio_indices": int32 [B, R], "audio_mask": int32 [B, S]}`.

    Raises:
        ValueError: as `placeholders.checked_runs`, naming the clip; or when a run starts at
            position 0, which keras-hub's interleave restores to the text embedding.
    """
    token_ids = np.asarray(token_ids, np.int32)
    batch_size, length = token_ids.shape
    runs = checked_runs(token_ids, audio_token_id, [np.shape(rows) for rows in embeddings], hidden_dim, clip_keys)
    if any(run.start == 0 for run in runs):
        raise ValueError("A run of audio placeholders starts at position 0; start each example with <bos>.")
    by_row = [[] for _ in range(batch_size)]
    for run, rows in zip(runs, embeddings):
        by_row[run.row].append(np.asarray(rows, np.float32))
    num_rows = padded_length(max([1] + [sum(len(rows) for rows in row) for row in by_row]), rows_multiple_of)
    audio_rows = np.zeros((batch_size, 1, num_rows, hidden_dim), np.float32)
    row_mask = np.zeros((batch_size, 1, num_rows), np.int32)
    audio_indices = np.zeros((batch_size, num_rows), np.int32)  # 0 where unused: keras-hub restores position 0
    is_audio = token_ids == audio_token_id
    for row, parts in enumerate(by_row):
        if parts:
            rows = np.concatenate(parts)  # [R_b, D], in the order of the runs
            audio_rows[row, 0, : len(rows)] = rows
            row_mask[row, 0, : len(rows)] = 1
            audio_indices[row, : len(rows)] = np.flatnonzero(is_audio[row])
    return {
        "token_ids": token_ids,
        "padding_mask": np.asarray(padding_mask, np.int32),
        "position_ids": np.broadcast_to(np.arange(length, dtype=np.int32), (batch_size, length)).copy(),
        "audio_mel": audio_rows,
        "audio_mel_mask": row_mask,
        "audio_indices": audio_indices,
        "audio_mask": is_audio.astype(np.int32),
    }


def keras_hub_training_batch(
    examples, *, hidden_dim: int, pad_id: int, audio_token_id: int, pad_to_multiple_of: int = 1
) -> tuple[dict, np.ndarray, np.ndarray]:
    """`(x, y, sample_weight)` for `Gemma4CausalLM.fit` from `TrainingExample`s.

    A collate function: bind its keywords with `functools.partial`. It takes the backbone's
    width `hidden_dim` (`backbone.hidden_dim`), not the backbone, so that what a loader pickles
    into its worker processes (Grain's `mp_prefetch`, a `DataLoader`'s workers) holds no model.

    `x` is `keras_hub_lm_inputs` of the padded batch; the logit at position i predicts token
    i + 1, so `y` is `int32 [B, S]` holding the next token's label (0 where ignored) and
    `sample_weight` is `float32 [B, S]`, 1 where that label is learned (the answer and `<eos>`).
    """
    batch = padded_batch(examples, pad_id, pad_to_multiple_of)
    x = keras_hub_lm_inputs(
        hidden_dim,
        batch.token_ids,
        batch.attention_mask,
        batch.embeddings,
        audio_token_id=audio_token_id,
        clip_keys=batch.clip_keys,
        rows_multiple_of=pad_to_multiple_of,
    )
    next_labels = np.full_like(batch.labels, IGNORED_LABEL)
    next_labels[:, :-1] = batch.labels[:, 1:]
    is_learned = next_labels != IGNORED_LABEL
    return x, np.where(is_learned, next_labels, 0).astype(np.int32), is_learned.astype(np.float32)
