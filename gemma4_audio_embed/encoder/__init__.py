"""Keras 3 implementation of the Gemma 4 audio encoder, its log-mel front ends and weight loaders (no Beam).

The names below load their modules on first use (PEP 562), so `encoder.config`,
`encoder.safetensors_file` and the other Keras-free modules import without Keras or a backend.
"""

import importlib

_EXPORTS = {
    "Gemma4AudioEncoder": "gemma4_audio_encoder",
    "num_valid_tokens": "gemma4_audio_encoder",
    "output_token_mask": "gemma4_audio_encoder",
    "load_hf_checkpoint": "hf_checkpoint",
    "default_encoder": "inference",
    "forward_memory_bytes": "inference",
    "make_predict_fn": "inference",
    "weights_digest": "inference",
    "from_keras_hub": "keras_hub_weights",
    "LogMelFrontend": "log_mel_frontend",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
