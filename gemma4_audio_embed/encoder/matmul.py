"""Matrix products in a low-precision compute dtype with one rounding at the end.

Axis legend: `...` any leading axes, `I` input features, `O` output features.
"""

import keras

_REDUCED_PRECISION = ("bfloat16", "float16")


def float32_accumulated_matmul(x, kernel, bias=None):
    """`x @ kernel (+ bias)` in `x`'s dtype, summed in float32 and rounded once to that dtype.

    TensorFlow's oneDNN and PyTorch's CPU kernels already sum bfloat16 products in float32 and
    round the result once. On JAX this asks XLA for that explicitly (`preferred_element_type`),
    which also selects the bfloat16 kernels of its CPU backend, which a plain bfloat16
    `jnp.matmul` does not reach (bench/RESULTS.md records the rates). Other backends use
    `keras.ops.matmul`.

    Args:
        x: float `[..., I]`.
        kernel: `[I, O]`, cast to `x`'s dtype.
        bias: optional `[O]`. On JAX it is added in float32 before the rounding; elsewhere it
            is cast to `x`'s dtype and added after.

    Returns:
        `[..., O]` in `x`'s dtype.
    """
    kernel = keras.ops.cast(kernel, x.dtype)
    dtype = keras.backend.standardize_dtype(x.dtype)
    if keras.backend.backend() == "jax" and dtype in _REDUCED_PRECISION:
        import jax.numpy as jnp

        y = jnp.matmul(x, kernel, preferred_element_type="float32")
        if bias is not None:
            y = y + jnp.asarray(bias, "float32")
        return y.astype(dtype)
    y = keras.ops.matmul(x, kernel)
    return y if bias is None else y + keras.ops.cast(bias, x.dtype)


class AccumulatedDense(keras.layers.Dense):
    """A `keras.layers.Dense` whose product goes through `float32_accumulated_matmul`.

    Same weights (`kernel [I, O]`, optional `bias [O]`), config and float32 results as
    `Dense`; in bfloat16 on JAX it runs XLA's bfloat16 kernels, which plain `Dense` does not
    reach there.

    Call arguments:
        inputs: float `[..., I]`.

    Returns:
        `[..., O]` in the compute dtype, after `activation`.
    """

    def call(self, inputs, training=None):
        y = float32_accumulated_matmul(inputs, self.kernel, self.bias)
        return y if self.activation is None else self.activation(y)
