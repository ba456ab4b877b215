"""Imports the `encoder` package inside a worker after selecting the Keras backend it runs on."""

import importlib
import os
import sys

KERAS_BACKENDS = ("tensorflow", "jax", "torch")


def encoder_module(keras_backend: str):
    """Returns the `encoder` package, imported under Keras backend `keras_backend`.

    Keras fixes its backend when it is first imported, from the `KERAS_BACKEND` environment
    variable, and a Dataflow worker does not inherit the launcher's environment. So each DoFn
    that needs the encoder calls this in `setup` or `load_model`: it sets the variable when
    Keras is not loaded yet, and raises when Keras is already loaded with another backend,
    instead of silently running on it.

    Args:
        keras_backend: str. One of `"tensorflow"`, `"jax"`, `"torch"`.
    """
    if keras_backend not in KERAS_BACKENDS:
        raise ValueError(f"`keras_backend` must be one of {KERAS_BACKENDS}. Received: keras_backend={keras_backend!r}")
    if "keras" in sys.modules:
        loaded = sys.modules["keras"].backend.backend()
        if loaded != keras_backend:
            raise RuntimeError(
                f"Keras is already loaded with the {loaded!r} backend in this process, so the "
                f"encoder cannot run on {keras_backend!r}. Set KERAS_BACKEND={keras_backend} before "
                f"anything imports Keras, or pass --keras_backend {loaded}."
            )
    else:
        os.environ["KERAS_BACKEND"] = keras_backend
    return importlib.import_module("gemma4_audio_embed.encoder")


def has_accelerator(keras_backend: str) -> bool:
    """Whether Keras backend `keras_backend` sees a GPU or TPU in this process.

    Imports the backend's library (never Keras), so it is safe before `encoder_module`.
    """
    if keras_backend == "jax":
        import jax

        return jax.local_devices()[0].platform != "cpu"
    if keras_backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"))
    import torch

    return torch.cuda.is_available()
