"""Run in a subprocess under one Keras backend: the matmul precision settings that
`make_predict_fn`'s forward pass sees, for a float32 and a bfloat16 model, and after the call.

    KERAS_BACKEND=torch python precision_worker.py
Prints one JSON object: {"float32": settings, "bfloat16": settings, "after": settings}.
"""

import json

import keras
import numpy as np


def settings() -> dict:
    """The backend's process-wide float32 matmul settings, now."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return {"tensor_float_32": tf.config.experimental.tensor_float_32_execution_enabled()}
    import torch

    return {
        "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }


class SettingsProbe(keras.Model):
    """Stands in for the encoder: records `settings()` whenever it runs (traces, on TensorFlow)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def call(self, audio_mel, audio_mel_mask, output_layer="lm"):
        self.seen.append(settings())
        return audio_mel


def main():
    from gemma4_audio_embed.encoder import make_predict_fn

    mel, mask = np.zeros((1, 8, 4), "float32"), np.ones((1, 8), bool)
    report = {}
    for dtype in ("float32", "bfloat16"):
        probe = SettingsProbe(dtype=dtype)
        make_predict_fn(probe)(mel, mask)
        report[dtype] = probe.seen[-1]
    report["after"] = settings()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
