"""`tf.data` loading: `TrainingSource` batches as a `tf.data.Dataset`, for `keras.Model.fit` on any backend.

Axis legend: as the collate function's.
"""

import itertools

import numpy as np


def tf_dataset(source, buckets, collate, first_epoch: int = 0):
    """A `tf.data.Dataset` of `collate(examples)` over `buckets`' batches of `source`, a new order each pass.

    Each iteration of the dataset (each `fit` epoch) takes the next epoch's plan, starting at
    `first_epoch`. Shapes are left free (`None` on every axis), so batches of any length pass.

    Args:
        source: TrainingSource.
        buckets: LengthBuckets.
        collate: a function of a list of `TrainingExample`s returning NumPy arrays, dicts or
            tuples of them, e.g. `functools.partial(keras_hub_training_batch, ...)`.
        first_epoch: int. Defaults to 0.
    """
    import tensorflow as tf

    def read(indices):
        return collate([source[index] for index in indices])

    sample = read(buckets.batches(first_epoch)[0])  # the structure and dtypes of a batch
    signature = tf.nest.map_structure(
        lambda array: tf.TensorSpec([None] * np.ndim(array), tf.as_dtype(np.asarray(array).dtype)), sample
    )
    epochs = itertools.count(first_epoch)

    def batches():
        for indices in buckets.batches(next(epochs)):
            yield read(indices)

    return tf.data.Dataset.from_generator(batches, output_signature=signature)
