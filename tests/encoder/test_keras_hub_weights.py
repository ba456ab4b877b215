"""Parity with keras-hub's `Gemma4AudioEncoder` after `from_keras_hub` moves its weights.

keras-hub config: D = 64, 2 heads, 2 blocks, SSCP (16, 8), output_proj 48, output 40, with
random weights and clip bounds set to ±3 / ±2 so the bounds are exercised too.
"""

import keras
import keras_hub
import numpy as np
import pytest

from gemma4_audio_embed.encoder import LogMelFrontend
from gemma4_audio_embed.encoder import from_keras_hub

CONFIG = dict(hidden_size=64, num_heads=2, num_layers=2, sscp_conv_channels=(16, 8), output_proj_dims=48, output_dim=40)


@pytest.fixture(scope="module")
def kh_encoder():
    keras.utils.set_random_seed(0)
    encoder = keras_hub.models.Gemma4AudioEncoder(**CONFIG)
    encoder(np.zeros((1, 8, 128), "float32"), np.ones((1, 8), bool))
    rng = np.random.default_rng(0)
    for weight in encoder.weights:
        name = weight.path.split("/")[-1]
        if name in ("input_min", "output_min"):
            weight.assign(-3.0 if name == "input_min" else -2.0)
        elif name in ("input_max", "output_max"):
            weight.assign(3.0 if name == "input_max" else 2.0)
        elif name in ("scale", "gamma"):
            weight.assign(1.0 + 0.3 * rng.normal(size=weight.shape))
    return encoder


def test_matches_keras_hub_on_valid_rows_of_speech(kh_encoder, speech_16k):
    clips = [speech_16k, speech_16k[5000:30000]]
    features, mask = LogMelFrontend().batch(clips)
    reference = keras.ops.convert_to_numpy(kh_encoder(features, mask))
    model = from_keras_hub(kh_encoder)
    ours = keras.ops.convert_to_numpy(model(features, mask))
    valid = keras.ops.convert_to_numpy(model.compute_output_mask(mask))
    error = np.abs(ours[valid] - reference[valid]).max() / np.abs(reference[valid]).max()
    print(f"keras-hub parity: max |diff| / max |ref| = {error:.2e}")
    assert error <= 1e-4


def test_copies_every_configuration_argument(kh_encoder):
    model = from_keras_hub(kh_encoder)
    kh_config = kh_encoder.get_config()
    for key, value in model.get_config().items():
        if key in kh_config and key not in ("name", "dtype", "trainable"):
            assert value == (
                list(map(list, kh_config[key]))
                if key.endswith("sizes")
                else list(kh_config[key])
                if isinstance(kh_config[key], tuple)
                else kh_config[key]
            ), key


def test_copies_the_clip_bounds(kh_encoder):
    model = from_keras_hub(kh_encoder)
    bounds = {w.path.split("/")[-1]: float(keras.ops.convert_to_numpy(w)) for w in model.non_trainable_weights}
    assert bounds == {"input_min": -3.0, "input_max": 3.0, "output_min": -2.0, "output_max": 2.0}


class ClaimsOtherOutputDim:
    """A keras-hub encoder whose config claims output_dim 32 while its weights have 40."""

    def __init__(self, encoder):
        self._encoder = encoder

    def get_config(self):
        return {**self._encoder.get_config(), "output_dim": 32}

    def __getattr__(self, name):
        return getattr(self._encoder, name)


def test_mis_shaped_keras_hub_weight_is_named(kh_encoder):
    with pytest.raises(ValueError, match=r"'audio_output_projection.kernel' has shape \(48, 40\).*expects \(48, 32\)"):
        from_keras_hub(ClaimsOtherOutputDim(kh_encoder))
