"""Matrix products in a low-precision compute dtype with one rounding at the end.

Axis legend: `...` any leading axes, `I` input features, `O` output features.
"""

import keras

_REDUCED_PRECISION = ("bfloat16", "float16")


def float32_accumulated_matmul(x, kernel):
    """`x @ kernel` in `x`'s dtype, summed in float32 and rounded once to that dtype.

    TensorFlow's oneDNN and PyTorch's CPU kernels already sum bfloat16 products in float32 and
    round the result once. On JAX this asks XLA for that explicitly (`preferred_element_type`),
    which also selects the bfloat16 kernels of its CPU backend: without it a bfloat16 product
    ran no faster than a float32 one; with it, 248 against 169 GFLOP/s for float32 in
    `bench/encoder.py` on a 2-core AMD EPYC with AVX-512 BF16. Other backends use
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
