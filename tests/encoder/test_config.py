"""Tests for encoder/config.py's bounds: a hostile config.json is refused before any model is built."""

import copy

import pytest

from gemma4_audio_embed.encoder.config import RELEASE_ENCODER_CONFIG
from gemma4_audio_embed.encoder.config import checked_encoder_config
from gemma4_audio_embed.encoder.config import encoder_config_from_hf

HF_CONFIG = {  # the released E2B config.json, audio part, as transformers writes it
    "text_config": {"hidden_size": 1536},
    "audio_config": {
        "hidden_size": 1024,
        "num_attention_heads": 8,
        "num_hidden_layers": 12,
        "attention_chunk_size": 12,
        "attention_context_left": 13,
        "attention_context_right": 0,
        "attention_logit_cap": 50.0,
        "attention_invalid_logits_value": -1e9,
        "conv_kernel_size": 5,
        "residual_weight": 0.5,
        "gradient_clipping": 1e10,
        "subsampling_conv_channels": [128, 32],
        "output_proj_dims": 1536,
        "rms_norm_eps": 1e-6,
    },
}


def test_the_release_passes():
    assert checked_encoder_config(dict(RELEASE_ENCODER_CONFIG)) == RELEASE_ENCODER_CONFIG
    assert encoder_config_from_hf(HF_CONFIG)["num_layers"] == 12


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("num_hidden_layers", 1e9, "`num_layers` must be an int in \\[1, 128\\]. Received: 1000000000.0"),
        ("num_hidden_layers", 10**9, "`num_layers` must be an int in \\[1, 128\\]. Received: 1000000000"),
        ("hidden_size", 1 << 20, "`hidden_size` must be an int in \\[1, 8192\\]"),
        ("hidden_size", True, "`hidden_size` must be an int"),
        ("num_attention_heads", 7, "`hidden_size` \\(1024\\) must be a multiple of `num_heads` \\(7\\)"),
        ("subsampling_conv_channels", [128] * 100, "`sscp_conv_channels` must list 1 to 8 sizes"),
        ("rms_norm_eps", float("nan"), "`norm_eps` must be a finite number"),
        ("output_proj_dims", "1536", "`output_proj_dims` must be an int"),
    ],
)
def test_a_hostile_audio_config_is_refused_at_once(field, value, message):
    config = copy.deepcopy(HF_CONFIG)
    config["audio_config"][field] = value
    with pytest.raises(ValueError, match=message):
        encoder_config_from_hf(config)  # from the numbers alone: nothing is built


def test_sizes_each_in_bounds_may_still_ask_for_too_many_parameters():
    with pytest.raises(ValueError, match="asks for about .* parameters \\(hidden_size 8192, num_layers 128\\)"):
        checked_encoder_config({"hidden_size": 8192, "num_heads": 8, "num_layers": 128})
