"""The conformer block of the Gemma 4 audio encoder and its feed-forward and conv modules.

Axis legend: B batch, T tokens, D hidden size, K depthwise kernel size.
"""

import keras

from gemma4_audio_embed.encoder.attention import ATTENTION_ARGS
from gemma4_audio_embed.encoder.attention import ChunkedLocalAttention
from gemma4_audio_embed.encoder.clippable_dense import ClippableDense
from gemma4_audio_embed.encoder.layer_config import config_entries
from gemma4_audio_embed.encoder.normalization import RMSNorm

FEED_FORWARD_ARGS = ("hidden_size", "residual_weight", "gradient_clipping", "norm_eps")
LIGHT_CONV_ARGS = ("hidden_size", "kernel_size", "gradient_clipping", "norm_eps")
BLOCK_ARGS = ATTENTION_ARGS + ("conv_kernel_size", "residual_weight", "gradient_clipping", "norm_eps")


def symmetric_clip(x, bound):
    """Clamp to [-bound, bound]: the released model's `gradient_clipping` guard."""
    return keras.ops.clip(x, -bound, bound)


class FeedForward(keras.layers.Layer):
    """Macaron half-step feed-forward: `x + residual_weight * post_norm(W2 silu(W1 pre_norm(x)))`.

    Both norms see their input clamped to `±gradient_clipping`; the inner width is `4 * D`.

    Args:
        hidden_size: int. `D`.
        residual_weight: float. Weight of the branch. Defaults to `0.5`.
        gradient_clipping: float. Clamp bound before each norm.
        norm_eps: float. RMSNorm epsilon.

    Call arguments:
        x: float `[B, T, D]`.

    Returns:
        `[B, T, D]`.
    """

    def __init__(self, *, hidden_size, residual_weight, gradient_clipping, norm_eps, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.residual_weight = residual_weight
        self.gradient_clipping = gradient_clipping
        self.norm_eps = norm_eps
        policy = self.dtype_policy
        self.pre_norm = RMSNorm(norm_eps, dtype=policy, name="pre_norm")
        self.ffw_1 = ClippableDense(4 * hidden_size, dtype=policy, name="ffw_1")
        self.ffw_2 = ClippableDense(hidden_size, dtype=policy, name="ffw_2")
        self.post_norm = RMSNorm(norm_eps, dtype=policy, name="post_norm")

    def build(self, input_shape):
        self.pre_norm.build((None, None, self.hidden_size))
        self.ffw_1.build((None, None, self.hidden_size))
        self.ffw_2.build((None, None, 4 * self.hidden_size))
        self.post_norm.build((None, None, self.hidden_size))

    def call(self, x):
        h = self.pre_norm(symmetric_clip(x, self.gradient_clipping))
        h = self.ffw_2(keras.ops.silu(self.ffw_1(h)))  # [B, T, 4D] -> [B, T, D]
        h = self.post_norm(symmetric_clip(h, self.gradient_clipping))
        return x + self.residual_weight * h

    def get_config(self):
        return {**super().get_config(), **config_entries(self, FEED_FORWARD_ARGS)}


class LightConv1D(keras.layers.Layer):
    """Light convolution: norm, GLU, causal depthwise conv, norm, SiLU, linear, residual.

    `linear_start` maps D -> 2D; its first D outputs are the GLU value, the last D the gate.
    The depthwise conv is causal: `out[t, d] = sum_j kernel[j, d] * h[t - K + 1 + j, d]` with
    zeros before the start, so `kernel[K - 1]` multiplies the current token. No clamp precedes
    the first norm; the conv output is clamped to `±gradient_clipping` before `conv_norm`.
    With a mask, the GLU output of invalid tokens is zeroed before the conv, so a valid token
    never sees an invalid one: for a clip padded after its end this changes no valid output
    (the conv is causal), and clips packed into one row with `K - 1` invalid tokens between
    them cannot see each other. The GLU and the conv compute in float32 under any policy, like
    the norms: in bfloat16 this skips XLA's slow bfloat16 element-wise code on a CPU.

    Args:
        hidden_size: int. `D`.
        kernel_size: int. `K`.
        gradient_clipping: float. Clamp bound before `conv_norm`.
        norm_eps: float. RMSNorm epsilon.

    Call arguments:
        x: float `[B, T, D]`.
        mask: optional bool `[B, T]`, True = valid token. Defaults to all valid.

    Returns:
        `[B, T, D]`.
    """

    def __init__(self, *, hidden_size, kernel_size, gradient_clipping, norm_eps, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.kernel_size = kernel_size
        self.gradient_clipping = gradient_clipping
        self.norm_eps = norm_eps
        policy = self.dtype_policy
        self.pre_norm = RMSNorm(norm_eps, dtype=policy, name="pre_norm")
        self.linear_start = ClippableDense(2 * hidden_size, dtype=policy, name="linear_start")
        self.conv_norm = RMSNorm(norm_eps, dtype=policy, name="conv_norm")
        self.linear_end = ClippableDense(hidden_size, dtype=policy, name="linear_end")

    def build(self, input_shape):
        for layer in (self.pre_norm, self.linear_start, self.conv_norm, self.linear_end):
            layer.build((None, None, self.hidden_size))
        self.depthwise_kernel = self.add_weight(
            shape=(self.kernel_size, self.hidden_size),
            initializer="glorot_uniform",
            name="depthwise_kernel",
        )

    def call(self, x, mask=None):
        tokens = keras.ops.shape(x)[1]
        h = keras.ops.cast(self.linear_start(self.pre_norm(x)), "float32")  # [B, T, 2D]
        h = h[..., : self.hidden_size] * keras.ops.sigmoid(h[..., self.hidden_size :])  # [B, T, D]
        if mask is not None:
            h = h * keras.ops.cast(mask, h.dtype)[..., None]
        padded = keras.ops.pad(h, [[0, 0], [self.kernel_size - 1, 0], [0, 0]])  # [B, T+K-1, D]
        kernel = keras.ops.cast(self.depthwise_kernel, h.dtype)
        h = sum(padded[:, j : j + tokens] * kernel[j] for j in range(self.kernel_size))
        h = self.conv_norm(symmetric_clip(h, self.gradient_clipping))
        return x + self.linear_end(keras.ops.silu(h))

    def get_config(self):
        return {**super().get_config(), **config_entries(self, LIGHT_CONV_ARGS)}


class ConformerBlock(keras.layers.Layer):
    """One Gemma 4 conformer block: FFW, attention, light conv, FFW, then an output norm.

    ```
    x = ffw_start(x)
    x = x + post_attn_norm(clip(attention(pre_attn_norm(clip(x)), mask)))
    x = lconv(x)
    x = ffw_end(x)
    x = norm_out(clip(x))
    ```
    `clip` clamps to `±gradient_clipping`. Invalid tokens are not zeroed in the residual stream
    (as in the released model): they never reach a valid token, because attention masks
    invalid keys and the light conv zeroes invalid inputs (the released model leaves padding
    after a clip, which its causal conv cannot see; zeroing also isolates clips packed into one
    row, see `Gemma4AudioEncoder.packing_gap_frames`).

    Args:
        hidden_size, num_heads, chunk_size, context_left, context_right, logit_cap,
        invalid_logit_value: see `ChunkedLocalAttention`.
        conv_kernel_size: int. Light-conv kernel size.
        residual_weight: float. Weight of each feed-forward branch.
        gradient_clipping: float. Clamp bound before norms.
        norm_eps: float. RMSNorm epsilon.

    Call arguments:
        x: float `[B, T, D]`.
        mask: bool `[B, T]`, True = valid token.
        segments: optional int32 `[B, T]`, the clip of each token (`ChunkedLocalAttention`).

    Returns:
        `[B, T, D]`.
    """

    def __init__(
        self,
        *,
        hidden_size,
        num_heads,
        chunk_size,
        context_left,
        context_right,
        logit_cap,
        invalid_logit_value,
        conv_kernel_size,
        residual_weight,
        gradient_clipping,
        norm_eps,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.chunk_size = chunk_size
        self.context_left = context_left
        self.context_right = context_right
        self.logit_cap = logit_cap
        self.invalid_logit_value = invalid_logit_value
        self.conv_kernel_size = conv_kernel_size
        self.residual_weight = residual_weight
        self.gradient_clipping = gradient_clipping
        self.norm_eps = norm_eps
        policy = self.dtype_policy
        ffw_args = config_entries(self, FEED_FORWARD_ARGS)
        self.ffw_start = FeedForward(**ffw_args, dtype=policy, name="ffw_start")
        self.pre_attn_norm = RMSNorm(norm_eps, dtype=policy, name="pre_attn_norm")
        self.attention = ChunkedLocalAttention(**config_entries(self, ATTENTION_ARGS), dtype=policy, name="attention")
        self.post_attn_norm = RMSNorm(norm_eps, dtype=policy, name="post_attn_norm")
        self.lconv = LightConv1D(
            hidden_size=hidden_size,
            kernel_size=conv_kernel_size,
            gradient_clipping=gradient_clipping,
            norm_eps=norm_eps,
            dtype=policy,
            name="lconv",
        )
        self.ffw_end = FeedForward(**ffw_args, dtype=policy, name="ffw_end")
        self.norm_out = RMSNorm(norm_eps, dtype=policy, name="norm_out")

    def build(self, input_shape):
        shape = (None, None, self.hidden_size)
        for layer in (
            self.ffw_start,
            self.pre_attn_norm,
            self.attention,
            self.post_attn_norm,
            self.lconv,
            self.ffw_end,
            self.norm_out,
        ):
            layer.build(shape)

    def call(self, x, mask, segments=None):
        clip = self.gradient_clipping
        x = self.ffw_start(x)
        h = self.attention(self.pre_attn_norm(symmetric_clip(x, clip)), mask, segments)
        x = x + self.post_attn_norm(symmetric_clip(h, clip))
        x = self.ffw_end(self.lconv(x, mask))
        return self.norm_out(symmetric_clip(x, clip))

    def get_config(self):
        return {**super().get_config(), **config_entries(self, BLOCK_ARGS)}
