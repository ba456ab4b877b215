"""Matrix products in a low-precision compute dtype with one rounding at the end.

Axis legend: `...` any leading axes, `I` input features, `O` output features.
"""

import keras

_REDUCED_PRECISION = ("bfloat16", "float16")


def float32_accumulated_matmul(x, kernel):
    """`x @ kernel` in `x`'s dtype, summed in float32 and rounded once to that dtype.

    Every backend's CPU and GPU kernels already accumulate bfloat16 products in float32; this
    says so to XLA on JAX, whose CPU backend otherwise runs a bfloat16 product at float32 speed.
    Asking for a float32 result (`preferred_element_type`) selects its bfloat16 kernels: 1.6x
    the GFLOP/s on an AVX-512 BF16 CPU (`bench/encoder.py`). Other backends use
    `keras.ops.matmul`.

    Args:
        x: float `[..., I]`.
        kernel: `[I, O]`, cast to `x`'s dtype.

    Returns:
        `[..., O]` in `x`'s dtype.
    """
    kernel = keras.ops.cast(kernel, x.dtype)
    dtype = keras.backend.standardize_dtype(x.dtype)
    if keras.backend.backend() == "jax" and dtype in _REDUCED_PRECISION:
        import jax.numpy as jnp

        return jnp.matmul(x, kernel, preferred_element_type="float32").astype(dtype)
    return keras.ops.matmul(x, kernel)
