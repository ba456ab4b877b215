"""The encoder's configuration as plain data, importable without Keras: its arguments, choices and packing geometry.

`RELEASE_ENCODER_CONFIG` is the released E2B/E4B audio tower (`Gemma4AudioEncoder`'s defaults
read it). The launcher and the batching step read geometry and choices from
here, so they need neither Keras nor a built model.
"""

import math

from gemma4_audio_embed.constants import CHUNK_SIZE
from gemma4_audio_embed.constants import CONTEXT_LEFT
from gemma4_audio_embed.constants import NUM_MEL_BINS

RELEASE_ENCODER_CONFIG = {
    "input_feat_size": NUM_MEL_BINS,
    "hidden_size": 1024,
    "num_heads": 8,
    "num_layers": 12,
    "chunk_size": CHUNK_SIZE,
    "context_left": CONTEXT_LEFT,
    "context_right": 0,
    "logit_cap": 50.0,
    "invalid_logit_value": -1e9,
    "conv_kernel_size": 5,
    "reduction_factor": 1,
    "residual_weight": 0.5,
    "gradient_clipping": 1e10,
    "sscp_conv_channels": (128, 32),
    "sscp_kernel_sizes": ((3, 3), (3, 3)),
    "sscp_stride_sizes": ((2, 2), (2, 2)),
    "output_proj_dims": 1536,
    "output_dim": 1536,  # the LM width: E2B 1536, E4B 2560 (spec section 11); E2B by default
    "norm_eps": 1e-6,
    "sscp_norm_eps": 1e-6,
}
ENCODER_ARGS = tuple(RELEASE_ENCODER_CONFIG)

COMPUTE_DTYPES = ("float32", "bfloat16")
OUTPUT_LAYERS = ("lm", "tower")  # lm: projected to the LM width; tower: the output_proj result


def check_choice(name: str, value, allowed: tuple) -> None:
    """Raises ValueError naming `name` when `value` is not one of `allowed`."""
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {allowed}. Received: {name}={value!r}")


def frames_per_token(config: dict) -> int:
    """Mel frames per output token of an encoder `config` (missing keys: the release's): the SSCP's
    time strides times `reduction_factor`; 4 for the release."""
    config = RELEASE_ENCODER_CONFIG | config
    return math.prod(stride[0] for stride in config["sscp_stride_sizes"]) * config["reduction_factor"]


def packing_gap_frames(config: dict) -> int:
    """Invalid mel frames that must separate two clips packed into one row (44 for the release).

    Clips may share a row when each starts at a multiple of the SSCP's time stride and at least
    this many invalid frames lie between the end of one clip's valid frames (rounded up to a
    whole token) and the start of the next. Then no valid token sees another clip, and each
    clip's valid outputs are those of the clip run alone, to rounding. In SSCP tokens the gap
    is the largest of:
    - `context_left - 2`: a token attends to itself and `context_left - 2` earlier tokens;
    - `context_right`: the future tokens it attends to;
    - `conv_kernel_size - 1`: the earlier tokens the light conv reads;
    - the SSCP's reach, `sum((k_t - 1) // 2 * stride so far)` frames, in whole tokens.
    """
    config = RELEASE_ENCODER_CONFIG | config
    sscp_token = math.prod(stride[0] for stride in config["sscp_stride_sizes"])
    reach, stride = 0, 1
    for (kernel, _), (time_stride, _) in zip(config["sscp_kernel_sizes"], config["sscp_stride_sizes"]):
        reach += (kernel - 1) // 2 * stride
        stride *= time_stride
    tokens = max(
        config["context_left"] - 2,
        config["context_right"],
        config["conv_kernel_size"] - 1,
        math.ceil(reach / sscp_token),
    )
    return tokens * sscp_token


def encoder_config_from_hf(config):
    """`Gemma4AudioEncoder` constructor arguments from a Gemma 4 `config.json` dict.

    Raises `ValueError` for checkpoints without an audio tower and for audio configs whose
    numerics this encoder does not reproduce.
    """
    audio = config.get("audio_config")
    if not audio:
        raise ValueError(
            "config.json has no audio_config: only Gemma 4 E2B/E4B checkpoints carry an audio "
            f"tower; got model_type {config.get('model_type')!r}."
        )
    if audio.get("hidden_act", "silu") != "silu":
        raise ValueError(f"Expected audio_config.hidden_act 'silu'; got {audio['hidden_act']!r}.")
    chunk, left, right = (
        audio["attention_chunk_size"],
        audio["attention_context_left"],
        audio["attention_context_right"],
    )
    # HF embeds distances context_size // 2 .. 0; we embed (left - 1) .. -right. They agree
    # when the two ranges coincide, which the released config satisfies (12 .. 0).
    if right != 0 or (chunk + left - 1) // 2 != left - 1:
        raise ValueError(
            "Unsupported attention geometry: chunk_size + context_left - 1 must be "
            "2 * (context_left - 1) with context_right 0 (released: 12, 13, 0); got "
            f"{chunk}, {left}, {right}."
        )
    channels = list(audio["subsampling_conv_channels"])
    return {
        "hidden_size": audio["hidden_size"],
        "num_heads": audio["num_attention_heads"],
        "num_layers": audio["num_hidden_layers"],
        "chunk_size": chunk,
        "context_left": left,
        "context_right": right,
        "logit_cap": audio["attention_logit_cap"],
        "invalid_logit_value": audio["attention_invalid_logits_value"],
        "conv_kernel_size": audio["conv_kernel_size"],
        "residual_weight": audio["residual_weight"],
        "gradient_clipping": audio["gradient_clipping"],
        "sscp_conv_channels": channels,
        "output_proj_dims": audio["output_proj_dims"],
        "output_dim": config["text_config"]["hidden_size"],
        "norm_eps": audio["rms_norm_eps"],
        "sscp_norm_eps": audio["rms_norm_eps"],
    }
