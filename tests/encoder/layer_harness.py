"""One harness for every encoder layer: config round trip, weight counts, shapes, dtype policies."""

import keras
import numpy as np


def _random_inputs(shapes, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for shape in shapes:
        if isinstance(shape, np.ndarray):
            out.append(shape)
        else:
            out.append(rng.normal(size=shape).astype("float32"))
    return out


def run_layer_test(layer_cls, init_kwargs, inputs, expected_output_shape, expected_trainable, expected_non_trainable):
    """Checks a layer class the way keras-hub's `run_layer_test` does.

    Args:
        layer_cls: the layer class.
        init_kwargs: dict of constructor arguments.
        inputs: list of call inputs; shapes (tuples) become float32 normal noise, arrays pass as is.
        expected_output_shape: shape of the (first) output.
        expected_trainable / expected_non_trainable: total weight element counts after build.
    """
    arrays = _random_inputs(inputs)
    for policy in ("float32", "bfloat16", "mixed_bfloat16"):
        layer = layer_cls(**init_kwargs, dtype=policy)
        output = layer(*arrays)
        first = output[0] if isinstance(output, tuple) else output
        assert tuple(first.shape) == tuple(expected_output_shape)
        expected_dtype = "float32" if policy == "float32" else "bfloat16"
        assert keras.backend.standardize_dtype(first.dtype) == expected_dtype, policy
        for weight in layer.weights:
            assert weight.dtype == ("bfloat16" if policy == "bfloat16" else "float32"), weight.path
    assert sum(int(np.prod(w.shape)) for w in layer.trainable_weights) == expected_trainable
    assert sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights) == expected_non_trainable

    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config
    clone(*arrays)
    for a, b in zip(layer.get_weights(), clone.get_weights()):
        assert a.shape == b.shape

    symbolic = [keras.KerasTensor(a.shape, dtype=a.dtype) for a in arrays]
    spec = layer_cls(**init_kwargs)(*symbolic)
    spec = spec[0] if isinstance(spec, tuple) else spec
    assert tuple(spec.shape) == tuple(expected_output_shape)
