"""Specifications of the encoder's layers on configs small enough to check by hand.

Toy config: D = 16 hidden, N = 2 heads of H = 8, chunk W = 4, context_left 5 (P = 4 past keys,
3 visible + self), context_right 0, so C = 8 slots and R = 5 relative distances.
"""

import math

import keras
import numpy as np
import pytest
from layer_harness import run_layer_test

from gemma4_audio_embed.encoder.attention import KEY_SCALE
from gemma4_audio_embed.encoder.attention import ChunkedLocalAttention
from gemma4_audio_embed.encoder.attention import block_window_mask
from gemma4_audio_embed.encoder.attention import relative_position_sinusoids
from gemma4_audio_embed.encoder.attention import relative_shift
from gemma4_audio_embed.encoder.clippable_dense import ClippableDense
from gemma4_audio_embed.encoder.conformer import ConformerBlock
from gemma4_audio_embed.encoder.conformer import FeedForward
from gemma4_audio_embed.encoder.conformer import LightConv1D
from gemma4_audio_embed.encoder.normalization import ChannelLayerNorm
from gemma4_audio_embed.encoder.normalization import RMSNorm
from gemma4_audio_embed.encoder.subsampling import SubSampleConvProjection

D, HEADS, CHUNK, LEFT = 16, 2, 4, 5
ATTENTION = dict(
    hidden_size=D,
    num_heads=HEADS,
    chunk_size=CHUNK,
    context_left=LEFT,
    context_right=0,
    logit_cap=50.0,
    invalid_logit_value=-1e9,
)
MASK_7 = np.array([[True] * 7, [True] * 5 + [False] * 2])


def test_rms_norm_layer_contract():
    run_layer_test(RMSNorm, {"epsilon": 1e-6}, [(2, 3, D)], (2, 3, D), D, 0)


def test_rms_norm_without_scale_has_no_weights():
    run_layer_test(RMSNorm, {"with_scale": False}, [(2, 3, D)], (2, 3, D), 0, 0)


def test_rms_norm_divides_by_root_mean_square_and_multiplies_scale_directly():
    layer = RMSNorm(epsilon=0.0)
    layer.build((2,))
    layer.scale.assign(np.array([2.0, 0.5], "float32"))
    # mean(3^2, 4^2) = 12.5 -> x / sqrt(12.5) * scale
    out = keras.ops.convert_to_numpy(layer(np.array([[3.0, 4.0]], "float32")))
    np.testing.assert_allclose(out, [[3 / math.sqrt(12.5) * 2.0, 4 / math.sqrt(12.5) * 0.5]], rtol=1e-6)


def test_channel_layer_norm_layer_contract():
    run_layer_test(ChannelLayerNorm, {"epsilon": 1e-6}, [(2, 3, 5, 4)], (2, 3, 5, 4), 4, 0)


def test_channel_layer_norm_uses_biased_variance_and_no_bias():
    layer = ChannelLayerNorm(epsilon=0.0)
    # mean 2, biased variance 2/3 -> (x - 2) / sqrt(2/3)
    out = keras.ops.convert_to_numpy(layer(np.array([[1.0, 2.0, 3.0]], "float32")))
    np.testing.assert_allclose(out, [[-math.sqrt(1.5), 0.0, math.sqrt(1.5)]], rtol=1e-6)


def test_clippable_dense_layer_contract():
    run_layer_test(ClippableDense, {"units": 8}, [(2, 3, D)], (2, 3, 8), D * 8, 4)


def test_clippable_dense_is_a_plain_matmul_until_bounds_are_set():
    layer = ClippableDense(2)
    x = np.array([[100.0, -100.0]], "float32")
    layer.build(x.shape)
    layer.kernel.assign(np.eye(2, dtype="float32"))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)


def test_clippable_dense_clips_input_then_output():
    layer = ClippableDense(1)
    layer.build((1, 2))
    layer.kernel.assign(np.array([[1.0], [1.0]], "float32"))
    for name, value in (("input_min", -1.0), ("input_max", 2.0), ("output_min", -5.0), ("output_max", 2.5)):
        getattr(layer, name).assign(value)
    # clip([3, 0.5]) = [2, 0.5] -> 2.5 -> clip(2.5) = 2.5 ; clip([3, 3]) = [2, 2] -> 4 -> 2.5
    out = keras.ops.convert_to_numpy(layer(np.array([[3.0, 0.5], [3.0, 3.0], [-9.0, 0.0]], "float32")))
    np.testing.assert_allclose(out[:, 0], [2.5, 2.5, -1.0])


def test_subsample_layer_contract():
    kwargs = dict(
        input_feat_size=16,
        hidden_size=D,
        conv_channels=(4, 2),
        kernel_sizes=((3, 3), (3, 3)),
        stride_sizes=((2, 2), (2, 2)),
        norm_eps=1e-6,
    )
    mask = np.arange(10)[None] < np.array([[10], [6]])
    # convs 36 + 72, norms 4 + 2, projection (16/4 * 2) * 16 = 128 -> 242; 10 frames -> 5 -> 3 tokens
    run_layer_test(SubSampleConvProjection, kwargs, [(2, 10, 16), mask], (2, 3, D), 242, 0)


def test_subsample_keeps_every_fourth_mask_entry():
    layer = SubSampleConvProjection(
        input_feat_size=16,
        hidden_size=D,
        conv_channels=(4, 2),
        kernel_sizes=((3, 3), (3, 3)),
        stride_sizes=((2, 2), (2, 2)),
        norm_eps=1e-6,
    )
    mask = np.arange(10)[None] < np.array([[10], [6], [5], [0]])
    _, token_mask = layer(np.ones((4, 10, 16), "float32"), mask)
    # valid frames 10, 6, 5, 0 -> ceil(Mv / 4) = 3, 2, 2, 0 valid tokens
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(token_mask).sum(axis=1), [3, 2, 2, 0])


def test_subsample_rejects_even_kernels():
    with pytest.raises(ValueError, match="must be odd"):
        SubSampleConvProjection(
            input_feat_size=16,
            hidden_size=D,
            conv_channels=(4, 2),
            kernel_sizes=((2, 3), (3, 3)),
            stride_sizes=((2, 2), (2, 2)),
            norm_eps=1e-6,
        )


def test_attention_layer_contract():
    # q, k, v, post and relative_k_proj 5 * 256 + per_dim_scale 8 = 1288; 4 x 4 clip bounds
    run_layer_test(ChunkedLocalAttention, ATTENTION, [(2, 7, D), MASK_7], (2, 7, D), 1288, 16)


def test_attention_rejects_heads_that_do_not_divide_width():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        ChunkedLocalAttention(**{**ATTENTION, "num_heads": 3})


def test_attention_constants_match_the_release():
    layer = ChunkedLocalAttention(
        hidden_size=1024,
        num_heads=8,
        chunk_size=12,
        context_left=13,
        context_right=0,
        logit_cap=50.0,
        invalid_logit_value=-1e9,
    )
    assert layer.query_scale == pytest.approx(0.12751743, abs=1e-8)
    assert KEY_SCALE == pytest.approx(1.89463612, abs=1e-8)
    assert layer.context_size == 24


def test_released_window_lets_each_query_see_itself_and_eleven_previous_keys():
    window = block_window_mask(12, 12, 0)
    assert window.shape == (12, 24)
    assert (window.sum(axis=1) == 12).all()
    w, c = np.meshgrid(np.arange(12), np.arange(24), indexing="ij")
    np.testing.assert_array_equal(window, (c > w) & (c <= w + 12))


def test_relative_shift_puts_distance_c_minus_w_in_slot_c():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(3, 12, 13)).astype("float32")
    shifted = keras.ops.convert_to_numpy(relative_shift(scores, 24))
    expected = np.zeros((3, 12, 24), "float32")
    for w in range(12):
        for c in range(24):
            if 0 <= c - w <= 12:
                expected[:, w, c] = scores[:, w, c - w]
    np.testing.assert_array_equal(shifted, expected)


def test_relative_sinusoids_are_sin_block_then_cos_block_from_far_to_near():
    emb = relative_position_sinusoids(12, 0, 1024)
    assert emb.shape == (13, 1024)
    np.testing.assert_allclose(emb[-1], np.r_[np.zeros(512), np.ones(512)])  # distance 0
    assert emb[0, 0] == pytest.approx(math.sin(12.0), abs=1e-6)  # tau_0 = 1
    assert emb[0, 511] == pytest.approx(math.sin(12.0 * 1e-4), abs=1e-6)  # tau_511 = 1e-4
    assert emb[0, 512] == pytest.approx(math.cos(12.0), abs=1e-6)


def _dense_reference_attention(layer, x, mask):
    """A [T, T] float64 implementation written from the spec, for small T only."""
    w = {
        name: keras.ops.convert_to_numpy(getattr(layer, name).kernel).astype("float64")
        for name in ("q_proj", "k_proj", "v_proj", "post", "relative_k_proj")
    }
    heads, head_dim = layer.num_heads, layer.head_dim
    pds = keras.ops.convert_to_numpy(layer.per_dim_scale).astype("float64")
    batch, tokens, _ = x.shape
    q = (x @ w["q_proj"]).reshape(batch, tokens, heads, head_dim)
    q = q * head_dim**-0.5 / math.log(2) * np.log1p(np.exp(pds))
    k = (x @ w["k_proj"]).reshape(batch, tokens, heads, head_dim) * math.log1p(math.e) / math.log(2)
    v = (x @ w["v_proj"]).reshape(batch, tokens, heads, head_dim)
    past = layer.max_past
    rel = relative_position_sinusoids(past, 0, x.shape[-1]).astype("float64") @ w["relative_k_proj"]
    rel = rel.reshape(-1, heads, head_dim)  # row f <-> distance past - f
    out = np.zeros((batch, tokens, heads, head_dim))
    for b in range(batch):
        for t in range(tokens):
            logits = np.full((heads, tokens), -1e9)
            for s in range(tokens):
                if 0 <= t - s < past and mask[b, s]:
                    score = (q[b, t] * k[b, s]).sum(-1) + (q[b, t] * rel[past - (t - s)]).sum(-1)
                    logits[:, s] = 50.0 * np.tanh(score / 50.0)
            probs = np.exp(logits - logits.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            out[b, t] = np.einsum("ns,snh->nh", probs, v[b])
    return out.reshape(batch, tokens, -1) @ w["post"]


def test_blockwise_attention_equals_dense_reference_on_valid_queries():
    layer = ChunkedLocalAttention(**ATTENTION)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 11, D)).astype("float32")
    mask = np.arange(11)[None] < np.array([[11], [6]])
    layer(x, mask)
    layer.per_dim_scale.assign(rng.normal(size=(D // HEADS,)).astype("float32"))
    ours = keras.ops.convert_to_numpy(layer(x, mask))
    reference = _dense_reference_attention(layer, x.astype("float64"), mask)
    np.testing.assert_allclose(ours[mask], reference[mask], rtol=1e-4, atol=1e-5)


def test_attention_ignores_padded_keys_and_future_tokens():
    layer = ChunkedLocalAttention(**ATTENTION)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 10, D)).astype("float32")
    mask = np.arange(10)[None] < 7
    changed = x.copy()
    changed[:, 7:] = rng.normal(size=(1, 3, D))  # padded tokens
    changed[:, 5] += 1.0  # a valid token: must not reach queries 0..4
    a = keras.ops.convert_to_numpy(layer(x, mask))
    b = keras.ops.convert_to_numpy(layer(changed, mask))
    np.testing.assert_allclose(a[:, :5], b[:, :5], rtol=1e-6, atol=1e-6)
    assert np.abs(a[:, 5:7] - b[:, 5:7]).max() > 1e-3


def test_feed_forward_layer_contract():
    run_layer_test(
        FeedForward,
        dict(hidden_size=D, residual_weight=0.5, gradient_clipping=1e10, norm_eps=1e-6),
        [(2, 3, D)],
        (2, 3, D),
        2 * D + 2 * D * 4 * D,
        8,
    )


def test_light_conv_layer_contract():
    # norms 2 * 16, linear_start 16 * 32, linear_end 16 * 16, depthwise 5 * 16 -> 880
    run_layer_test(
        LightConv1D,
        dict(hidden_size=D, kernel_size=5, gradient_clipping=1e10, norm_eps=1e-6),
        [(2, 9, D)],
        (2, 9, D),
        880,
        8,
    )


def test_light_conv_sees_exactly_the_current_and_four_previous_tokens():
    layer = LightConv1D(hidden_size=D, kernel_size=5, gradient_clipping=1e10, norm_eps=1e-6)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 12, D)).astype("float32")
    base = keras.ops.convert_to_numpy(layer(x))
    for moved, expect_change in ((5, False), (6, True), (10, True), (11, False)):
        y = x.copy()
        y[0, moved] += 1.0
        delta = np.abs(keras.ops.convert_to_numpy(layer(y))[0, 10] - base[0, 10]).max()
        assert (delta > 1e-6) == expect_change, (moved, delta)


def test_conformer_block_layer_contract():
    kwargs = dict(ATTENTION, conv_kernel_size=5, residual_weight=0.5, gradient_clipping=1e10, norm_eps=1e-6)
    # 2 FFW 4160 + attention 1288 + light conv 880 + 3 norms 48 = 6376; clip bounds 10 x 4
    run_layer_test(ConformerBlock, kwargs, [(2, 7, D), MASK_7], (2, 7, D), 6376, 40)


def test_light_conv_computes_its_glu_and_conv_in_float32_under_bfloat16(monkeypatch):
    from gemma4_audio_embed.encoder import conformer

    seen = []
    clip = conformer.symmetric_clip
    monkeypatch.setattr(conformer, "symmetric_clip", lambda x, bound: seen.append(x.dtype) or clip(x, bound))
    layer = LightConv1D(hidden_size=D, kernel_size=5, gradient_clipping=1e10, norm_eps=1e-6, dtype="bfloat16")
    out = layer(np.random.default_rng(0).normal(size=(1, 6, D)).astype("float32"))
    assert [keras.backend.standardize_dtype(d) for d in seen] == ["float32"]  # the conv output
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
