"""Assigning named source tensors to encoder variables, with errors that name the tensor.

A weight map is a list of `WeightSource(name, variable, transform)`: `name` is the tensor's
name in the source (checkpoint key or attribute path), `transform` turns the source array into
the variable's layout (e.g. a PyTorch `[out, in]` Linear into a Keras `[in, out]` kernel).
"""

import dataclasses
from collections.abc import Callable

import numpy as np

from gemma4_audio_embed.encoder.clippable_dense import CLIP_BOUND_NAMES


def identity(array):
    return array


def transpose(array):
    """PyTorch Linear `[out, in]` -> Keras kernel `[in, out]`."""
    return array.T


@dataclasses.dataclass(frozen=True)
class WeightSource:
    name: str
    variable: object
    transform: Callable = identity


def clip_bound_sources(prefix, layer):
    """The four clip-bound scalars of a `ClippableDense`, named `prefix + bound`."""
    return [WeightSource(prefix + bound, getattr(layer, bound)) for bound in CLIP_BOUND_NAMES]


def checked_arrays(weight_map, read, source_label):
    """The arrays of `weight_map`, each read with `read(name)` and transformed, all checked.

    Raises `ValueError` naming the tensor when a source tensor is missing (`read` raises
    `KeyError`), is not floating point, or has the wrong shape after its transform. `read` may
    return zero-stride stand-ins (`np.broadcast_to`) to check shapes and dtypes from headers.
    """
    arrays = []
    for source in weight_map:
        try:
            array = np.asarray(read(source.name))
        except KeyError:
            raise ValueError(f"{source_label} is missing tensor {source.name!r}.") from None
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"{source_label} tensor {source.name!r} must be floating point; got dtype {array.dtype}.")
        array = source.transform(array)
        expected = tuple(source.variable.shape)
        if tuple(array.shape) != expected:
            raise ValueError(
                f"{source_label} tensor {source.name!r} has shape {tuple(array.shape)} after "
                f"conversion; the encoder expects {expected} for {source.variable.path}."
            )
        arrays.append(array)
    return arrays


TRANSPOSE_BLOCK = 256  # rows and columns copied at a time by `c_contiguous`: a block pair fits the L2 cache


def c_contiguous(array: np.ndarray) -> np.ndarray:
    """`array` in C order; a transposed matrix is copied block by block, about twice as fast as NumPy's
    strided copy of a large one (a Linear kernel of the released size is 4096 x 1024)."""
    if array.flags.c_contiguous or array.ndim != 2 or not array.flags.f_contiguous:
        return np.asarray(array, order="C")
    rows, columns = array.shape
    out = np.empty((rows, columns), array.dtype)
    for row in range(0, rows, TRANSPOSE_BLOCK):
        for column in range(0, columns, TRANSPOSE_BLOCK):
            block = (slice(row, row + TRANSPOSE_BLOCK), slice(column, column + TRANSPOSE_BLOCK))
            out[block] = array[block]
    return out


def set_value(variable, array: np.ndarray) -> None:
    """Assigns `array` to a Keras `variable`; one left without a value by a shape-only build
    (`hf_checkpoint.shape_only_encoder`) takes it as its first value, so no random
    initialisation is computed only to be overwritten."""
    import keras

    if variable._value is None:  # no public API gives an uninitialized variable its first value
        # Contiguous, as `assign` would copy it into a fresh variable's storage (a transposed view
        # would otherwise stay strided on PyTorch).
        variable._initialize(keras.ops.convert_to_tensor(c_contiguous(array), dtype=variable.dtype))
        variable._initializer = None
    else:
        variable.assign(array)


def assign_weights(weight_map, read, source_label):
    """Set every variable of `weight_map` from `read(name) -> np.ndarray`.

    Every variable is checked (`checked_arrays`) before any is assigned, so a failed load
    leaves the model untouched. Variables without a value yet (a shape-only build) get theirs
    here (`set_value`).
    """
    arrays = checked_arrays(weight_map, read, source_label)
    for source, array in zip(weight_map, arrays):
        set_value(source.variable, array.astype(np.float32, copy=False))
