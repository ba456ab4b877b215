"""Running a `Gemma4AudioEncoder` for batch inference: compiled forward, seeded default, fingerprint.

Axis legend: B batch, M mel frames, F mel bins, T tokens, D output width.
"""

import hashlib
import json
from typing import Callable
from typing import Optional

import keras
import numpy as np

from encoder.gemma4_audio_encoder import Gemma4AudioEncoder
from encoder.precision import precision_scope


# Left to oneDNN by `tensorflow_function` on a CPU: the matrix products and convolutions.
ONEDNN_OPS = frozenset({"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum", "Conv2D"})


def tensorflow_default_jit_compile() -> bool:
    """Whether `make_predict_fn` XLA-compiles the whole graph on TensorFlow when not told: only
    when TensorFlow sees a GPU or TPU. On a CPU, oneDNN's matmul kernels beat XLA's CPU backend
    in float32 and in bfloat16 (bench/encoder.py measures both)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"))


def tensorflow_function(fn: Callable, jit_compile: Optional[bool] = None) -> Callable:
    """`fn` compiled by TensorFlow the way `make_predict_fn` compiles the encoder.

    `jit_compile=True`: one XLA program for the whole graph. `False`: a `tf.function` whose
    matrix products and convolutions (`ONEDNN_OPS`) run on oneDNN's kernels, while every other
    op is left to XLA (`tf.xla.experimental.jit_scope`), which fuses the element-wise runs
    between two products (clip-bound clamps, norms, casts, activations) into single passes.
    Left unfused, each of those ops is a pass over the activations: in a profile of two default
    blocks they took about a third of the bfloat16 time. Fusing them made the default encoder
    12% faster in bfloat16 and 2% in float32 (8 x 30 s, 2-core AMD EPYC), at the cost of a
    longer first call per input shape. `None`: `tensorflow_default_jit_compile()`.

    Args:
        fn: a function of tensors, traced by `tf.function`.
        jit_compile: optional bool, see above.

    Returns:
        The `tf.function`.
    """
    import tensorflow as tf

    if jit_compile is None:
        jit_compile = tensorflow_default_jit_compile()
    if jit_compile:
        return tf.function(fn, jit_compile=True)

    def fused(*args):
        with tf.xla.experimental.jit_scope(compile_ops=lambda node_def: node_def.op not in ONEDNN_OPS):
            return fn(*args)

    return tf.function(fused)


def make_predict_fn(model: Gemma4AudioEncoder, output_layer: str = "lm", jit_compile=None):
    """A compiled NumPy-in, NumPy-out forward pass for the active Keras backend.

    JAX: `jax.jit` over `stateless_call`; TensorFlow: `tensorflow_function` (one XLA program
    on accelerators; on a CPU, oneDNN products with XLA-fused element-wise ops between them);
    PyTorch: eager under `torch.no_grad()`. XLA compiles once per distinct input shape, so
    callers should pad to a few fixed lengths.

    With a float32 compute dtype, every call runs under `full_float32_precision()`: each
    matmul, einsum and convolution at full float32 precision (no TF32 on NVIDIA GPUs, no
    one-pass bfloat16 on TPUs; on a CPU nothing changes). bfloat16 policies keep bfloat16
    inputs with float32 sums.

    Args:
        model: the encoder.
        output_layer: `"lm"` or `"tower"`, as in `Gemma4AudioEncoder.call`.
        jit_compile: TensorFlow only, as in `tensorflow_function`. `None` (default) means one
            XLA program on a GPU or TPU and oneDNN products with XLA-fused element-wise ops on
            a CPU: `tensorflow_default_jit_compile`.

    Returns:
        `fn(mel float32 [B, M, F], mask bool [B, M]) -> float32 [B, T, D]`, padded rows 0.
        On JAX it also has `fn.lower(mel, mask)`, the `jax.stages.Lowered` program it runs.
    """
    backend = keras.backend.backend()
    precision = lambda: precision_scope(model.compute_dtype)  # noqa: E731
    if backend == "jax":
        import jax

        @jax.jit
        def forward(trainable, non_trainable, mel, mask):
            out, _ = model.stateless_call(trainable, non_trainable, mel, mask, output_layer=output_layer)
            return out.astype("float32")

        def weights():
            return [v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables]

        def predict(mel, mask):
            with precision():
                return np.asarray(forward(*weights(), mel, mask))

        def lower(mel, mask):
            with precision():
                return forward.lower(*weights(), mel, mask)

        predict.lower = lower
        return predict
    if backend == "tensorflow":
        import tensorflow as tf

        forward = tensorflow_function(
            lambda mel, mask: tf.cast(model(mel, mask, output_layer=output_layer), tf.float32), jit_compile
        )

        def predict(mel, mask):
            with precision():
                return forward(mel, mask).numpy()

        return predict
    if backend == "torch":
        import torch

        def predict(mel, mask):
            with precision(), torch.no_grad():
                out = model(mel, mask, output_layer=output_layer)
            return keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))

        return predict
    raise ValueError(f"Unsupported Keras backend {backend!r}; expected jax, tensorflow or torch.")


def default_encoder(seed: int = 0, dtype=None, **config) -> Gemma4AudioEncoder:
    """The released configuration (or `config` overrides) with seeded random weights.

    The same seed gives the same weights on the same backend. The embeddings are meaningless:
    use it for tests, benchmarks and dry runs, not for data.
    """
    keras.utils.set_random_seed(seed)
    model = Gemma4AudioEncoder(**config, dtype=dtype)
    model.build()
    return model


def model_fingerprint(model: Gemma4AudioEncoder) -> str:
    """Hex SHA-256 of the model's configuration and weights (values, shapes, dtypes, order).

    Independent of layer names, so two processes that build the same model agree.
    """
    digest = hashlib.sha256()
    config = model.get_config()
    config.pop("name", None)
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for variable in model.weights:
        array = keras.ops.convert_to_numpy(variable.value)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
