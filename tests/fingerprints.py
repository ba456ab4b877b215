"""The model fingerprint as docs/outputs.md specifies it, computed here without the package's code.

SHA-256 of the compact JSON, keys sorted, of `{"compute_dtype", "encoder", "weights"}`: the
encoder arguments (the release's for any the source leaves out), and the SHA-256 of each weights
file by name, or the seed and Keras backend of random weights.
"""

import hashlib
import json
import pathlib

from gemma4_audio_embed.encoder.config import RELEASE_ENCODER_CONFIG


def _fingerprint(encoder_config: dict, compute_dtype: str, weights: dict) -> str:
    payload = {
        "compute_dtype": compute_dtype,
        "encoder": {**RELEASE_ENCODER_CONFIG, **encoder_config},
        "weights": weights,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def files_fingerprint(files: dict, encoder_config: dict, compute_dtype: str = "float32") -> str:
    """The fingerprint of weights read from `files`, `{name: local path}`."""
    hashes = {name: hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest() for name, path in files.items()}
    return _fingerprint(encoder_config, compute_dtype, {"files": hashes})


def random_fingerprint(
    seed: int, keras_backend: str, encoder_config: dict = None, compute_dtype: str = "float32"
) -> str:
    """The fingerprint of seeded random weights."""
    return _fingerprint(encoder_config or {}, compute_dtype, {"random": {"seed": seed, "keras_backend": keras_backend}})
