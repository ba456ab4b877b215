"""Cosine similarity of two encoders' tokens, the measure of bfloat16 against float32."""

import numpy as np


def token_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity per token: `[..., T, D]` twice -> `[..., T]`."""
    a = a.astype("float64")
    b = b.astype("float64")
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
