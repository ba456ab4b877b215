"""Loading a Hugging Face Gemma 4 checkpoint folder into a `Gemma4AudioEncoder`.

Reads `config.json` and only the audio tensors (`model.audio_tower.*` and the audio embedder's
projection) from the safetensors files; the language and vision weights are never read.
`hf_layout.check_hf_checkpoint` makes the same checks from the headers alone, without Keras,
for launch-time checks.
"""

import keras

from gemma4_audio_embed.encoder.config import encoder_config_from_hf
from gemma4_audio_embed.encoder.gemma4_audio_encoder import Gemma4AudioEncoder
from gemma4_audio_embed.encoder.hf_layout import AUDIO_TOWER
from gemma4_audio_embed.encoder.hf_layout import EMBEDDER_PROJECTION
from gemma4_audio_embed.encoder.hf_layout import read_config
from gemma4_audio_embed.encoder.safetensors_file import CheckpointTensors
from gemma4_audio_embed.encoder.safetensors_file import local_opener
from gemma4_audio_embed.encoder.weight_map import WeightSource
from gemma4_audio_embed.encoder.weight_map import assign_weights
from gemma4_audio_embed.encoder.weight_map import clip_bound_sources
from gemma4_audio_embed.encoder.weight_map import transpose


def conv2d_kernel(array):
    """PyTorch Conv2d `[out, in, kt, kf]` -> Keras Conv2D `[kt, kf, in, out]`."""
    return array.transpose(2, 3, 1, 0)


def depthwise_kernel(array):
    """PyTorch depthwise Conv1d `[D, 1, K]` -> our `[K, D]`."""
    return array[:, 0, :].T


def _clippable(prefix, layer, use_clip):
    sources = [WeightSource(prefix + "linear.weight", layer.kernel, transpose)]
    return sources + (clip_bound_sources(prefix, layer) if use_clip else [])


def hf_weight_map(model, use_clipped_linears=True):
    """`WeightSource`s from HF checkpoint keys to the variables of a built `model`."""
    a = AUDIO_TOWER
    sub = model.subsample
    sources = []
    for i, (conv, norm) in enumerate(zip(sub.convs, sub.norms)):
        sources += [
            WeightSource(f"{a}subsample_conv_projection.layer{i}.conv.weight", conv.kernel, conv2d_kernel),
            WeightSource(f"{a}subsample_conv_projection.layer{i}.norm.weight", norm.gamma),
        ]
    sources.append(
        WeightSource(f"{a}subsample_conv_projection.input_proj_linear.weight", sub.input_proj.kernel, transpose)
    )
    for i, block in enumerate(model.conformer_blocks):
        p = f"{a}layers.{i}."
        for hf_name, ffw in (("feed_forward1", block.ffw_start), ("feed_forward2", block.ffw_end)):
            sources += [
                WeightSource(f"{p}{hf_name}.pre_layer_norm.weight", ffw.pre_norm.scale),
                *_clippable(f"{p}{hf_name}.ffw_layer_1.", ffw.ffw_1, use_clipped_linears),
                *_clippable(f"{p}{hf_name}.ffw_layer_2.", ffw.ffw_2, use_clipped_linears),
                WeightSource(f"{p}{hf_name}.post_layer_norm.weight", ffw.post_norm.scale),
            ]
        attn, lconv = block.attention, block.lconv
        sources += [
            WeightSource(f"{p}norm_pre_attn.weight", block.pre_attn_norm.scale),
            *_clippable(f"{p}self_attn.q_proj.", attn.q_proj, use_clipped_linears),
            *_clippable(f"{p}self_attn.k_proj.", attn.k_proj, use_clipped_linears),
            *_clippable(f"{p}self_attn.v_proj.", attn.v_proj, use_clipped_linears),
            WeightSource(f"{p}self_attn.per_dim_scale", attn.per_dim_scale),
            WeightSource(f"{p}self_attn.relative_k_proj.weight", attn.relative_k_proj.kernel, transpose),
            *_clippable(f"{p}self_attn.post.", attn.post, use_clipped_linears),
            WeightSource(f"{p}norm_post_attn.weight", block.post_attn_norm.scale),
            WeightSource(f"{p}lconv1d.pre_layer_norm.weight", lconv.pre_norm.scale),
            *_clippable(f"{p}lconv1d.linear_start.", lconv.linear_start, use_clipped_linears),
            WeightSource(f"{p}lconv1d.depthwise_conv1d.weight", lconv.depthwise_kernel, depthwise_kernel),
            WeightSource(f"{p}lconv1d.conv_norm.weight", lconv.conv_norm.scale),
            *_clippable(f"{p}lconv1d.linear_end.", lconv.linear_end, use_clipped_linears),
            WeightSource(f"{p}norm_out.weight", block.norm_out.scale),
        ]
    return sources + [
        WeightSource(f"{a}output_proj.weight", model.output_proj.kernel, transpose),
        WeightSource(f"{a}output_proj.bias", model.output_proj.bias),
        WeightSource(EMBEDDER_PROJECTION, model.audio_output_projection.kernel, transpose),
    ]


def shape_only_encoder(dtype=None, **config) -> Gemma4AudioEncoder:
    """A built `Gemma4AudioEncoder` whose variables have shapes and paths but no values.

    Built in a `keras.StatelessScope` that leaves variables uninitialized, so checking a
    checkpoint against the E2B-size encoder allocates nothing (a real build of it takes 1.2 GB
    and seconds), and a loader gives each variable its value once (`weight_map.set_value`)
    instead of overwriting a random initialisation. The variables are taken off Keras' list of
    deferred initializations, which the next stateless scope would otherwise initialize.
    """
    from keras.src.backend.common import global_state  # the list has no public accessor

    pending = list(global_state.get_global_attribute("uninitialized_variables", []))
    with keras.StatelessScope(initialize_variables=False):
        model = Gemma4AudioEncoder(**config, dtype=dtype)
        model.build()
    global_state.set_global_attribute("uninitialized_variables", pending)
    return model


def initialize_unset(model: Gemma4AudioEncoder) -> None:
    """Gives each variable a loader left without a value its initializer's value, as a normal
    build would have (e.g. the clip bounds of a checkpoint without clipped linears)."""
    for variable in model.variables:
        if variable._value is None:  # see weight_map.set_value
            variable._deferred_initialize()


def _audio_weight_map(path, config, model, tensors):
    """The weight map of `model`, after checking the checkpoint has no audio tensor it lacks."""
    use_clip = config["audio_config"].get("use_clipped_linears", True)
    weight_map = hf_weight_map(model, use_clipped_linears=use_clip)
    expected = {source.name for source in weight_map}
    unexpected = sorted(name for name in tensors.names() if name.startswith(AUDIO_TOWER) and name not in expected)
    if unexpected:
        raise ValueError(
            f"Checkpoint {path!r} has audio-tower tensors the encoder does not know: "
            f"{unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}."
        )
    return weight_map


def load_hf_checkpoint(path: str, dtype: str = "float32") -> Gemma4AudioEncoder:
    """Build a `Gemma4AudioEncoder` from a Hugging Face Gemma 4 (E2B/E4B) checkpoint folder.

    Args:
        path: str. Folder with `config.json` and `model.safetensors` or a sharded
            `model.safetensors.index.json`; of the shards, only those holding audio tensors
            need be present.
        dtype: str. Dtype policy of the returned model (`"float32"`, `"bfloat16"`,
            `"mixed_bfloat16"`). Defaults to `"float32"`.

    Returns:
        A built `Gemma4AudioEncoder` holding the checkpoint's audio tower, clip bounds and
        audio embedder projection.

    Raises:
        ValueError: naming the tensor, when one is missing, unexpected under
            `model.audio_tower.`, of the wrong shape or not floating point.
    """
    config = read_config(path, local_opener(path))
    model = shape_only_encoder(**encoder_config_from_hf(config), dtype=dtype)
    tensors = CheckpointTensors(path)
    available = set(tensors.names())

    def read(name):
        if name not in available:
            raise KeyError(name)
        return tensors.read(name)

    assign_weights(_audio_weight_map(path, config, model, tensors), read, f"Checkpoint {path!r}")
    initialize_unset(model)
    return model
