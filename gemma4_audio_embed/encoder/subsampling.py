"""The SSCP: two strided 2-D convolutions that turn mel frames into encoder tokens.

Axis legend: B batch, M mel frames, F mel bins, T tokens (T = ceil(M / 4) for the release),
C conv channels, D hidden size.
"""

import math

import keras

from gemma4_audio_embed.encoder.layer_config import config_entries
from gemma4_audio_embed.encoder.matmul import AccumulatedDense
from gemma4_audio_embed.encoder.normalization import ChannelLayerNorm

SUBSAMPLE_ARGS = (
    "input_feat_size",
    "hidden_size",
    "conv_channels",
    "kernel_sizes",
    "stride_sizes",
    "norm_eps",
)


def _time_mask(mask, dtype):
    """bool [B, M] -> [B, M, 1, 1] in `dtype`, to zero invalid rows of an NHWC map."""
    return keras.ops.cast(mask, dtype)[:, :, None, None]


class SubSampleConvProjection(keras.layers.Layer):
    """Stacked (mask, Conv2D, channel LayerNorm, ReLU) stages, then a linear projection.

    Each stage zeroes invalid time rows, applies a bias-free Conv2D with symmetric zero padding
    of `(kernel - 1) // 2` on time and frequency, a bias-free LayerNorm over channels, a ReLU,
    and keeps every `stride`-th mask entry. The map is then flattened frequency-major,
    channel-minor (feature index `f * C + c`) and projected to `hidden_size` without bias.

    Args:
        input_feat_size: int. Mel bins `F`.
        hidden_size: int. Output width `D`.
        conv_channels: tuple of ints. Output channels of each stage.
        kernel_sizes: tuple of (time, freq) odd ints, one per stage.
        stride_sizes: tuple of (time, freq) ints, one per stage.
        norm_eps: float. LayerNorm epsilon.

    Call arguments:
        features: float `[B, M, F]`.
        mask: bool `[B, M]`, True = valid.

    Returns:
        `(tokens [B, T, D], token_mask bool [B, T])`, with `T = ceil(M / prod(time strides))`.
    """

    def __init__(
        self,
        *,
        input_feat_size,
        hidden_size,
        conv_channels,
        kernel_sizes,
        stride_sizes,
        norm_eps,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not len(conv_channels) == len(kernel_sizes) == len(stride_sizes):
            raise ValueError(
                "sscp_conv_channels, sscp_kernel_sizes and sscp_stride_sizes must have one entry "
                f"per stage; got {len(conv_channels)}, {len(kernel_sizes)} and "
                f"{len(stride_sizes)} entries."
            )
        for kernel in kernel_sizes:
            if any(k % 2 == 0 for k in kernel):
                raise ValueError(f"sscp_kernel_sizes must be odd, got {tuple(kernel)}.")
        self.input_feat_size = input_feat_size
        self.hidden_size = hidden_size
        self.conv_channels = tuple(conv_channels)
        self.kernel_sizes = tuple(tuple(k) for k in kernel_sizes)
        self.stride_sizes = tuple(tuple(s) for s in stride_sizes)
        self.norm_eps = norm_eps
        self.convs = [
            keras.layers.Conv2D(
                channels,
                kernel,
                strides=stride,
                padding="valid",
                use_bias=False,
                dtype=self.dtype_policy,
                name=f"conv_{i}",
            )
            for i, (channels, kernel, stride) in enumerate(
                zip(self.conv_channels, self.kernel_sizes, self.stride_sizes)
            )
        ]
        self.norms = [
            ChannelLayerNorm(norm_eps, dtype=self.dtype_policy, name=f"norm_{i}")
            for i in range(len(self.conv_channels))
        ]
        self.input_proj = AccumulatedDense(hidden_size, use_bias=False, dtype=self.dtype_policy, name="input_proj")

    @property
    def output_freq_size(self):
        """Frequency bins left after the stages: 128 -> 64 -> 32 for the release."""
        freq = self.input_feat_size
        for _, freq_stride in self.stride_sizes:
            freq = math.ceil(freq / freq_stride)
        return freq

    def build(self, input_shape=None):
        channels, freq = 1, self.input_feat_size
        for conv, norm, (_, freq_stride) in zip(self.convs, self.norms, self.stride_sizes):
            conv.build((None, None, freq + 2, channels))
            channels, freq = conv.filters, math.ceil(freq / freq_stride)
            norm.build((None, None, freq, channels))
        self.input_proj.build((None, None, self.output_freq_size * self.conv_channels[-1]))

    def call(self, features, mask):
        x = features[..., None]  # [B, M, F, 1]
        for conv, norm, kernel, (time_stride, _) in zip(self.convs, self.norms, self.kernel_sizes, self.stride_sizes):
            x = x * _time_mask(mask, x.dtype)
            pad_t, pad_f = (kernel[0] - 1) // 2, (kernel[1] - 1) // 2
            x = keras.ops.pad(x, [[0, 0], [pad_t, pad_t], [pad_f, pad_f], [0, 0]])
            x = keras.ops.relu(norm(conv(x)))  # [B, ceil(M/s), ceil(F/s), C]
            mask = mask[:, ::time_stride]  # [B, ceil(M/s)]
        batch, tokens, freq, channels = keras.ops.shape(x)
        x = keras.ops.reshape(x, (batch, tokens, freq * channels))  # [B, T, F' * C], f-major
        return self.input_proj(x), mask  # [B, T, D], [B, T]

    def get_config(self):
        return {**super().get_config(), **config_entries(self, SUBSAMPLE_ARGS)}
