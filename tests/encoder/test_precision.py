"""Float32 means float32: `make_predict_fn` runs every product of a float32 encoder at full
precision on each backend (`encoder.precision`), and leaves bfloat16 alone.

The JAX test reads the lowered program (StableHLO) of the compiled forward pass; the TensorFlow
and PyTorch settings are read inside the predict function, each backend in its own process
(`precision_worker.py`). TINY config as in test_inference.py.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from testbed import REPO_ROOT

from gemma4_audio_embed.encoder import default_encoder
from gemma4_audio_embed.encoder import make_predict_fn

TINY = dict(hidden_size=32, num_heads=2, num_layers=1, sscp_conv_channels=(8, 4), output_proj_dims=48, output_dim=64)
WORKER = pathlib.Path(__file__).with_name("precision_worker.py")
PRODUCT = re.compile(r"stablehlo\.(dot_general|convolution)")
# `precision = [HIGHEST, HIGHEST]` (dot_general) or
# `precision_config = [#stablehlo<precision HIGHEST>, ...]` (convolution); none means DEFAULT.
PRECISION = re.compile(r"precision(?:_config)? = \[([^\]]*)\]")


def _products(dtype):
    """Lines of the lowered float32 forward pass that hold a product or a convolution."""
    predict = make_predict_fn(default_encoder(seed=0, dtype=dtype, **TINY))
    mel, mask = np.zeros((2, 96, 128), "float32"), np.ones((2, 96), bool)
    return [line for line in predict.lower(mel, mask).as_text().splitlines() if PRODUCT.search(line)]


def _at_highest(line):
    """Whether both operands of the product on `line` are at HIGHEST precision."""
    match = PRECISION.search(line)
    operands = re.findall(r"(DEFAULT|HIGH|HIGHEST)\b", match.group(1)) if match else []
    return len(operands) == 2 and set(operands) == {"HIGHEST"}


def test_every_product_of_the_jax_float32_forward_runs_at_highest_precision():
    products = _products("float32")
    # 2 SSCP convolutions, 1 depthwise conv, 3 attention einsums and 10 linears in one block,
    # output_proj and the LM projection: none may be left at DEFAULT precision.
    assert len(products) >= 16
    low = [line.strip()[:160] for line in products if not _at_highest(line)]
    assert not low, f"{len(low)} of {len(products)} products below HIGHEST precision: {low[:3]}"


def test_jax_bfloat16_forward_keeps_default_precision():
    products = _products("bfloat16")
    assert products and not any(_at_highest(line) for line in products)


@pytest.mark.parametrize(
    "backend, exact, default",
    [
        ("tensorflow", {"tensor_float_32": False}, {"tensor_float_32": True}),
        (
            "torch",
            {"cuda_matmul_allow_tf32": False, "cudnn_allow_tf32": False, "float32_matmul_precision": "highest"},
            # PyTorch's defaults: TF32 off for CUDA matmuls, on for cuDNN convolutions.
            {"cuda_matmul_allow_tf32": False, "cudnn_allow_tf32": True, "float32_matmul_precision": "highest"},
        ),
    ],
)
def test_predict_fn_turns_tf32_off_for_float32_only_and_restores_the_settings(backend, exact, default):
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, str(WORKER)], env=env, check=True, capture_output=True, text=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"float32": exact, "bfloat16": default, "after": default}
