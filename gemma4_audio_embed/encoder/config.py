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

# Inclusive bounds of each integer size a configuration may give, far beyond any released Gemma:
# a config.json is checked against them before anything is built (`checked_encoder_config`).
ENCODER_SIZE_BOUNDS = {
    "input_feat_size": (1, 1024),
    "hidden_size": (1, 8192),
    "num_heads": (1, 128),
    "num_layers": (1, 128),
    "chunk_size": (1, 1024),
    "context_left": (1, 1024),
    "context_right": (0, 1024),
    "conv_kernel_size": (1, 256),
    "reduction_factor": (1, 16),
    "output_proj_dims": (1, 16384),
    "output_dim": (1, 65536),
}
MAX_ENCODER_PARAMETERS = 2_000_000_000  # about 7x the release's 307 M: 8 GB of float32
_FLOAT_ARGS = ("logit_cap", "invalid_logit_value", "residual_weight", "gradient_clipping", "norm_eps", "sscp_norm_eps")

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
    """Invalid mel frames that must separate two clips packed into one row (16 for the release).

    Clips may share a row when each starts at a multiple of the SSCP's time stride, the mask
    numbers each clip's frames (int32 clip numbers, so attention keeps to each clip whatever
    its reach) and at least this many invalid frames lie between the end of one clip's valid
    frames (rounded up to a whole token) and the start of the next. Then no valid token sees
    another clip, and each clip's valid outputs are those of the clip run alone, to rounding.
    The gap covers the convolutions, which the clip numbers do not reach; in SSCP tokens it is
    the larger of:
    - `conv_kernel_size - 1`: the earlier tokens the light conv reads (it reads invalid ones as 0);
    - the SSCP's reach, `sum((k_t - 1) // 2 * stride so far)` frames, in whole tokens.
    """
    config = RELEASE_ENCODER_CONFIG | config
    sscp_token = math.prod(stride[0] for stride in config["sscp_stride_sizes"])
    reach, stride = 0, 1
    for (kernel, _), (time_stride, _) in zip(config["sscp_kernel_sizes"], config["sscp_stride_sizes"]):
        reach += (kernel - 1) // 2 * stride
        stride *= time_stride
    tokens = max(config["conv_kernel_size"] - 1, math.ceil(reach / sscp_token))
    return tokens * sscp_token


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def checked_encoder_config(config: dict) -> dict:
    """Returns `config` (`Gemma4AudioEncoder` arguments; missing ones are the release's) once every
    size is an int within `ENCODER_SIZE_BOUNDS`, the SSCP lists are short lists of small ints,
    every float argument is a finite number, and the parameters number at most `MAX_ENCODER_PARAMETERS`.

    What a hostile `config.json` could ask for (a billion layers, a hidden size of 1e9) is refused
    here, before any model is built. Raises ValueError naming the argument.
    """
    for name, (low, high) in ENCODER_SIZE_BOUNDS.items():
        value = config.get(name, RELEASE_ENCODER_CONFIG[name])
        if not _is_int(value) or not low <= value <= high:
            raise ValueError(f"Encoder config `{name}` must be an int in [{low}, {high}]. Received: {value!r}")
    for name in _FLOAT_ARGS:
        value = config.get(name, RELEASE_ENCODER_CONFIG[name])
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"Encoder config `{name}` must be a finite number. Received: {value!r}")
    full = RELEASE_ENCODER_CONFIG | config
    channels = full["sscp_conv_channels"]
    if not (isinstance(channels, (list, tuple)) and 1 <= len(channels) <= 8):
        raise ValueError(f"Encoder config `sscp_conv_channels` must list 1 to 8 sizes. Received: {channels!r}")
    if not all(_is_int(size) and 1 <= size <= 4096 for size in channels):
        raise ValueError(f"Encoder config `sscp_conv_channels` must be ints in [1, 4096]. Received: {channels!r}")
    for name in ("sscp_kernel_sizes", "sscp_stride_sizes"):
        pairs = full[name]
        if not (
            isinstance(pairs, (list, tuple))
            and len(pairs) == len(channels)
            and all(isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in pairs)
            and all(_is_int(size) and 1 <= size <= 64 for pair in pairs for size in pair)
        ):
            raise ValueError(
                f"Encoder config `{name}` must give one pair of ints in [1, 64] per SSCP layer. Received: {pairs!r}"
            )
    if full["hidden_size"] % full["num_heads"]:
        raise ValueError(
            f"Encoder config `hidden_size` ({full['hidden_size']}) must be a multiple of `num_heads` ({full['num_heads']})."
        )
    hidden = full["hidden_size"]
    # Per block: two feed-forwards of 2 x 4h^2, five attention projections, the light conv's two: ~ 22 h^2.
    parameters = full["num_layers"] * 22 * hidden * hidden + hidden * full["output_proj_dims"]
    parameters += full["output_proj_dims"] * full["output_dim"]
    if parameters > MAX_ENCODER_PARAMETERS:
        raise ValueError(
            f"Encoder config asks for about {parameters:.3g} parameters (hidden_size {hidden}, num_layers "
            f"{full['num_layers']}), over the bound of {MAX_ENCODER_PARAMETERS:.3g}."
        )
    return config


def encoder_config_from_hf(config):
    """`Gemma4AudioEncoder` constructor arguments from a Gemma 4 `config.json` dict.

    Raises `ValueError` for checkpoints without an audio tower, for audio configs whose
    numerics this encoder does not reproduce, and for sizes out of bounds (`checked_encoder_config`).
    """
    if not isinstance(config, dict):
        raise ValueError(f"config.json must hold a JSON object. Received: a {type(config).__name__}")
    audio = config.get("audio_config")
    if not isinstance(audio, dict) or not audio:
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
    channels = audio["subsampling_conv_channels"]
    channels = list(channels) if isinstance(channels, (list, tuple)) else channels
    return checked_encoder_config(
        {
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
    )
