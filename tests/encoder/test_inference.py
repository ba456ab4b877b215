"""Specifications of the inference helpers: seeded default encoder and model fingerprint."""

import numpy as np

from encoder import default_encoder
from encoder import model_fingerprint
from encoder.inference import tensorflow_default_jit_compile

TINY = dict(hidden_size=32, num_heads=2, num_layers=1, sscp_conv_channels=(8, 4), output_proj_dims=48, output_dim=64)


def test_default_encoder_is_the_same_for_the_same_seed():
    a, b = default_encoder(seed=3, **TINY), default_encoder(seed=3, **TINY)
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)


def test_default_encoder_differs_across_seeds():
    a, b = default_encoder(seed=3, **TINY), default_encoder(seed=4, **TINY)
    assert any((x != y).any() for x, y in zip(a.get_weights(), b.get_weights()))


def test_fingerprint_is_stable_across_rebuilds_and_layer_names():
    assert model_fingerprint(default_encoder(seed=3, **TINY)) == model_fingerprint(default_encoder(seed=3, **TINY))


def test_fingerprint_changes_when_one_weight_or_the_config_changes():
    model = default_encoder(seed=3, **TINY)
    before = model_fingerprint(model)
    model.non_trainable_weights[0].assign(1.0)
    assert model_fingerprint(model) != before
    assert model_fingerprint(default_encoder(seed=3, **{**TINY, "logit_cap": 40.0})) != before


def test_tensorflow_uses_onednn_kernels_not_xla_on_a_cpu():
    import tensorflow as tf

    assert not tf.config.list_physical_devices("GPU") and not tf.config.list_physical_devices("TPU")
    assert tensorflow_default_jit_compile() is False
