"""Tests for backends.py: backend selection is explicit, never silently changed."""

import keras
import pytest

from gemma4_audio_embed.backends import KERAS_BACKENDS
from gemma4_audio_embed.backends import encoder_module


def test_returns_the_encoder_package_under_the_loaded_backend():
    assert encoder_module(keras.backend.backend()).Gemma4AudioEncoder.__name__ == "Gemma4AudioEncoder"


def test_another_backend_than_the_loaded_one_raises():
    other = next(backend for backend in KERAS_BACKENDS if backend != keras.backend.backend())
    with pytest.raises(RuntimeError, match=f"already loaded with the '{keras.backend.backend()}' backend"):
        encoder_module(other)


def test_unknown_backend_raises():
    with pytest.raises(ValueError, match="keras_backend"):
        encoder_module("numpy")
