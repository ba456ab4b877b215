"""Specification of `float32_accumulated_matmul` and `AccumulatedDense`: low-precision products
summed in float32."""

import keras
import numpy as np
import pytest

from gemma4_audio_embed.encoder.matmul import AccumulatedDense
from gemma4_audio_embed.encoder.matmul import float32_accumulated_matmul

# 1 followed by 256 terms of 2^-9: a bfloat16 running sum (8 significant bits) stays at 1.0,
# a float32 one reaches 1.5, which bfloat16 represents exactly.
SMALL_TERMS = 256


def _ones_then_small_terms(dtype):
    x = keras.ops.convert_to_tensor(np.ones((1, SMALL_TERMS + 1), "float32"), dtype=dtype)
    kernel = np.full((SMALL_TERMS + 1, 1), 2.0**-9, "float32")
    kernel[0] = 1.0
    return x, kernel


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
def test_float32_accumulated_matmul_sums_in_float32_and_keeps_the_input_dtype(dtype):
    x, kernel = _ones_then_small_terms(dtype)
    out = float32_accumulated_matmul(x, kernel)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(keras.ops.cast(out, "float32")), [[1.5]])


def test_float32_accumulated_matmul_rounds_the_float32_sum_once():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 64)).astype("float32")
    kernel = rng.normal(size=(64, 8)).astype("float32")
    x_bf16 = keras.ops.cast(x, "bfloat16")
    exact = keras.ops.convert_to_numpy(keras.ops.cast(x_bf16, "float32")) @ keras.ops.convert_to_numpy(
        keras.ops.cast(keras.ops.cast(kernel, "bfloat16"), "float32")
    )
    out = keras.ops.convert_to_numpy(keras.ops.cast(float32_accumulated_matmul(x_bf16, kernel), "float32"))
    expected = keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.cast(exact, "bfloat16"), "float32"))
    # float32 sums in another order may straddle a bfloat16 rounding boundary: at most one step.
    np.testing.assert_allclose(out, expected, rtol=2.0**-7)


@pytest.mark.parametrize("use_bias", [True, False])
def test_accumulated_dense_matches_keras_dense_in_float32(use_bias):
    x = np.random.default_rng(1).normal(size=(2, 3, 8)).astype("float32")
    dense = keras.layers.Dense(5, use_bias=use_bias, bias_initializer="random_normal")
    ours = AccumulatedDense(5, use_bias=use_bias)
    dense.build(x.shape)
    ours.build(x.shape)
    ours.set_weights(dense.get_weights())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours(x)), keras.ops.convert_to_numpy(dense(x)))


def test_accumulated_dense_sums_in_float32_under_bfloat16_and_adds_its_bias():
    x, kernel = _ones_then_small_terms("bfloat16")
    layer = AccumulatedDense(1, dtype="bfloat16")
    layer.build(x.shape)
    layer.set_weights([kernel, np.array([0.5], "float32")])
    out = layer(x)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(keras.ops.cast(out, "float32")), [[2.0]])
