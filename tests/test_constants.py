"""The release constants and the counts derived from them (`constants.py`), against hand-computed values."""

import inspect

import pytest

from gemma4_audio_embed import constants
from gemma4_audio_embed.encoder import Gemma4AudioEncoder
from gemma4_audio_embed.encoder.config import RELEASE_ENCODER_CONFIG


@pytest.mark.parametrize(
    "num_samples, frames, tokens",
    [
        (0, 0, 0),
        (160, 0, 0),  # floor(159 / 160) = 0: too short for one frame
        (161, 1, 1),
        (16000, 99, 25),  # 1 s: floor(15999 / 160) = 99 frames, ceil(99 / 4) = 25 tokens
        (16160, 100, 25),  # N % 640 == 160: 100 frames, still 25 tokens
        (16161, 101, 26),
        (480000, 2999, 750),  # 30 s
        (480001, 3000, 750),
    ],
)
def test_valid_frames_and_tokens_of_a_clip(num_samples, frames, tokens):
    assert constants.samples_to_valid_frames(num_samples) == frames
    assert constants.samples_to_tokens(num_samples) == tokens


def test_derived_constants():
    assert (constants.FRAMES_PER_TOKEN, constants.FRAMES_PER_BLOCK) == (4, 48)


def test_the_release_config_is_the_encoder_defaults():
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(Gemma4AudioEncoder).parameters.items()
        if name in RELEASE_ENCODER_CONFIG
    }
    assert defaults == RELEASE_ENCODER_CONFIG
