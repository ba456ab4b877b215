"""Specifications of `Gemma4AudioEncoder`: contract, invariances, dtypes, serialization, errors.

Toy config (TINY): D = 32, 2 heads, 2 blocks, SSCP channels (8, 4) so the flatten is
(128 / 4) * 4 = 128 wide, output_proj 48, output 64. M mel frames give T = ceil(M / 4) tokens.
"""

import doctest

import keras
import numpy as np
import pytest
from token_similarity import token_cosine

import gemma4_audio_embed.encoder.gemma4_audio_encoder as encoder_module
from gemma4_audio_embed.encoder import Gemma4AudioEncoder
from gemma4_audio_embed.encoder import LogMelFrontend
from gemma4_audio_embed.encoder import num_valid_tokens
from gemma4_audio_embed.encoder import output_token_mask

TINY = dict(hidden_size=32, num_heads=2, num_layers=2, sscp_conv_channels=(8, 4), output_proj_dims=48, output_dim=64)


def tiny_encoder(seed=0, **overrides):
    keras.utils.set_random_seed(seed)
    model = Gemma4AudioEncoder(**{**TINY, **overrides})
    model.build()
    return model


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def speech_features(speech_16k):
    features, mask = LogMelFrontend()(speech_16k[:40000])
    return features, mask


def test_docstring_example_runs():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(encoder_module.Gemma4AudioEncoder, globs={"Gemma4AudioEncoder": Gemma4AudioEncoder}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0


def test_default_config_matches_e2b_released_parameter_count():
    # Spec section 11: E2B's audio tower with its embedder projection is 307,183,904 parameters,
    # plus 480 non-trainable clip scalars.
    model = Gemma4AudioEncoder()
    model.build()
    assert model.count_params() == 307_183_904 + 480
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == 480


@pytest.mark.parametrize(
    "num_valid_frames, expected",
    [(0, 0), (1, 1), (4, 1), (5, 2), (99, 25), (100, 25), (2999, 750), (3124, 781)],
)
def test_num_valid_tokens_is_ceil_of_frames_over_four(num_valid_frames, expected):
    assert num_valid_tokens(num_valid_frames) == expected


def test_output_token_mask_keeps_every_fourth_frame():
    mel_mask = np.arange(10)[None] < np.array([[10], [5], [4], [0]])
    np.testing.assert_array_equal(output_token_mask(mel_mask), [[1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 0, 0]])
    # tokens [1,1,1], [1,1,0], [1,0,0], [0,0,0] -> every second: [1,1], [1,0], [1,0], [0,0]
    np.testing.assert_array_equal(output_token_mask(mel_mask, reduction_factor=2), [[1, 1], [1, 0], [1, 0], [0, 0]])


def test_output_has_ceil_m_over_four_tokens_and_zero_padded_rows(speech_features):
    features, mask = speech_features
    model = tiny_encoder()
    out = to_numpy(model(features[None], mask[None]))
    token_mask = to_numpy(model.compute_output_mask(mask[None]))
    assert out.shape == (1, -(-len(mask) // 4), 64)
    assert token_mask.sum() == num_valid_tokens(mask.sum())
    assert (out[~token_mask] == 0).all()
    assert np.abs(out[token_mask]).min(axis=-1).max() > 0


def test_tower_output_is_output_proj_width():
    model = tiny_encoder()
    out = model(np.ones((1, 20, 128), "float32"), np.ones((1, 20), bool), output_layer="tower")
    assert tuple(out.shape) == (1, 5, 48)


def test_unknown_output_layer_is_rejected():
    with pytest.raises(ValueError, match="output_layer must be one of"):
        tiny_encoder()(np.ones((1, 8, 128), "float32"), np.ones((1, 8), bool), output_layer="mid")


def test_valid_rows_do_not_change_with_extra_padding(speech_features):
    features, mask = speech_features
    model = tiny_encoder()
    base = to_numpy(model(features[None], mask[None]))
    padded_features = np.concatenate([features, np.full((200, 128), 7.0, "float32")])[None]
    padded_mask = np.concatenate([mask, np.zeros(200, bool)])[None]
    padded = to_numpy(model(padded_features, padded_mask))
    valid = to_numpy(model.compute_output_mask(mask[None]))[0]
    scale = np.abs(base).max()
    assert np.abs(padded[0, : len(valid)][valid] - base[0][valid]).max() <= 1e-4 * scale
    assert (padded[0, len(valid) :] == 0).all()


def test_a_clip_alone_equals_the_clip_inside_a_batch_of_longer_clips(speech_features):
    features, mask = speech_features
    model = tiny_encoder()
    short = 130
    alone = to_numpy(model(features[None, :short], mask[None, :short]))
    batch_features = np.stack([features, features[::-1].copy(), features])
    batch_mask = np.stack([np.arange(len(mask)) < short, mask, mask])
    batch = to_numpy(model(batch_features, batch_mask))
    valid = to_numpy(model.compute_output_mask(mask[None, :short]))[0]
    scale = np.abs(alone).max()
    assert np.abs(batch[0, : len(valid)][valid] - alone[0][valid]).max() <= 1e-4 * scale
    assert (batch[0, len(valid) :] == 0).all()


def test_release_packing_geometry_is_4_frames_per_token_and_a_4_token_gap():
    # Spec: the light conv reads 4 earlier tokens, the SSCP 3 frames either side; attention,
    # whose window is 11 earlier tokens, keeps to each clip by the mask's clip numbers.
    model = Gemma4AudioEncoder()
    assert (model.frames_per_token, model.packing_gap_frames) == (4, 4 * 4)


def _packed_row(model, clips, gap_frames, filler=7.0, numbered=True):
    """Lays `clips` (`[Mv, F]` each) into one row, each starting at a token boundary with at least
    `gap_frames` invalid frames (filled with `filler`) after the previous one's last token.

    Returns `(mel [1, M, F], mask [1, M], starts)`, starts in frames; the mask int32 clip
    numbers (1, 2, ...), or with `numbered=False` bool.
    """
    unit = model.frames_per_token
    starts, end = [], 0
    for clip in clips:
        start = -(-(end + gap_frames * bool(starts)) // unit) * unit
        starts.append(start)
        end = start + -(-len(clip) // unit) * unit
    mel = np.full((1, end + gap_frames, 128), filler, "float32")
    mask = np.zeros((1, end + gap_frames), "int32")
    for number, (start, clip) in enumerate(zip(starts, clips), start=1):
        mel[0, start : start + len(clip)] = clip
        mask[0, start : start + len(clip)] = number
    return mel, (mask if numbered else mask > 0), starts


def _packed_and_alone(model, clips, gap_frames, numbered=True):
    """Each clip's valid tokens from the packed row and from the clip run alone."""
    mel, mask, starts = _packed_row(model, clips, gap_frames, numbered=numbered)
    packed = to_numpy(model(mel, mask))[0]
    pairs = []
    for start, clip in zip(starts, clips):
        alone = to_numpy(model(clip[None], np.ones((1, len(clip)), bool)))[0]
        first = start // model.frames_per_token
        pairs.append((packed[first : first + len(alone)], alone))
    return pairs


@pytest.mark.parametrize("reduction_factor", [1, 2])
def test_clips_packed_with_the_gap_equal_each_clip_alone(speech_features, reduction_factor):
    features = speech_features[0]
    clips = [features[:130], features[150:247], features[60:121], features[200:205]]
    model = tiny_encoder(reduction_factor=reduction_factor)
    for packed, alone in _packed_and_alone(model, clips, model.packing_gap_frames):
        assert np.abs(packed - alone).max() <= 1e-5 * np.abs(alone).max()


def test_clips_packed_one_token_closer_than_the_gap_see_each_other(speech_features):
    features = speech_features[0]
    model = tiny_encoder()
    clips = [features[:130], features[150:247]]
    packed, alone = _packed_and_alone(model, clips, model.packing_gap_frames - model.frames_per_token)[1]
    assert np.abs(packed[0] - alone[0]).max() > 1e-3 * np.abs(alone).max()


def test_clips_packed_with_the_gap_but_a_bool_mask_see_each_other(speech_features):
    features = speech_features[0]
    model = tiny_encoder()
    clips = [features[:130], features[150:247]]
    packed, alone = _packed_and_alone(model, clips, model.packing_gap_frames, numbered=False)[1]
    assert np.abs(packed[0] - alone[0]).max() > 1e-3 * np.abs(alone).max()


def test_a_row_numbered_as_one_clip_equals_the_bool_mask(speech_features):
    features = speech_features[0][None, :200]  # [1, 200, F]
    numbers = np.zeros((1, 200), "int32")
    numbers[0, :170] = 3
    model = tiny_encoder()
    np.testing.assert_array_equal(to_numpy(model(features, numbers)), to_numpy(model(features, numbers > 0)))


def test_all_false_mask_gives_zeros_not_nan():
    out = to_numpy(
        tiny_encoder()(np.random.default_rng(0).normal(size=(2, 30, 128)).astype("float32"), np.zeros((2, 30), bool))
    )
    assert np.isfinite(out).all() and (out == 0).all()


def test_reduction_factor_keeps_every_rth_token():
    model = tiny_encoder(reduction_factor=2)
    out = model(np.ones((1, 40, 128), "float32"), np.arange(40)[None] < 30)
    assert tuple(out.shape) == (1, 5, 64)  # 40 frames -> 10 tokens -> 5
    assert to_numpy(model.compute_output_mask(np.arange(40)[None] < 30)).sum() == 4  # ceil(ceil(30/4)/2)


def test_bfloat16_tokens_stay_close_to_float32(speech_features):
    features, mask = speech_features
    fp32 = tiny_encoder()
    bf16 = Gemma4AudioEncoder(**TINY, dtype="bfloat16")
    bf16.build()
    bf16.set_weights(fp32.get_weights())
    a = to_numpy(fp32(features[None], mask[None]))[0]
    b = to_numpy(keras.ops.cast(bf16(features[None], mask[None]), "float32"))[0]
    valid = to_numpy(fp32.compute_output_mask(mask[None]))[0]
    cosine = token_cosine(a, b)
    print(f"bf16 vs fp32 cosine per valid token: min {cosine[valid].min():.5f}, mean {cosine[valid].mean():.5f}")
    assert cosine[valid].min() >= 0.99


def test_mixed_bfloat16_keeps_float32_variables_and_computes_in_bfloat16():
    model = Gemma4AudioEncoder(**TINY, dtype="mixed_bfloat16")
    out = model(np.ones((1, 8, 128), "float32"), np.ones((1, 8), bool))
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    assert {w.dtype for w in model.weights} == {"float32"}


def test_get_config_round_trips_every_argument():
    overrides = dict(
        TINY,
        chunk_size=6,
        context_left=7,
        context_right=0,
        logit_cap=30.0,
        invalid_logit_value=-1e8,
        conv_kernel_size=3,
        reduction_factor=2,
        residual_weight=0.25,
        gradient_clipping=1e4,
        sscp_kernel_sizes=((3, 5), (3, 3)),
        norm_eps=1e-5,
        sscp_norm_eps=1e-4,
        input_feat_size=64,
    )
    model = Gemma4AudioEncoder(**overrides)
    config = model.get_config()
    for key, value in overrides.items():
        expected = (
            [list(v) for v in value]
            if key == "sscp_kernel_sizes"
            else list(value)
            if isinstance(value, tuple)
            else value
        )
        assert config[key] == expected, key
    assert Gemma4AudioEncoder.from_config(config).get_config() == config


def test_keras_file_round_trip_gives_identical_outputs(tmp_path):
    model = tiny_encoder()
    for w in model.non_trainable_weights:
        w.assign(3.0 if w.path.endswith("max") else -3.0)
    features = np.random.default_rng(0).normal(size=(1, 24, 128)).astype("float32")
    mask = np.arange(24)[None] < 20
    model.save(tmp_path / "encoder.keras")
    loaded = keras.saving.load_model(tmp_path / "encoder.keras")
    assert isinstance(loaded, Gemma4AudioEncoder)
    np.testing.assert_array_equal(to_numpy(loaded(features, mask)), to_numpy(model(features, mask)))


def test_weights_h5_round_trip_gives_identical_outputs(tmp_path):
    model = tiny_encoder(seed=1)
    model.save_weights(tmp_path / "encoder.weights.h5")
    other = tiny_encoder(seed=2)
    other.load_weights(tmp_path / "encoder.weights.h5")
    features, mask = np.ones((1, 16, 128), "float32"), np.ones((1, 16), bool)
    np.testing.assert_array_equal(to_numpy(other(features, mask)), to_numpy(model(features, mask)))


@pytest.mark.parametrize(
    "features, mask, message",
    [
        (
            np.zeros((1, 8, 64), "float32"),
            np.ones((1, 8), bool),
            r"audio_mel must have shape \[batch, frames, 128\]; got shape \(1, 8, 64\)",
        ),
        (
            np.zeros((8, 128), "float32"),
            np.ones((1, 8), bool),
            r"audio_mel must have shape \[batch, frames, 128\]; got shape \(8, 128\)",
        ),
        (
            np.zeros((1, 8, 128), "float32"),
            np.ones((1, 9), bool),
            r"audio_mel_mask must have shape \[batch, frames\] = \[1, 8\].*got shape \(1, 9\)",
        ),
        (np.zeros((1, 8, 128), "float32"), np.ones((8,), bool), r"audio_mel_mask must have shape .*got shape \(8,\)"),
        (
            np.zeros((1, 8, 128), "float32"),
            np.ones((1, 8), "float32"),
            r"audio_mel_mask must be bool \(True = valid frame\) or int32 clip numbers.*got dtype float32",
        ),
    ],
)
def test_bad_inputs_raise_value_errors_naming_the_expected_shape(features, mask, message):
    with pytest.raises(ValueError, match=message):
        tiny_encoder()(features, mask)


def test_reduction_factor_below_one_is_rejected():
    with pytest.raises(ValueError, match="reduction_factor must be >= 1, got 0"):
        Gemma4AudioEncoder(**TINY, reduction_factor=0)
