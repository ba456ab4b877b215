"""A Hugging Face Gemma 4 checkpoint's audio tensors as plain data: their names and stored shapes, and the header check.

`hf_audio_shapes` lists every tensor the encoder reads from a checkpoint, with its shape as
stored (PyTorch layout), computed from the encoder configuration alone; a test keeps it equal
to the weight map of a built encoder (`hf_checkpoint.hf_weight_map`). `check_hf_checkpoint`
checks a checkpoint against it from `config.json` and the safetensors headers, so a launcher
checks a model source without importing Keras or a backend.
"""

import json
import math

from gemma4_audio_embed.encoder.config import RELEASE_ENCODER_CONFIG
from gemma4_audio_embed.encoder.config import encoder_config_from_hf
from gemma4_audio_embed.encoder.safetensors_file import FLOAT_DTYPES
from gemma4_audio_embed.encoder.safetensors_file import CheckpointTensors
from gemma4_audio_embed.encoder.safetensors_file import local_opener
from gemma4_audio_embed.encoder.safetensors_file import numpy_dtype

AUDIO_TOWER = "model.audio_tower."
EMBEDDER_PROJECTION = "model.embed_audio.embedding_projection.weight"
CLIP_BOUNDS = ("input_min", "input_max", "output_min", "output_max")  # clippable_dense.CLIP_BOUND_NAMES


def is_audio_tensor(name: str) -> bool:
    """Whether checkpoint tensor `name` is one the encoder reads (audio tower or embedder projection)."""
    return name.startswith(AUDIO_TOWER) or name == EMBEDDER_PROJECTION


def _linear(prefix: str, outputs: int, inputs: int, use_clip: bool) -> dict:
    shapes = {f"{prefix}linear.weight": (outputs, inputs)}  # PyTorch Linear: [out, in]
    return shapes | ({f"{prefix}{bound}": () for bound in CLIP_BOUNDS} if use_clip else {})


def hf_audio_shapes(encoder_config: dict, use_clipped_linears: bool = True) -> dict[str, tuple]:
    """`{checkpoint tensor name: shape as stored}` of every tensor the encoder reads, in load order.

    Args:
        encoder_config: dict. `Gemma4AudioEncoder` arguments (`encoder_config_from_hf`); the
            release's for any missing.
        use_clipped_linears: bool. The checkpoint's `audio_config.use_clipped_linears`: whether
            each clippable linear has its four scalar clip bounds. Defaults to True.
    """
    config = RELEASE_ENCODER_CONFIG | encoder_config
    hidden, heads = config["hidden_size"], config["num_heads"]
    a = AUDIO_TOWER
    shapes = {}
    channels, freq = 1, config["input_feat_size"]
    for i, (out, kernel, stride) in enumerate(
        zip(config["sscp_conv_channels"], config["sscp_kernel_sizes"], config["sscp_stride_sizes"])
    ):
        shapes[f"{a}subsample_conv_projection.layer{i}.conv.weight"] = (out, channels, *kernel)  # [out, in, kt, kf]
        shapes[f"{a}subsample_conv_projection.layer{i}.norm.weight"] = (out,)
        channels, freq = out, math.ceil(freq / stride[1])
    shapes[f"{a}subsample_conv_projection.input_proj_linear.weight"] = (hidden, channels * freq)
    for i in range(config["num_layers"]):
        p = f"{a}layers.{i}."
        for block in ("feed_forward1", "feed_forward2"):
            shapes[f"{p}{block}.pre_layer_norm.weight"] = (hidden,)
            shapes |= _linear(f"{p}{block}.ffw_layer_1.", 4 * hidden, hidden, use_clipped_linears)
            shapes |= _linear(f"{p}{block}.ffw_layer_2.", hidden, 4 * hidden, use_clipped_linears)
            shapes[f"{p}{block}.post_layer_norm.weight"] = (hidden,)
        shapes[f"{p}norm_pre_attn.weight"] = (hidden,)
        for projection in ("q_proj", "k_proj", "v_proj"):
            shapes |= _linear(f"{p}self_attn.{projection}.", hidden, hidden, use_clipped_linears)
        shapes[f"{p}self_attn.per_dim_scale"] = (hidden // heads,)
        shapes[f"{p}self_attn.relative_k_proj.weight"] = (hidden, hidden)
        shapes |= _linear(f"{p}self_attn.post.", hidden, hidden, use_clipped_linears)
        shapes[f"{p}norm_post_attn.weight"] = (hidden,)
        shapes[f"{p}lconv1d.pre_layer_norm.weight"] = (hidden,)
        shapes |= _linear(f"{p}lconv1d.linear_start.", 2 * hidden, hidden, use_clipped_linears)
        shapes[f"{p}lconv1d.depthwise_conv1d.weight"] = (hidden, 1, config["conv_kernel_size"])  # [D, 1, K]
        shapes[f"{p}lconv1d.conv_norm.weight"] = (hidden,)
        shapes |= _linear(f"{p}lconv1d.linear_end.", hidden, hidden, use_clipped_linears)
        shapes[f"{p}norm_out.weight"] = (hidden,)
    shapes[f"{a}output_proj.weight"] = (config["output_proj_dims"], hidden)
    shapes[f"{a}output_proj.bias"] = (config["output_proj_dims"],)
    shapes[EMBEDDER_PROJECTION] = (config["output_dim"], config["output_proj_dims"])
    return shapes


def read_config(path: str, open_file) -> dict:
    """The checkpoint's `config.json`; FileNotFoundError naming the folder when it has none."""
    try:
        with open_file("config.json") as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"Expected config.json in {path!r}; found none.") from None


def check_hf_checkpoint(path: str, open_file=None) -> dict:
    """Checks a checkpoint as `load_hf_checkpoint` would, from its headers, reading no tensor; no Keras.

    Reads `config.json`, the index and the safetensors headers of the shards holding audio
    tensors; every tensor the encoder needs must be there, floating point, with the shape the
    configured encoder expects (`hf_audio_shapes`), and no other under `model.audio_tower.`.

    Args:
        path: str. The checkpoint folder, as named in errors.
        open_file: callable or None. `open_file(name)` opens the folder's file `name` for binary
            reading (`CheckpointTensors`). Defaults to local files under `path`.

    Returns:
        The encoder's constructor arguments (`encoder_config_from_hf`).

    Raises:
        ValueError: naming the missing, unexpected, mis-shaped or non-float tensor, or the
            config's problem. FileNotFoundError: no `config.json` or safetensors files.
    """
    open_file = open_file or local_opener(path)
    config = read_config(path, open_file)
    encoder_config = encoder_config_from_hf(config)
    expected = hf_audio_shapes(encoder_config, config["audio_config"].get("use_clipped_linears", True))
    tensors = CheckpointTensors(path, open_file)
    available = set(tensors.names())
    label = f"Checkpoint {path!r}"
    unexpected = sorted(name for name in available if name.startswith(AUDIO_TOWER) and name not in expected)
    if unexpected:
        raise ValueError(
            f"{label} has audio-tower tensors the encoder does not know: "
            f"{unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}."
        )
    for name, shape in expected.items():
        if name not in available:
            raise ValueError(f"{label} is missing tensor {name!r}.")
        if tensors.dtype(name) not in FLOAT_DTYPES:
            raise ValueError(
                f"{label} tensor {name!r} must be floating point; got dtype {_numpy_name(tensors.dtype(name))}."
            )
        if tensors.shape(name) != shape:
            raise ValueError(
                f"{label} tensor {name!r} has shape {tensors.shape(name)} as stored; the encoder expects {shape}."
            )
    return encoder_config


def _numpy_name(safetensors_dtype: str) -> str:
    """`int32` for `I32`, as the loader's errors name dtypes."""
    try:
        return str(numpy_dtype(safetensors_dtype))
    except ValueError:
        return safetensors_dtype
