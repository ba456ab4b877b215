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


def to_tensor(array: np.ndarray, dtype):
    """`array` as a backend tensor of `dtype` in memory of its own (never a view of the source's).

    A transposed matrix (the F-ordered view `transpose` makes of a stored PyTorch `[out, in]`
    Linear) is handed to the backend in its stored layout and transposed there: the backend's
    transpose writes the kernel's memory once, multi-threaded, where a NumPy copy into fresh
    memory cost about 3 s for the released encoder's 0.9 GB of kernels (bench/RESULTS.md,
    start-up). Anything else is copied, so no variable aliases a memory-mapped checkpoint.
    """
    import keras

    if array.ndim == 2 and array.flags.f_contiguous and not array.flags.c_contiguous:
        return keras.ops.transpose(keras.ops.convert_to_tensor(array.T, dtype=dtype))
    return keras.ops.convert_to_tensor(np.array(array, order="C"), dtype=dtype)


def set_value(variable, array: np.ndarray) -> None:
    """Assigns `array` to a Keras `variable`; one left without a value by a shape-only build
    (`hf_checkpoint.shape_only_encoder`) takes it as its first value, so no random
    initialisation is computed only to be overwritten."""
    value = to_tensor(array, variable.dtype)
    if variable._value is None:  # no public API gives an uninitialized variable its first value
        variable._initialize(value)
        variable._initializer = None
    else:
        variable.assign(value)


def assign_weights(weight_map, read, source_label):
    """Set every variable of `weight_map` from `read(name) -> np.ndarray`.

    Every variable is checked (`checked_arrays`) before any is assigned, so a failed load
    leaves the model untouched. Variables without a value yet (a shape-only build) get theirs
    here (`set_value`).
    """
    arrays = checked_arrays(weight_map, read, source_label)
    for source, array in zip(weight_map, arrays):
        set_value(source.variable, array.astype(np.float32, copy=False))
