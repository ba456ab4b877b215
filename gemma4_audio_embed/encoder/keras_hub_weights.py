"""Copying weights from a keras-hub `Gemma4AudioEncoder` (e.g. a preset's) into ours."""

from gemma4_audio_embed.encoder.gemma4_audio_encoder import ENCODER_ARGS
from gemma4_audio_embed.encoder.gemma4_audio_encoder import Gemma4AudioEncoder
from gemma4_audio_embed.encoder.weight_map import WeightSource
from gemma4_audio_embed.encoder.weight_map import assign_weights
from gemma4_audio_embed.encoder.weight_map import clip_bound_sources


def _resolve(root, path):
    """Follow a dotted attribute path; integer parts index lists."""
    obj = root
    for part in path.split("."):
        try:
            obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
        except (AttributeError, IndexError):
            raise KeyError(path) from None
    return obj


def _squeeze_depthwise(array):
    """keras-hub DepthwiseConv1D `[K, D, 1]` -> our `[K, D]`."""
    return array[..., 0]


def _clippable(prefix, layer):
    return [WeightSource(prefix + "dense.kernel", layer.kernel)] + clip_bound_sources(prefix, layer)


def keras_hub_weight_map(model):
    """`WeightSource`s from keras-hub attribute paths to the variables of a built `model`."""
    sub = model.subsample
    sources = []
    for i, (conv, norm) in enumerate(zip(sub.convs, sub.norms)):
        prefix = f"subsample_conv_projection.conv_{i}."
        sources += [
            WeightSource(prefix + "conv.kernel", conv.kernel),
            WeightSource(prefix + "norm.gamma", norm.gamma),
        ]
    sources.append(WeightSource("subsample_conv_projection.input_proj.kernel", sub.input_proj.kernel))
    for i, block in enumerate(model.conformer_blocks):
        p = f"conformer_blocks.{i}."
        for name, ffw in (("ffw_start", block.ffw_start), ("ffw_end", block.ffw_end)):
            sources += [
                WeightSource(f"{p}{name}.pre_norm.scale", ffw.pre_norm.scale),
                *_clippable(f"{p}{name}.ffw_1.", ffw.ffw_1),
                *_clippable(f"{p}{name}.ffw_2.", ffw.ffw_2),
                WeightSource(f"{p}{name}.post_norm.scale", ffw.post_norm.scale),
            ]
        attn, lconv = block.attention, block.lconv
        sources += [
            WeightSource(f"{p}attention.pre_attn_norm.scale", block.pre_attn_norm.scale),
            *_clippable(f"{p}attention.attn.q_proj.", attn.q_proj),
            *_clippable(f"{p}attention.attn.k_proj.", attn.k_proj),
            *_clippable(f"{p}attention.attn.v_proj.", attn.v_proj),
            WeightSource(f"{p}attention.attn.per_dim_scale", attn.per_dim_scale),
            WeightSource(f"{p}attention.attn.rpe.pos_proj", attn.relative_k_proj.kernel),
            *_clippable(f"{p}attention.out_proj.", attn.post),
            WeightSource(f"{p}attention.post_norm.scale", block.post_attn_norm.scale),
            WeightSource(f"{p}lconv.pre_norm.scale", lconv.pre_norm.scale),
            *_clippable(f"{p}lconv.linear_start.", lconv.linear_start),
            WeightSource(f"{p}lconv.depthwise_conv.kernel", lconv.depthwise_kernel, _squeeze_depthwise),
            WeightSource(f"{p}lconv.conv_norm.scale", lconv.conv_norm.scale),
            *_clippable(f"{p}lconv.linear_end.", lconv.linear_end),
            WeightSource(f"{p}norm.scale", block.norm_out.scale),
        ]
    return sources + [
        WeightSource("output_proj.kernel", model.output_proj.kernel),
        WeightSource("output_proj.bias", model.output_proj.bias),
        WeightSource("audio_output_projection.kernel", model.audio_output_projection.kernel),
    ]


def from_keras_hub(kh_encoder, dtype=None) -> Gemma4AudioEncoder:
    """A `Gemma4AudioEncoder` with the weights of a keras-hub `Gemma4AudioEncoder`.

    Args:
        kh_encoder: a built `keras_hub.models.Gemma4AudioEncoder`, e.g.
            `keras_hub.models.Gemma4Backbone.from_preset(...).audio_encoder`.
        dtype: dtype policy of the returned model. Defaults to the keras-hub encoder's.

    Returns:
        A built `Gemma4AudioEncoder` with the same configuration and weights, clip bounds
        included.

    Raises:
        ValueError: naming the attribute path of a missing or mis-shaped weight.
    """
    kh_config = kh_encoder.get_config()
    config = {key: kh_config[key] for key in ENCODER_ARGS}  # keras-hub uses the same names
    model = Gemma4AudioEncoder(**config, dtype=dtype or kh_encoder.dtype_policy.name)
    model.build()

    def read(path):
        return _resolve(kh_encoder, path).numpy()

    assign_weights(keras_hub_weight_map(model), read, "keras-hub encoder")
    return model
