"""Chunked local self-attention with a relative-position term, computed block-wise.

Axis legend: B batch, T tokens, D hidden size, N heads, H head dim (D = N * H), W chunk (query
block) size, U = ceil(T / W) blocks, P = context_left - 1 past keys, F = context_right future
keys, C = W + P + F keys per block, R = P + F + 1 relative distances.

Every query block u holds tokens [u*W, (u+1)*W) and attends to the C keys at positions
[u*W - P, u*W + W + F). A key is allowed iff it is a valid token and its distance
`q - k` lies in [0, P) (itself and the P - 1 previous tokens; the release: 12 keys) or in
[-F, 0). Distance P gets a position embedding but is always masked, as in the released model.
Memory and time are linear in T: the largest tensor is the `[B, U, N, W, C]` logits.
"""

import math

import keras
import numpy as np

from gemma4_audio_embed.encoder.clippable_dense import ClippableDense
from gemma4_audio_embed.encoder.layer_config import config_entries
from gemma4_audio_embed.encoder.matmul import AccumulatedDense

ATTENTION_ARGS = (
    "hidden_size",
    "num_heads",
    "chunk_size",
    "context_left",
    "context_right",
    "logit_cap",
    "invalid_logit_value",
)

KEY_SCALE = math.log1p(math.e) / math.log(2.0)  # 1.89463612, softplus(1) / ln 2


def relative_position_sinusoids(max_past, max_future, width):
    """Sinusoids for distances max_past, max_past - 1, ..., -max_future.

    Returns float32 `[R, width]`: `sin(d * tau_i)` for i < width/2 then `cos(d * tau_i)`,
    `tau_i = exp(-i * ln(1e4) / (width/2 - 1))` (concatenated, not interleaved).
    """
    half = width // 2
    timescales = np.exp(-np.arange(half) * math.log(1.0e4) / max(half - 1, 1))
    distances = np.arange(max_past, -max_future - 1, -1, dtype=np.float64)
    angles = distances[:, None] * timescales[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=-1).astype("float32")


def block_window_mask(chunk_size, max_past, max_future):
    """bool `[W, C]`, True = query w of a block may see context slot c (before key validity).

    Slot c holds key position `u*W - P + c`, so the distance is `q - k = w + P - c`.
    """
    w = np.arange(chunk_size)[:, None]
    c = np.arange(chunk_size + max_past + max_future)[None, :]
    distance = w + max_past - c
    return ((distance >= 0) & (distance < max_past)) | ((distance < 0) & (-distance <= max_future))


def relative_shift(x, context):
    """Map `[..., W, R]` per-distance scores to `[..., W, C]` slots: out[w, c] = x[w, c - w].

    Entries with `c - w` outside [0, R) are 0. Transformer-XL's pad-flatten-slice trick: pad R
    to C + 1, flatten the last two axes, keep the first W * C values, unflatten.
    """
    *lead, chunk, num_rel = keras.ops.shape(x)
    x = keras.ops.pad(x, [[0, 0]] * len(lead) + [[0, 0], [0, context + 1 - num_rel]])
    x = keras.ops.reshape(x, (*lead, chunk * (context + 1)))[..., : chunk * context]
    return keras.ops.reshape(x, (*lead, chunk, context))  # [..., W, C]


class ChunkedLocalAttention(keras.layers.Layer):
    """Gemma 4 audio self-attention: local, causal, soft-capped, with relative positions.

    1. q, k, v = clip-linear projections, cast to float32 and split into heads.
    2. q *= H^-0.5 / ln 2 * softplus(per_dim_scale); k *= softplus(1) / ln 2 (a constant).
    3. Blocks of W queries meet C keys; logits = q.k + q.rel_k(distance), where rel_k is a
       bias-free projection of sinusoids (not multiplied by the key scale).
    4. logits = logit_cap * tanh(logits / logit_cap); disallowed slots get
       `invalid_logit_value` after the cap; float32 softmax over the C slots.
    5. Context = probs @ v, merged heads, cast to the compute dtype, clip-linear `post`.

    Args:
        hidden_size: int. `D`.
        num_heads: int. `N`; must divide `D`.
        chunk_size: int. `W`.
        context_left: int. `P + 1`: P past keys are in each block's context, P - 1 of them
            visible.
        context_right: int. `F` future keys.
        logit_cap: float. Soft cap of the logits.
        invalid_logit_value: float. Logit of a disallowed slot.

    Call arguments:
        x: float `[B, T, D]`, the pre-normed hidden states.
        mask: bool `[B, T]`, True = valid token. Padded keys are never attended to.
        segments: optional int32 `[B, T]`, the clip each token belongs to when a row holds
            several (0 for invalid tokens): a query attends only to keys of its own clip.
            None: every valid token of a row is one clip.

    Returns:
        `[B, T, D]` in the compute dtype.
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size must be divisible by num_heads; got {hidden_size} and {num_heads}.")
        if context_left < 1 or context_right < 0 or chunk_size < 1:
            raise ValueError(
                "Expected chunk_size >= 1, context_left >= 1 and context_right >= 0; got "
                f"{chunk_size}, {context_left} and {context_right}."
            )
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.chunk_size = chunk_size
        self.context_left = context_left
        self.context_right = context_right
        self.logit_cap = logit_cap
        self.invalid_logit_value = invalid_logit_value
        self.head_dim = hidden_size // num_heads
        self.max_past = context_left - 1
        self.context_size = chunk_size + self.max_past + context_right
        self.query_scale = self.head_dim**-0.5 / math.log(2.0)  # 0.12751743 for H = 128
        self.q_proj, self.k_proj, self.v_proj, self.post = (
            ClippableDense(hidden_size, dtype=self.dtype_policy, name=name)
            for name in ("q_proj", "k_proj", "v_proj", "post")
        )
        self.relative_k_proj = AccumulatedDense(
            hidden_size, use_bias=False, dtype=self.dtype_policy, name="relative_k_proj"
        )

    def build(self, input_shape):
        for layer in (self.q_proj, self.k_proj, self.v_proj, self.post, self.relative_k_proj):
            layer.build((None, None, self.hidden_size))
        self.per_dim_scale = self.add_weight(shape=(self.head_dim,), initializer="zeros", name="per_dim_scale")

    def _heads(self, x):
        """[B, T, D] -> float32 [B, T, N, H]."""
        batch, tokens = keras.ops.shape(x)[:2]
        x = keras.ops.cast(x, "float32")
        return keras.ops.reshape(x, (batch, tokens, self.num_heads, self.head_dim))

    def _blocks(self, x, num_blocks, pad_value):
        """[B, T, ...] -> [B, U, C, ...]: the C context slots of every query block."""
        tokens = keras.ops.shape(x)[1]
        right = num_blocks * self.chunk_size + self.context_right - tokens
        padding = [[0, 0], [self.max_past, right]] + [[0, 0]] * (len(x.shape) - 2)
        x = keras.ops.pad(x, padding, constant_values=pad_value)
        index = (
            keras.ops.arange(num_blocks)[:, None] * self.chunk_size + keras.ops.arange(self.context_size)[None, :]
        )  # [U, C]
        return keras.ops.take(x, index, axis=1)  # [B, U, C, ...]

    def _relative_keys(self):
        """float32 [R, N, H]: projected sinusoids for distances P, ..., -F."""
        sinusoids = relative_position_sinusoids(self.max_past, self.context_right, self.hidden_size)
        keys = self.relative_k_proj(keras.ops.cast(sinusoids, self.compute_dtype))  # [R, D]
        keys = keras.ops.cast(keys, "float32")
        return keras.ops.reshape(keys, (-1, self.num_heads, self.head_dim))  # [R, N, H]

    def call(self, x, mask, segments=None):
        batch, tokens = keras.ops.shape(x)[:2]
        num_blocks = (tokens + self.chunk_size - 1) // self.chunk_size  # U
        scale = self.query_scale * keras.ops.softplus(keras.ops.cast(self.per_dim_scale, "float32"))
        q = self._heads(self.q_proj(x)) * scale  # [B, T, N, H]
        k = self._heads(self.k_proj(x)) * KEY_SCALE  # [B, T, N, H]
        v = self._heads(self.v_proj(x))  # [B, T, N, H]

        q = keras.ops.pad(q, [[0, 0], [0, num_blocks * self.chunk_size - tokens], [0, 0], [0, 0]])
        q = keras.ops.reshape(q, (batch, num_blocks, self.chunk_size, self.num_heads, self.head_dim))  # [B, U, W, N, H]
        k = self._blocks(k, num_blocks, 0.0)  # [B, U, C, N, H]
        v = self._blocks(v, num_blocks, 0.0)  # [B, U, C, N, H]
        key_valid = self._blocks(mask, num_blocks, False)  # [B, U, C]

        content = keras.ops.einsum("buwnh,bucnh->bunwc", q, k)  # [B, U, N, W, C]
        position = keras.ops.einsum("buwnh,rnh->bunwr", q, self._relative_keys())  # [B, U, N, W, R]
        logits = content + relative_shift(position, self.context_size)  # [B, U, N, W, C]
        logits = self.logit_cap * keras.ops.tanh(logits / self.logit_cap)

        window = block_window_mask(self.chunk_size, self.max_past, self.context_right)  # [W, C]
        allowed = keras.ops.logical_and(key_valid[:, :, None, None, :], window)  # [B, U, 1, W, C]
        if segments is not None:
            query_segments = keras.ops.pad(segments, [[0, 0], [0, num_blocks * self.chunk_size - tokens]])
            query_segments = keras.ops.reshape(query_segments, (batch, num_blocks, self.chunk_size))  # [B, U, W]
            key_segments = self._blocks(segments, num_blocks, 0)  # [B, U, C]
            same_clip = keras.ops.equal(query_segments[:, :, :, None], key_segments[:, :, None, :])  # [B, U, W, C]
            allowed = keras.ops.logical_and(allowed, same_clip[:, :, None])  # [B, U, 1, W, C]
        logits = keras.ops.where(allowed, logits, self.invalid_logit_value)
        probs = keras.ops.softmax(logits, axis=-1)  # float32 [B, U, N, W, C]

        context = keras.ops.einsum("bunwc,bucnh->buwnh", probs, v)  # [B, U, W, N, H]
        context = keras.ops.reshape(context, (batch, num_blocks * self.chunk_size, self.hidden_size))
        context = keras.ops.cast(context[:, :tokens], self.compute_dtype)  # [B, T, D]
        return self.post(context)

    def get_config(self):
        return {**super().get_config(), **config_entries(self, ATTENTION_ARGS)}
