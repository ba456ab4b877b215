"""The encoder gives the same numbers on TensorFlow, JAX and PyTorch, eager and compiled
(on TensorFlow: tf.function, its CPU default, and XLA, its accelerator default), and, on each,
the log-mel computed inside the compiled program from samples equals the host front end's.

Each backend runs in its own process (`backend_worker.py`) on the same weights and speech
features; TINY config as in test_gemma4_audio_encoder.py.
"""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from testbed import REPO_ROOT
from token_similarity import token_cosine

from gemma4_audio_embed.batching.row_packing import RELEASE_GEOMETRY
from gemma4_audio_embed.batching.row_packing import packed_batch
from gemma4_audio_embed.encoder import Gemma4AudioEncoder
from gemma4_audio_embed.encoder import LogMelFrontend

TINY = dict(hidden_size=32, num_heads=2, num_layers=2, sscp_conv_channels=(8, 4), output_proj_dims=48, output_dim=64)
WORKER = pathlib.Path(__file__).with_name("backend_worker.py")


@pytest.fixture(scope="module")
def backend_outputs(tmp_path_factory, speech_16k):
    folder = tmp_path_factory.mktemp("backends")
    keras.utils.set_random_seed(0)
    model = Gemma4AudioEncoder(**TINY)
    model.build()
    model.save_weights(folder / "w.weights.h5")
    clips = [speech_16k, speech_16k[:20000]]
    features, mask = LogMelFrontend().batch(clips)
    samples = np.zeros((2, 160 * mask.shape[1]), "float32")  # [B, M * 160]: each clip's valid frames' samples
    for row, clip in enumerate(clips):
        used = 160 * int(mask[row].sum())
        samples[row, :used] = clip[:used]
    valid_frames = [features[row, : int(mask[row].sum())] for row in range(2)]
    packed_features, packed_mask, placements = packed_batch(valid_frames, (480, 960, 1920), None, RELEASE_GEOMETRY)
    np.savez(
        folder / "inputs.npz",
        features=features,
        mask=mask,
        samples=samples,
        packed_features=packed_features,
        packed_mask=packed_mask,
    )
    outputs = {}
    for backend in ("tensorflow", "jax", "torch"):
        env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(REPO_ROOT)}
        target = folder / f"{backend}.npz"
        subprocess.run(
            [
                sys.executable,
                str(WORKER),
                str(folder / "w.weights.h5"),
                str(folder / "inputs.npz"),
                str(target),
                json.dumps(TINY),
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        outputs[backend] = dict(np.load(target))
    valid = keras.ops.convert_to_numpy(model.compute_output_mask(mask))
    outputs["placements"] = placements
    return outputs, valid, features


@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_backend_agrees_with_jax(backend_outputs, backend):
    outputs, valid, _ = backend_outputs
    reference = outputs["jax"]["eager"]
    kinds = ("eager", "compiled", "xla") if backend == "tensorflow" else ("eager", "compiled")
    for kind in kinds:
        ours = outputs[backend][kind]
        error = np.abs(ours[valid] - reference[valid]).max() / np.abs(reference[valid]).max()
        print(f"{backend} {kind} vs jax eager: {error:.2e}")
        assert error <= 1e-4
        assert (ours[~valid] == 0).all()


def test_jax_compiled_agrees_with_jax_eager(backend_outputs):
    outputs, valid, _ = backend_outputs
    reference = outputs["jax"]["eager"]
    error = np.abs(outputs["jax"]["compiled"][valid] - reference[valid]).max() / np.abs(reference[valid]).max()
    assert error <= 1e-4


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_compiled_bfloat16_tokens_stay_close_to_float32(backend_outputs, backend):
    outputs, valid, _ = backend_outputs
    cosine = token_cosine(outputs[backend]["compiled_bf16"][valid], outputs[backend]["eager"][valid])
    print(f"{backend} compiled bf16 vs eager fp32 cosine per valid token: min {cosine.min():.5f}")
    assert cosine.min() >= 0.99


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_features_on_device_equal_the_host_front_end(backend_outputs, backend):
    outputs, valid, features = backend_outputs
    error = np.abs(outputs[backend]["device_log_mel"] - features).max()
    print(f"{backend} DeviceLogMel vs LogMelFrontend: max abs {error:.2e}")
    assert error <= 1e-5
    reference, ours = outputs[backend]["compiled"], outputs[backend]["compiled_on_device"]
    error = np.abs(ours[valid] - reference[valid]).max() / np.abs(reference[valid]).max()
    print(f"{backend} embeddings from samples vs from host features: {error:.2e}")
    assert error <= 1e-5
    assert (ours[~valid] == 0).all()


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_clips_packed_into_one_row_equal_each_clip_alone(backend_outputs, backend):
    outputs, valid, _ = backend_outputs
    packed, alone = outputs[backend]["compiled_packed"], outputs[backend]["compiled"]
    assert packed.shape[0] == 1  # both clips share the row
    for clip, (row, start) in enumerate(outputs["placements"]):
        tokens = int(valid[clip].sum())
        first = start // RELEASE_GEOMETRY.frames_per_token
        reference = alone[clip, :tokens]
        error = np.abs(packed[row, first : first + tokens] - reference).max() / np.abs(reference).max()
        print(f"{backend} clip {clip} packed at frame {start} vs alone: {error:.2e}")
        assert error <= 1e-5
