"""Running a `Gemma4AudioEncoder` for batch inference: compiled forward, seeded default, fingerprint.

Axis legend: B batch, M mel frames, F mel bins, T tokens, D output width.
"""

import hashlib
import json

import keras
import numpy as np

from encoder.gemma4_audio_encoder import Gemma4AudioEncoder


def tensorflow_default_jit_compile() -> bool:
    """Whether `make_predict_fn` XLA-compiles on TensorFlow when not told: only when TensorFlow
    sees a GPU or TPU. On a CPU, oneDNN's kernels beat XLA's CPU backend in float32 and in
    bfloat16 (bench/encoder.py measures both)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"))


def make_predict_fn(model: Gemma4AudioEncoder, output_layer: str = "lm", jit_compile=None):
    """A compiled NumPy-in, NumPy-out forward pass for the active Keras backend.

    JAX: `jax.jit` over `stateless_call`; TensorFlow: `tf.function`, XLA-compiled on
    accelerators; PyTorch: eager under `torch.no_grad()`. XLA compiles once per distinct
    input shape, so callers should pad to a few fixed lengths.

    Args:
        model: the encoder.
        output_layer: `"lm"` or `"tower"`, as in `Gemma4AudioEncoder.call`.
        jit_compile: TensorFlow only. `None` (default) means XLA on a GPU or TPU and a plain
            `tf.function` (oneDNN kernels) on a CPU: `tensorflow_default_jit_compile`.

    Returns:
        `fn(mel float32 [B, M, F], mask bool [B, M]) -> float32 [B, T, D]`, padded rows 0.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        @jax.jit
        def forward(trainable, non_trainable, mel, mask):
            out, _ = model.stateless_call(trainable, non_trainable, mel, mask, output_layer=output_layer)
            return out.astype("float32")

        def predict(mel, mask):
            trainable = [v.value for v in model.trainable_variables]
            non_trainable = [v.value for v in model.non_trainable_variables]
            return np.asarray(forward(trainable, non_trainable, mel, mask))

        return predict
    if backend == "tensorflow":
        import tensorflow as tf

        if jit_compile is None:
            jit_compile = tensorflow_default_jit_compile()

        @tf.function(jit_compile=jit_compile)
        def forward(mel, mask):
            return tf.cast(model(mel, mask, output_layer=output_layer), tf.float32)

        return lambda mel, mask: forward(mel, mask).numpy()
    if backend == "torch":
        import torch

        def predict(mel, mask):
            with torch.no_grad():
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
