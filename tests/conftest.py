"""Test-wide setup: the Keras backend (JAX unless KERAS_BACKEND says otherwise) and repo paths."""

import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
TEST_DATA = REPO_ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def speech_16k():
    """float32 [N] speech at 16 kHz (tests/data/speech_16k.wav, espeak-ng)."""
    import soundfile

    audio, rate = soundfile.read(TEST_DATA / "speech_16k.wav", dtype="float32")
    assert rate == 16000 and audio.ndim == 1
    return audio
