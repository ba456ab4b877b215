"""Grain loading: `TrainingSource` batches as a Grain `MapDataset`, for JAX and Keras training loops.

Each element is one batch of `LengthBuckets`' plan, read and collated when it is accessed, so
Grain's random access, prefetching and worker processes (`to_iter_dataset`, `mp_prefetch`) apply
to whole batches. The plan's batch order is a seeded global shuffle.
"""

import functools

import grain


def _read_batch(indices, source, collate):
    return collate([source[index] for index in indices])


def grain_dataset(source, buckets, collate, epoch: int = 0) -> grain.MapDataset:
    """A `MapDataset` of `collate(examples)` over `buckets.batches(epoch)` of `source`.

    Args:
        source: TrainingSource (over ArrayRecord or uncompressed TFRecord files).
        buckets: LengthBuckets.
        collate: a picklable function of a list of `TrainingExample`s, e.g.
            `functools.partial(keras_hub_training_batch, hidden_dim=..., pad_id=..., audio_token_id=...)`
            or `functools.partial(torch_batch, pad_id=...)`.
        epoch: int. Which epoch's plan. Defaults to 0.
    """
    return grain.MapDataset.source(buckets.batches(epoch)).map(
        functools.partial(_read_batch, source=source, collate=collate)
    )
