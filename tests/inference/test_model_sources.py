"""Tests for inference/model_sources.py: Hub ids, keras-hub presets and gs:// checkpoints.

The checkpoint is `hf_oracle.make_checkpoint`'s tiny random Gemma 4 (audio hidden 64, output
width 40) cut into three shards: the audio tower and embedder projection in the second, the
language model's tensors split between the first and third. The Hub is `hub_server.HubServer`
on loopback; the jobs that read it run as `python -m gemma4_audio_embed` processes, because
huggingface_hub reads `HF_ENDPOINT`, `HF_HOME` and `HF_HUB_OFFLINE` when it is imported.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import safetensors.numpy
from fingerprints import files_fingerprint
from hub_server import HubServer
from synthetic_audio import tone
from synthetic_audio import write_audio
from testbed import REPO_ROOT
from testbed import TINY_ENCODER_CONFIG

from gemma4_audio_embed import records
from gemma4_audio_embed.encoder.hf_layout import is_audio_tensor
from gemma4_audio_embed.encoder.safetensors_file import INDEX_FILE
from gemma4_audio_embed.inference import keras_hub_presets
from gemma4_audio_embed.inference import model_sources
from gemma4_audio_embed.pipeline.cli import run

REPO_ID = "tests/tiny-gemma4"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SHARDS = [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]
AUDIO_SHARD = SHARDS[1]
QPROJ = "model.audio_tower.layers.1.self_attn.q_proj.linear.weight"
FAST_FLAGS = ["--runner", "FnApiRunner", "--bucket_seconds", "4"]


@pytest.fixture(scope="module")
def sharded_checkpoint(tmp_path_factory):
    """A tiny Gemma 4 checkpoint folder in three shards, audio tensors only in the second."""
    sys.path.insert(0, str(REPO_ROOT / "tests" / "encoder"))
    from hf_oracle import make_checkpoint

    single = tmp_path_factory.mktemp("single")
    make_checkpoint(single)
    tensors = safetensors.numpy.load_file(str(single / "model.safetensors"))
    audio = sorted(name for name in tensors if is_audio_tensor(name))
    other = sorted(name for name in tensors if not is_audio_tensor(name))
    folder = tmp_path_factory.mktemp("sharded")
    shard_names = {SHARDS[0]: other[::2], AUDIO_SHARD: audio, SHARDS[2]: other[1::2]}
    for shard, names in shard_names.items():
        safetensors.numpy.save_file({name: tensors[name] for name in names}, str(folder / shard))
    index = {"weight_map": {name: shard for shard, names in shard_names.items() for name in names}}
    (folder / INDEX_FILE).write_text(json.dumps(index))
    shutil.copy(single / "config.json", folder / "config.json")
    return folder


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return str(write_audio(tmp_path_factory.mktemp("in") / "a.wav", tone(1.3, 16000, seed=1), 16000))


def _records(output):
    found = sorted(records.read_records(f"{output}-*-of-*.tfrecord"), key=lambda record: record.key)
    summary = json.loads(pathlib.Path(f"{output}-summary.json").read_text())
    return found, summary


def _assert_same_records(found, expected, same_files=True):
    """The same embeddings; with `same_files` (the same bytes, wherever they were) the same fingerprint."""
    assert [record.key for record in found] == [record.key for record in expected]
    for ours, theirs in zip(found, expected):
        assert (ours.model_fingerprint == theirs.model_fingerprint) == same_files
        np.testing.assert_allclose(ours.embedding, theirs.embedding, rtol=1e-6, atol=1e-7)


def _job(env, *flags):
    env = dict(os.environ, **env, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("HF_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "gemma4_audio_embed", *flags, *FAST_FLAGS],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
    )


def test_hub_id_fetches_only_the_audio_shard_and_gives_the_folder_records(tmp_path, sharded_checkpoint, clip):
    reference = str(tmp_path / "folder" / "e")
    run(["--input", clip, "--output", reference, "--hf_checkpoint", str(sharded_checkpoint), *FAST_FLAGS])
    expected, _ = _records(reference)
    hf_home = str(tmp_path / "hf_home")
    with HubServer({REPO_ID: sharded_checkpoint}, COMMIT) as hub:
        env = {"HF_ENDPOINT": hub.endpoint, "HF_HOME": hf_home, "HF_HUB_DISABLE_TELEMETRY": "1"}
        online = str(tmp_path / "online" / "e")
        done = _job(env, "--input", clip, "--output", online, "--hf_checkpoint", REPO_ID)
        assert done.returncode == 0, done.stderr[-3000:]
        found, summary = _records(online)
        _assert_same_records(found, expected)
        assert summary["model"] == f"hf_checkpoint {REPO_ID}@{COMMIT}"  # pinned at launch
        fetched = sorted({path.rsplit("/", 1)[-1] for _, path in hub.requests if "/resolve/" in path})
        assert fetched == sorted(["config.json", INDEX_FILE, AUDIO_SHARD])
        assert not [path for _, path in hub.requests if SHARDS[0] in path or SHARDS[2] in path]

        requests_so_far = len(hub.requests)
        offline = str(tmp_path / "offline" / "e")
        done = _job({**env, "HF_HUB_OFFLINE": "1"}, "--input", clip, "--output", offline, "--hf_checkpoint", REPO_ID)
        assert done.returncode == 0, done.stderr[-3000:]
        _assert_same_records(_records(offline)[0], expected)
        assert len(hub.requests) == requests_so_far  # the cache answered everything

        missing = _job(env, "--input", clip, "--output", str(tmp_path / "x"), "--hf_checkpoint", "tests/missing@v1")
    assert (missing.returncode, missing.stdout) == (2, "")  # a real process: status 2, one stderr line
    (line,) = missing.stderr.splitlines()
    assert line.startswith("gemma4-embed: error: --hf_checkpoint tests/missing@v1: 404 Client Error.")
    assert "Repository Not Found" in line


def test_a_checkpoint_missing_an_audio_tensor_stops_the_launch(tmp_path, sharded_checkpoint, clip, capsys):
    from gemma4_audio_embed.pipeline.cli import main

    folder = tmp_path / "ckpt"
    shutil.copytree(sharded_checkpoint, folder)
    index = json.loads((folder / INDEX_FILE).read_text())
    del index["weight_map"][QPROJ]
    (folder / INDEX_FILE).write_text(json.dumps(index))
    audio = safetensors.numpy.load_file(str(folder / AUDIO_SHARD))
    safetensors.numpy.save_file(
        {name: array for name, array in audio.items() if name != QPROJ}, str(folder / AUDIO_SHARD)
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["--input", clip, "--output", str(tmp_path / "out"), "--hf_checkpoint", str(folder)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"gemma4-embed: error: --hf_checkpoint {folder}: Checkpoint '{folder}' is missing tensor '{QPROJ}'.\n"
    )


def test_keras_hub_preset_gives_the_records_of_its_encoder_moved_by_from_keras_hub(tmp_path, clip):
    keras_hub = pytest.importorskip("keras_hub")
    import h5py
    import keras

    from gemma4_audio_embed import encoder
    from gemma4_audio_embed.encoder import from_keras_hub

    keras.utils.set_random_seed(3)
    backbone = keras_hub.models.Gemma4Backbone(
        vocabulary_size=4000,
        image_size=16,
        num_layers=1,
        num_query_heads=2,
        num_key_value_heads=1,
        hidden_dim=32,
        intermediate_dim=32,
        head_dim=16,
        num_audio_tokens_per_clip=10,
        audio_encoder=keras_hub.models.Gemma4AudioEncoder(**TINY_ENCODER_CONFIG),
    )
    preset = str(tmp_path / "preset")
    backbone.save_to_preset(preset)
    moved = str(tmp_path / "moved.keras")
    from_keras_hub(backbone.audio_encoder).save(moved)
    with h5py.File(f"{preset}/model.weights.h5", "a") as weights:  # only the audio encoder's are read
        kept = "gemma4_audio_encoder"
        assert kept in weights["layers"]
        for name in [name for name in weights["layers"] if name != kept]:
            del weights["layers"][name]

    outputs = {flag: str(tmp_path / flag / "e") for flag in ("keras_hub_preset", "weights")}
    run(["--input", clip, "--output", outputs["keras_hub_preset"], "--keras_hub_preset", preset, *FAST_FLAGS])
    run(["--input", clip, "--output", outputs["weights"], "--weights", moved, *FAST_FLAGS])
    found, summary = _records(outputs["keras_hub_preset"])
    assert summary["model"] == f"keras_hub_preset {preset}"
    _assert_same_records(found, _records(outputs["weights"])[0], same_files=False)  # a preset is other files
    preset_files = {name: f"{preset}/{name}" for name in ("config.json", "model.weights.h5")}
    preset_config = model_sources.ModelSource("keras_hub_preset", preset).encoder_config()
    assert {record.model_fingerprint for record in found} == {files_fingerprint(preset_files, preset_config)}

    # Sharded weights (the 4000 x 32 token embedding fills a shard of its own): the shards
    # without audio-encoder variables may be absent.
    sharded = tmp_path / "sharded"
    backbone.save_to_preset(str(sharded), max_shard_size=0.0006)  # GB: 644 kB per shard
    weight_map = json.loads((sharded / "model.weights.json").read_text())["weight_map"]
    audio_shards = {
        shard
        for path, shards in weight_map.items()
        if path.startswith("/layers/gemma4_audio_encoder/")
        for shard in (shards if isinstance(shards, list) else [shards])
    }
    unread = sorted({path.name for path in sharded.glob("model_*.weights.h5")} - audio_shards)
    assert unread  # the test would prove nothing otherwise
    for shard in unread:
        (sharded / shard).unlink()
    loaded = keras_hub_presets.load_keras_hub_preset(str(sharded), "float32")
    assert encoder.weights_digest(loaded) == encoder.weights_digest(keras.saving.load_model(moved))


def test_keras_hub_preset_without_keras_hub_names_the_extra(monkeypatch, tmp_path, clip, capsys):
    from gemma4_audio_embed.pipeline.cli import main

    for name in [name for name in sys.modules if name == "keras_hub" or name.startswith("keras_hub.")] or ["keras_hub"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    with pytest.raises(SystemExit) as exit_info:
        main(["--input", clip, "--output", str(tmp_path / "out"), "--keras_hub_preset", "gemma4_instruct_2b"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "gemma4-embed: error: --keras_hub_preset gemma4_instruct_2b: keras-hub is not installed; "
        "install the extra: pip install gemma4-audio-embed[keras-hub]\n"
    )


def _upload(path, uri):
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.create(uri) as f:
        f.write(pathlib.Path(path).read_bytes())


def test_a_checkpoint_is_fingerprinted_by_its_config_and_audio_shards_only(sharded_checkpoint, tmp_path):
    source = model_sources.ModelSource("hf_checkpoint", str(sharded_checkpoint))
    files = {name: sharded_checkpoint / name for name in ("config.json", AUDIO_SHARD)}
    assert source.weight_files() == {name: str(path) for name, path in files.items()}
    config = source.encoder_config()
    assert source.fingerprint("float32", "jax") == files_fingerprint(files, config)
    other = tmp_path / "other"  # the language-model shards gone, the audio shard's bytes as they were
    other.mkdir()
    for name in ("config.json", INDEX_FILE, AUDIO_SHARD):
        shutil.copy(sharded_checkpoint / name, other / name)
    assert model_sources.ModelSource("hf_checkpoint", str(other)).fingerprint("float32", "jax") == files_fingerprint(
        files, config
    )


def test_the_launch_checks_and_fingerprints_a_checkpoint_without_keras_or_a_backend(sharded_checkpoint, tmp_path):
    # The launch's checks (`prepare`) and the stamp `submit` writes before it builds the graph.
    code = f"""
import json, sys
from gemma4_audio_embed.pipeline.launch import prepare
from gemma4_audio_embed.pipeline.options import EmbedOptions
from gemma4_audio_embed.pipeline.stamp import launch_fingerprint, output_stamp
options = prepare(["--input", {str(sharded_checkpoint / "config.json")!r}, "--output", {str(tmp_path / "o")!r},
                   "--hf_checkpoint", {str(sharded_checkpoint)!r}, "--keras_backend", "tensorflow"])
embed = options.view_as(EmbedOptions)
stamp = output_stamp(embed, launch_fingerprint(embed))
print(sorted(name for name in ("keras", "tensorflow", "jax", "torch") if name in sys.modules))
print(stamp["model_fingerprint"])
"""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    loaded, fingerprint = done.stdout.strip().splitlines()[-2:]
    assert loaded == "[]"
    assert fingerprint == model_sources.ModelSource("hf_checkpoint", str(sharded_checkpoint)).fingerprint(
        "float32", "tensorflow"
    )


def test_gcs_checkpoint_needs_and_copies_only_its_audio_shard(
    sharded_checkpoint, tiny_encoder_path, gcs_bucket, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # where hashes of remote files are cached
    folder = f"{gcs_bucket}/ckpt"
    for name in ["config.json", INDEX_FILE, AUDIO_SHARD]:  # the language-model shards stay behind
        _upload(sharded_checkpoint / name, f"{folder}/{name}")
    assert model_sources.check_hf_checkpoint(folder) == folder
    local = model_sources.local_hf_checkpoint(folder)
    assert sorted(os.listdir(local)) == sorted(["config.json", INDEX_FILE, AUDIO_SHARD])
    local_fingerprint = model_sources.ModelSource("hf_checkpoint", str(sharded_checkpoint)).fingerprint(
        "float32", "jax"
    )
    assert model_sources.ModelSource("hf_checkpoint", folder).fingerprint("float32", "jax") == local_fingerprint
    assert len(list((tmp_path / "xdg").rglob("*.json"))) == 2  # config.json and the shard, hashed once
    _upload(tiny_encoder_path, f"{gcs_bucket}/tiny.keras")
    model_sources.check_keras_file(f"{gcs_bucket}/tiny.keras")
    with pytest.raises(ValueError, match=f"puts .* in {AUDIO_SHARD}, whose header lacks it"):
        _upload(sharded_checkpoint / SHARDS[0], f"{folder}/{AUDIO_SHARD}")  # the wrong bytes
        model_sources.check_hf_checkpoint(folder)


def _edited_keras_file(source, target, edit_config=None, drop_weight=False):
    """A copy of the `.keras` file `source` at `target` with its config.json edited, or its last weight dropped."""
    import zipfile

    import h5py

    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    if edit_config:
        edit_config(config)
    members["config.json"] = json.dumps(config).encode()
    if drop_weight:
        weights = target.with_suffix(".h5")
        weights.write_bytes(members["model.weights.h5"])
        with h5py.File(weights, "a") as stored:
            del stored["audio_output_projection/vars/0"]
        members["model.weights.h5"] = weights.read_bytes()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return str(target)


def _set(path, value):
    def edit(config):
        *parents, last = path
        node = config
        for part in parents:
            node = node[part]
        node[last] = value

    return edit


@pytest.mark.parametrize(
    "edit, drop_weight, message",
    [
        (_set(["config", "dtype"], "int8"), False, "its dtype policy must be one of"),
        (
            _set(["module"], "os"),
            False,
            "holds a 'os' as its module, not 'gemma4_audio_embed.encoder.gemma4_audio_encoder'",
        ),
        (_set(["registered_name"], "builtins>eval"), False, "holds a 'builtins>eval' as its registered_name"),
        (_set(["config", "hidden_size"], 10**9), False, "`hidden_size` must be an int in \\[1, 8192\\]"),
        (_set(["config", "hidden_size"], 1e9), False, "`hidden_size` must be an int"),
        (_set(["config", "exec"], "x"), False, "arguments the encoder does not take: \\['exec'\\]"),
        (None, True, "its model.weights.h5 holds [0-9]+ weights, the encoder it configures [0-9]+"),
    ],
    ids=["dtype", "module", "registered_name", "huge", "float_size", "unknown_argument", "missing_weight"],
)
def test_a_bad_keras_file_is_one_line_at_launch(tmp_path, tiny_encoder_path, edit, drop_weight, message):
    from gemma4_audio_embed.pipeline.cli import main

    bad = _edited_keras_file(tiny_encoder_path, tmp_path / "bad.keras", edit, drop_weight)
    with pytest.raises(ValueError, match=message):
        model_sources.check_keras_file(bad)
    write_audio(tmp_path / "a.wav", tone(0.5), 16000)
    with pytest.raises(SystemExit) as exit_info:
        main(["--input", str(tmp_path / "a.wav"), "--output", str(tmp_path / "out" / "e"), "--weights", bad])
    assert exit_info.value.code == 2


def test_the_keras_file_the_encoder_saves_passes(tiny_encoder_path):
    model_sources.check_keras_file(str(tiny_encoder_path))


@pytest.mark.parametrize("value", ["./ckpt/gemma", "../ckpt/gemma", "~/ckpt/gemma", "/no/such/ckpt"])
def test_a_path_like_checkpoint_is_never_a_hub_request(monkeypatch, value):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: a request would fail otherwise
    with pytest.raises(FileNotFoundError, match="and it is a local path, so no Hub request is made"):
        model_sources.ModelSource("hf_checkpoint", value).checked()
