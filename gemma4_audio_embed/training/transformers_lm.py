"""`transformers_lm_inputs`: stored audio rows into a transformers `Gemma4ForConditionalGeneration`, exactly as its raw-audio path.

The model's own audio path embeds the token ids with every placeholder replaced by the pad id,
scatters the encoder's valid rows (`get_audio_features(...).pooler_output`, which is what the
job stores) unchanged into the `<|audio|>` positions, and computes the per-layer inputs (E2B,
E4B) from the pad-replaced ids. Calling the model with the rows some other way fails silently or
loudly: `inputs_embeds` without `per_layer_inputs` raises; per-layer inputs from the raw ids
change every logit; `mm_encoder_outputs={"audio": ...}` is ignored. This module does the first
thing and hands the model `inputs_embeds` and `per_layer_inputs` (transformers 5.24 and 5.25).

Axis legend: B batch, S tokens, T rows of one clip, D hidden size, L layers, P per-layer width.
"""

from collections.abc import Sequence

import numpy as np
import torch

from gemma4_audio_embed.training.placeholders import checked_runs


def _as_tensor(rows) -> torch.Tensor:
    if isinstance(rows, torch.Tensor):
        return rows
    return torch.from_numpy(np.asarray(rows, np.float32))  # ml_dtypes bfloat16 widens exactly


def transformers_lm_inputs(
    model, input_ids, attention_mask, embeddings: Sequence, clip_keys: Sequence[str] = None
) -> dict:
    """The keyword arguments of `model(**kwargs)` for a batch whose audio comes from stored rows.

    Gradients flow to the text embeddings and the per-layer embeddings as in the raw-audio path.

    Args:
        model: a transformers `Gemma4ForConditionalGeneration` (or `Gemma4Model`).
        input_ids: `int [B, S]` (tensor or array), each clip's run of `<|audio|>` in place.
        attention_mask: `[B, S]`, 1 = token, 0 = padding; passed on as it is.
        embeddings: the stored rows of each clip, `[T_i, D]` float32 or bfloat16 (arrays or
            tensors), in the order their runs appear (row-major over the batch).
        clip_keys: the clips' names for errors (`TokenBatch.clip_keys`). Defaults to `clip i`.

    Returns:
        `{"inputs_embeds": float [B, S, D], "attention_mask": ..., "per_layer_inputs": float
        [B, S, L, P]}` (no `per_layer_inputs` for a model without per-layer inputs), in the
        model's dtype and on its device.

    Raises:
        ValueError: naming the clip, when a run's length and its rows disagree, the rows are not
            `[T, hidden_size]`, or the runs and clips differ in number; or when the model has no
            audio token id.
    """
    config = model.config
    audio_token_id = getattr(config, "audio_token_id", None)
    if audio_token_id is None:
        raise ValueError(f"{type(model).__name__} has no audio token id (`config.audio_token_id`): no audio model.")
    text_config = config.get_text_config()
    input_ids = torch.as_tensor(input_ids, device=model.device).long()
    runs = checked_runs(
        input_ids.cpu().numpy(),
        audio_token_id,
        [tuple(rows.shape) for rows in embeddings],
        text_config.hidden_size,
        clip_keys,
    )
    is_audio = input_ids == audio_token_id  # bool [B, S]
    text_ids = torch.where(is_audio, text_config.pad_token_id, input_ids)  # the ids the LM embeds and looks up
    inputs_embeds = model.get_input_embeddings()(text_ids)  # [B, S, D], scaled by sqrt(D)
    if runs:
        rows = torch.cat([_as_tensor(rows) for rows in embeddings]).to(inputs_embeds.device, inputs_embeds.dtype)
        inputs_embeds = inputs_embeds.masked_scatter(is_audio[..., None].expand_as(inputs_embeds), rows)  # unscaled
    kwargs = {"inputs_embeds": inputs_embeds, "attention_mask": torch.as_tensor(attention_mask, device=model.device)}
    if getattr(text_config, "hidden_size_per_layer_input", 0):
        kwargs["per_layer_inputs"] = model.get_decoder().get_per_layer_inputs(text_ids, None)  # [B, S, L, P]
    return kwargs
