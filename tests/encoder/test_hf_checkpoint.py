"""Parity with transformers' Gemma 4 and the loader's contract (`load_hf_checkpoint`, convert CLI).

The checkpoints are random Gemma 4 models saved by transformers (`hf_oracle.make_checkpoint`):
TINY_AUDIO is hidden 64, 2 heads, 2 blocks, output_proj 48 and a text hidden size of 40, with
perturbed norm scales, per-dim scales, output bias and clip bounds of ±2.5 (inputs) and ±1.5
(outputs). References run with transformers' default (eager) attention in float32.
"""

import json
import shutil
import struct

import keras
import numpy as np
import pytest
import safetensors.numpy
import soundfile
import torch
from hf_oracle import make_checkpoint
from hf_oracle import reference_outputs
from testbed import TEST_DATA
from transformers.models.gemma4.feature_extraction_gemma4 import Gemma4AudioFeatureExtractor

from gemma4_audio_embed.encoder import Gemma4AudioEncoder
from gemma4_audio_embed.encoder import LogMelFrontend
from gemma4_audio_embed.encoder import load_hf_checkpoint
from gemma4_audio_embed.encoder.config import encoder_config_from_hf
from gemma4_audio_embed.encoder.convert import main as convert_main
from gemma4_audio_embed.encoder.hf_checkpoint import hf_weight_map
from gemma4_audio_embed.encoder.hf_checkpoint import shape_only_encoder
from gemma4_audio_embed.encoder.hf_layout import check_hf_checkpoint
from gemma4_audio_embed.encoder.hf_layout import hf_audio_shapes
from gemma4_audio_embed.encoder.safetensors_file import CheckpointTensors


def speech_clips():
    """Two speech clips at 16 kHz of different lengths (3.4 s and 1.9 s)."""
    audio, _ = soundfile.read(TEST_DATA / "speech_16k.wav", dtype="float32")
    return [audio, audio[8000:38000].copy()]


def hf_features(clips):
    out = Gemma4AudioFeatureExtractor()(clips, sampling_rate=16000, return_tensors="np")
    return out["input_features"].astype("float32"), out["input_features_mask"].astype(bool)


def our_features(clips):
    return LogMelFrontend().batch(clips)


def relative_error(ours, reference, valid):
    return np.abs(ours[valid] - reference[valid]).max() / np.abs(reference[valid]).max()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_hf")
    return folder, make_checkpoint(folder)


def test_tiny_checkpoint_matches_transformers_on_speech(tiny_checkpoint):
    folder, hf_model = tiny_checkpoint
    clips = speech_clips()
    reference, reference_mask = reference_outputs(hf_model, *hf_features(clips))
    model = load_hf_checkpoint(str(folder))
    features, mask = our_features(clips)
    ours = keras.ops.convert_to_numpy(model(features, mask))
    ours_mask = keras.ops.convert_to_numpy(model.compute_output_mask(mask))
    assert ours.shape[-1] == reference.shape[-1] == 40
    np.testing.assert_array_equal(ours_mask, reference_mask[:, : ours_mask.shape[1]])
    error = relative_error(ours[:, : reference.shape[1]], reference[:, : ours.shape[1]], ours_mask)
    print(f"tiny checkpoint, lm output: max |diff| / max |ref| = {error:.2e}")
    assert error <= 1e-4


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_loading_sets_each_variable_once_to_the_value_a_built_model_would_get(tiny_checkpoint, dtype):
    folder, _ = tiny_checkpoint
    loaded = load_hf_checkpoint(str(folder), dtype=dtype)  # built without values, then each set once
    config = json.loads((folder / "config.json").read_text())
    built = Gemma4AudioEncoder(**encoder_config_from_hf(config), dtype=dtype)
    built.build()  # random values, then overwritten
    tensors = CheckpointTensors(str(folder))
    for source in hf_weight_map(built):
        source.variable.assign(source.transform(tensors.read(source.name)).astype(np.float32))
    assert [v.path.split("/", 1)[1] for v in loaded.weights] == [v.path.split("/", 1)[1] for v in built.weights]
    for ours, theirs in zip(loaded.weights, built.weights):
        assert (tuple(ours.value.shape), ours.dtype) == (tuple(theirs.shape), theirs.dtype), ours.path
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(keras.ops.cast(ours.value, "float32")),
            keras.ops.convert_to_numpy(keras.ops.cast(theirs.value, "float32")),
        )


def test_tiny_checkpoint_tower_output_matches_transformers_last_hidden_state(tiny_checkpoint):
    folder, hf_model = tiny_checkpoint
    clips = speech_clips()
    features, mask = hf_features(clips)
    reference, reference_mask = reference_outputs(hf_model, features, mask, output_layer="tower")
    ours = keras.ops.convert_to_numpy(load_hf_checkpoint(str(folder))(features, mask, output_layer="tower"))
    assert relative_error(ours, reference, reference_mask) <= 1e-4


def test_the_clip_bounds_in_the_tiny_checkpoint_change_the_reference(tiny_checkpoint):
    _, hf_model = tiny_checkpoint
    features, mask = hf_features(speech_clips())
    clipped, valid = reference_outputs(hf_model, features, mask)
    state = {k: v.clone() for k, v in hf_model.state_dict().items()}
    with torch.no_grad():
        for name, tensor in hf_model.model.audio_tower.state_dict().items():
            if name.endswith(("input_min", "output_min")):
                tensor.fill_(-float("inf"))
            elif name.endswith(("input_max", "output_max")):
                tensor.fill_(float("inf"))
    try:
        unclipped, _ = reference_outputs(hf_model, features, mask)
    finally:
        hf_model.load_state_dict(state)
    assert relative_error(unclipped, clipped, valid) > 1e-2


def test_default_size_checkpoint_matches_transformers_on_speech(tmp_path):
    from transformers.models.gemma4.configuration_gemma4 import Gemma4AudioConfig

    hf_model = make_checkpoint(tmp_path, audio_overrides=Gemma4AudioConfig().to_dict(), text_hidden=1536)
    clips = speech_clips()
    reference, reference_mask = reference_outputs(hf_model, *hf_features(clips))
    del hf_model
    model = load_hf_checkpoint(str(tmp_path))
    assert model.count_params() == 307_183_904 + 480  # E2B audio tower + embedder + clip scalars
    features, mask = our_features(clips)
    ours = keras.ops.convert_to_numpy(model(features, mask))
    valid = keras.ops.convert_to_numpy(model.compute_output_mask(mask))
    tokens = min(ours.shape[1], reference.shape[1])
    error = relative_error(ours[:, :tokens], reference[:, :tokens], valid[:, :tokens])
    print(f"default-size checkpoint, lm output: max |diff| / max |ref| = {error:.2e}")
    assert error <= 1e-4


def test_bfloat16_checkpoint_loads_exactly_widened(tmp_path):
    hf_model = make_checkpoint(tmp_path, dtype=torch.bfloat16)
    assert CheckpointTensors(str(tmp_path)).dtype("model.audio_tower.output_proj.weight") == "BF16"
    features, mask = hf_features(speech_clips())
    reference, valid = reference_outputs(hf_model.float(), features, mask)
    ours = keras.ops.convert_to_numpy(load_hf_checkpoint(str(tmp_path))(features, mask))
    assert relative_error(ours, reference, valid) <= 1e-4


def test_sharded_checkpoint_loads_like_the_single_file(tiny_checkpoint, tmp_path):
    folder, _ = tiny_checkpoint
    tensors = safetensors.numpy.load_file(str(folder / "model.safetensors"))
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for shard, shard_names in shards.items():
        safetensors.numpy.save_file({n: tensors[n] for n in shard_names}, str(tmp_path / shard))
    index = {"weight_map": {n: shard for shard, shard_names in shards.items() for n in shard_names}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    shutil.copy(folder / "config.json", tmp_path / "config.json")
    features, mask = np.ones((1, 40, 128), "float32"), np.ones((1, 40), bool)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(load_hf_checkpoint(str(tmp_path))(features, mask)),
        keras.ops.convert_to_numpy(load_hf_checkpoint(str(folder))(features, mask)),
    )


def test_language_model_tensors_are_never_read(tiny_checkpoint, tmp_path):
    """A checkpoint whose LM tensor points past the end of the file still loads."""
    folder, _ = tiny_checkpoint
    with open(folder / "model.safetensors", "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    header["model.language_model.huge"] = {
        "dtype": "F32",
        "shape": [10**6, 10**3],
        "data_offsets": [len(data), len(data) + 4 * 10**9],
    }
    encoded = json.dumps(header).encode()
    with open(tmp_path / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded + data)
    shutil.copy(folder / "config.json", tmp_path / "config.json")
    assert load_hf_checkpoint(str(tmp_path)).count_params() > 0


def _rewrite(folder, target, edit):
    tensors = safetensors.numpy.load_file(str(folder / "model.safetensors"))
    edit(tensors)
    safetensors.numpy.save_file(tensors, str(target / "model.safetensors"))
    shutil.copy(folder / "config.json", target / "config.json")
    return str(target)


QPROJ = "model.audio_tower.layers.1.self_attn.q_proj.linear.weight"


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.pop(QPROJ), f"missing tensor '{QPROJ}'"),
        (lambda t: t.pop("model.embed_audio.embedding_projection.weight"), "missing tensor 'model.embed_audio"),
        (
            lambda t: t.update({"model.audio_tower.layers.0.extra.weight": np.ones(3, "float32")}),
            "does not know: \\['model.audio_tower.layers.0.extra.weight'\\]",
        ),
        (  # the loader names the shape after conversion, the header check the shape as stored
            lambda t: t.update({QPROJ: np.ones((64, 32), "float32")}),
            f"'{QPROJ}' has shape \\((32, 64\\) after conversion|64, 32\\) as stored); the encoder expects \\(64, 64\\)",
        ),
        (lambda t: t.update({QPROJ: np.ones((64, 64), "int32")}), f"'{QPROJ}' must be floating point; got dtype int32"),
    ],
    ids=["missing", "missing-embedder", "unexpected", "wrong-shape", "wrong-dtype"],
)
def test_bad_checkpoints_raise_errors_naming_the_tensor(tiny_checkpoint, tmp_path, edit, message):
    folder, _ = tiny_checkpoint
    bad = _rewrite(folder, tmp_path, edit)
    with pytest.raises(ValueError, match=message):
        load_hf_checkpoint(bad)
    with pytest.raises(ValueError, match=message):  # the same error from the headers alone
        check_hf_checkpoint(bad)


@pytest.mark.parametrize(
    "config, use_clip",
    [({}, True), ({"hidden_size": 64, "num_heads": 2, "num_layers": 2, "output_proj_dims": 48}, False)],
    ids=["release", "tiny-without-clip-bounds"],
)
def test_the_plain_layout_is_the_weight_map_of_a_built_encoder(config, use_clip):
    # hf_layout lists the tensors without Keras; each must be what the loader maps to a variable.
    shapes = hf_audio_shapes(config, use_clipped_linears=use_clip)
    weight_map = hf_weight_map(shape_only_encoder(**config), use_clipped_linears=use_clip)
    assert list(shapes) == [source.name for source in weight_map]
    for source in weight_map:
        stored = np.broadcast_to(np.zeros((), "float32"), shapes[source.name])
        assert tuple(source.transform(stored).shape) == tuple(source.variable.shape), source.name


def test_check_names_a_truncated_shard_from_its_headers_and_allocates_no_encoder(tiny_checkpoint, tmp_path):
    """A download cut after the header (tensor bytes all missing) is one error naming the tensor and
    both sizes, found from the header and the file's length; the check builds no variables."""
    folder, _ = tiny_checkpoint
    with open(folder / "model.safetensors", "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header_only = struct.pack("<Q", length) + f.read(length)
    (tmp_path / "model.safetensors").write_bytes(header_only)
    shutil.copy(folder / "config.json", tmp_path / "config.json")
    with pytest.raises(ValueError, match=rf"past the end of the file \({8 + length} bytes\): the shard is truncated"):
        check_hf_checkpoint(str(tmp_path))
    assert check_hf_checkpoint(str(folder))["output_dim"] == 40
    model = shape_only_encoder()  # the released size: 307 M parameters
    assert all(variable._value is None for variable in model.weights)


def test_checkpoint_without_audio_tower_is_rejected(tiny_checkpoint, tmp_path):
    folder, _ = tiny_checkpoint
    config = json.loads((folder / "config.json").read_text())
    config["audio_config"] = None
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="no audio_config"):
        load_hf_checkpoint(str(tmp_path))


def test_folder_without_safetensors_is_rejected(tiny_checkpoint, tmp_path):
    folder, _ = tiny_checkpoint
    shutil.copy(folder / "config.json", tmp_path / "config.json")
    with pytest.raises(FileNotFoundError, match="Expected model.safetensors"):
        load_hf_checkpoint(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="Expected model.safetensors"):
        check_hf_checkpoint(str(tmp_path))


def test_convert_cli_bakes_a_keras_file_with_the_same_outputs(tiny_checkpoint, tmp_path, capsys):
    folder, _ = tiny_checkpoint
    output = tmp_path / "audio_encoder.keras"
    assert convert_main(["--hf_checkpoint", str(folder), "--output", str(output)]) == 0
    assert "weights digest" in capsys.readouterr().out
    features, mask = np.ones((1, 40, 128), "float32"), np.arange(40)[None] < 33
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(keras.saving.load_model(output)(features, mask)),
        keras.ops.convert_to_numpy(load_hf_checkpoint(str(folder))(features, mask)),
    )
