"""Specifications of the inference helpers: TensorFlow compilation, seeded default encoder, weights digest."""

import glob

import numpy as np
import pytest

from gemma4_audio_embed.encoder import default_encoder
from gemma4_audio_embed.encoder import weights_digest
from gemma4_audio_embed.encoder.inference import forward_memory_bytes
from gemma4_audio_embed.encoder.inference import tensorflow_default_jit_compile
from gemma4_audio_embed.encoder.inference import tensorflow_function

TINY = dict(hidden_size=32, num_heads=2, num_layers=1, sscp_conv_channels=(8, 4), output_proj_dims=48, output_dim=64)


def test_default_encoder_is_the_same_for_the_same_seed():
    a, b = default_encoder(seed=3, **TINY), default_encoder(seed=3, **TINY)
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)


def test_default_encoder_differs_across_seeds():
    a, b = default_encoder(seed=3, **TINY), default_encoder(seed=4, **TINY)
    assert any((x != y).any() for x, y in zip(a.get_weights(), b.get_weights()))


def test_fingerprint_is_stable_across_rebuilds_and_layer_names():
    assert weights_digest(default_encoder(seed=3, **TINY)) == weights_digest(default_encoder(seed=3, **TINY))


def test_fingerprint_changes_when_one_weight_or_the_config_changes():
    model = default_encoder(seed=3, **TINY)
    before = weights_digest(model)
    model.non_trainable_weights[0].assign(1.0)
    assert weights_digest(model) != before
    assert weights_digest(default_encoder(seed=3, **{**TINY, "logit_cap": 40.0})) != before


def test_tensorflow_does_not_compile_the_whole_graph_with_xla_on_a_cpu():
    import tensorflow as tf

    assert not tf.config.list_physical_devices("GPU") and not tf.config.list_physical_devices("TPU")
    assert tensorflow_default_jit_compile() is False


def _clamped_products(x, w):
    """clamp -> cast -> matmul -> clamp -> cast -> matmul: element-wise runs around two products."""
    import tensorflow as tf

    h = tf.cast(tf.clip_by_value(x, -2.0, 2.0), tf.bfloat16)
    h = tf.cast(tf.nn.silu(tf.clip_by_value(tf.cast(tf.matmul(h, w), tf.float32), -1.0, 1.0)), tf.bfloat16)
    return tf.cast(tf.matmul(h, w), tf.float32)


def _profiled_kernels(fn, *args, logdir):
    """What one call of `fn` ran on the host: TensorFlow kernels ('_MklMatMul', '_XlaRun', ...)
    and XLA executables ('ExecuteAsyncOnStream') with their HLO ops."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    fn(*args)  # trace and compile outside the profile
    tf.profiler.experimental.start(str(logdir))
    fn(*args)
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    space.ParseFromString(open(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0], "rb").read())
    return {
        plane.event_metadata[event.metadata_id].name.rsplit(":", 1)[-1]
        for plane in space.planes
        for line in plane.lines
        for event in line.events
    }


@pytest.fixture(scope="module")
def product_inputs():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(64, 32)), tf.float32)
    return x, tf.constant(rng.normal(size=(32, 32)) / 4, tf.bfloat16)


# TensorFlow's product kernel: oneDNN's where TensorFlow enables it (by default on x86 CPUs with
# AVX-512 VNNI/BF16 or AMX, or with TF_ENABLE_ONEDNN_OPTS=1), Eigen's elsewhere.
PRODUCT_KERNELS = {"_MklMatMul", "MatMul"}


def test_tensorflow_function_runs_products_as_kernels_and_the_ops_between_them_as_xla_clusters(
    product_inputs, tmp_path
):
    kernels = _profiled_kernels(
        tensorflow_function(_clamped_products, jit_compile=False), *product_inputs, logdir=tmp_path
    )
    assert kernels & PRODUCT_KERNELS and "_XlaRun" in kernels
    assert not kernels & {"Maximum", "Minimum", "ClipByValue", "Cast"}


def test_tensorflow_function_with_jit_compile_runs_one_xla_program(product_inputs, tmp_path):
    kernels = _profiled_kernels(
        tensorflow_function(_clamped_products, jit_compile=True), *product_inputs, logdir=tmp_path
    )
    assert "ExecuteAsyncOnStream" in kernels
    assert not kernels & (PRODUCT_KERNELS | {"_XlaRun", "Maximum", "Minimum", "Cast"})


@pytest.mark.parametrize("jit_compile", [False, True])
def test_tensorflow_function_computes_what_the_function_computes_eagerly(product_inputs, jit_compile):
    expected = _clamped_products(*product_inputs).numpy()
    np.testing.assert_allclose(
        tensorflow_function(_clamped_products, jit_compile)(*product_inputs).numpy(), expected, rtol=1e-2, atol=1e-2
    )


def test_forward_memory_bytes_grows_by_one_row_per_row():
    model = default_encoder(seed=3, **TINY)
    one, two, four = (forward_memory_bytes(model, rows, 96) for rows in (1, 2, 4))
    weights = sum(v.value.nbytes for v in model.weights)
    # Each row brings at least its own input (96 x 128 float32 + 96 mask bytes) and output
    # (24 tokens x 64 float32); the weights are counted once.
    assert one > weights + 96 * 128 * 4 + 96 + 24 * 64 * 4
    assert two - one >= 96 * 128 * 4 + 96 + 24 * 64 * 4
    assert four - two == pytest.approx(2 * (two - one), rel=0.25)
