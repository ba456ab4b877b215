"""Full float32 precision for the matrix products and convolutions of a forward pass, on every backend.

A float32 matmul is not float32 everywhere by default: XLA on a TPU runs it at
`precision=DEFAULT` as one bfloat16 pass (jax-ml/jax#1856), and on NVIDIA GPUs from Ampere
on, JAX and TensorFlow multiply float32 in TF32 (10-bit mantissa) and PyTorch does so in its
cuDNN convolutions (jax-ml/jax#4873, #18934). `make_predict_fn` runs a float32 encoder inside
`full_float32_precision()` so that float32 means float32. On a CPU every backend already
multiplies float32 in full precision, so nothing changes there.
"""

import contextlib

import keras


@contextlib.contextmanager
def full_float32_precision():
    """Within the block, float32 products and convolutions run at full float32 precision.

    - JAX: `jax.default_matmul_precision("float32")`, so every `dot_general` and
      `convolution` traced inside is lowered at `precision=HIGHEST`. Trace and call a
      `jax.jit` function inside the block: the setting is part of its cache key.
    - TensorFlow: TF32 execution off (`tf.config.experimental.enable_tensor_float_32_execution`).
    - PyTorch: `torch.backends.cuda.matmul.allow_tf32` and `torch.backends.cudnn.allow_tf32`
      False, `torch.set_float32_matmul_precision("highest")`.

    The TensorFlow and PyTorch settings are process-wide; the block restores what it found.
    Products of bfloat16 inputs are unaffected.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        with jax.default_matmul_precision("float32"):
            yield
    elif backend == "tensorflow":
        import tensorflow as tf

        before = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(False)
        try:
            yield
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(before)
    elif backend == "torch":
        import torch

        before = (
            torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32,
            torch.get_float32_matmul_precision(),
        )
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before[:2]
            torch.set_float32_matmul_precision(before[2])
    else:
        raise ValueError(f"Unsupported Keras backend {backend!r}; expected jax, tensorflow or torch.")


def precision_scope(compute_dtype: str):
    """`full_float32_precision()` for a float32 compute dtype; for any other, a no-op context
    (bfloat16 keeps bfloat16 inputs with float32 accumulation, as the layers ask for)."""
    return full_float32_precision() if compute_dtype == "float32" else contextlib.nullcontext()
