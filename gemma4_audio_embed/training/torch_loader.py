"""PyTorch loading: `TrainingSource` batches as tensors for a transformers training loop.

`TrainingSource` is a map-style dataset and `LengthBuckets` a batch sampler, so
`torch_data_loader` is PyTorch's own `DataLoader` over them with `torch_batch` as the collate
function; `transformers_lm.transformers_lm_inputs` then turns a batch into the model's inputs.

Axis legend: B examples, S tokens, T rows of one window, D hidden size.
"""

import functools

import torch

from gemma4_audio_embed.training.batches import padded_batch


def torch_batch(examples, pad_id: int, pad_to_multiple_of: int = 1) -> dict:
    """Collates `TrainingExample`s: `{"input_ids": long [B, S], "attention_mask": long [B, S], "labels": long [B, S],
    "embeddings": list of float32 [T_i, D] tensors, "clip_keys": list of str, "keys": list of str}`.

    `labels` holds -100 (transformers' ignore index) outside the answers and on padding.
    """
    batch = padded_batch(examples, pad_id, pad_to_multiple_of)
    return {
        "input_ids": torch.from_numpy(batch.token_ids).long(),
        "attention_mask": torch.from_numpy(batch.attention_mask).long(),
        "labels": torch.from_numpy(batch.labels).long(),
        "embeddings": [torch.from_numpy(rows) for rows in batch.embeddings],
        "clip_keys": batch.clip_keys,
        "keys": batch.keys,
    }


def torch_data_loader(source, buckets, num_workers: int = 0, **kwargs) -> torch.utils.data.DataLoader:
    """A `DataLoader` over `source` (`TrainingSource`) yielding `torch_batch` dicts in `buckets`' batches.

    Args:
        source: TrainingSource.
        buckets: LengthBuckets (its `pad_to_multiple_of` pads the batches too); call its
            `set_epoch` between epochs for a new order.
        num_workers: int. Worker processes reading records. Defaults to 0.
        **kwargs: passed to `DataLoader` (`pin_memory`, `prefetch_factor`, ...).
    """
    collate = functools.partial(
        torch_batch, pad_id=source.special_ids.pad, pad_to_multiple_of=buckets.pad_to_multiple_of
    )
    return torch.utils.data.DataLoader(
        source, batch_sampler=buckets, collate_fn=collate, num_workers=num_workers, **kwargs
    )
