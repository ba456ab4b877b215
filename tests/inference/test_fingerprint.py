"""Specifications of inference/fingerprint.py: streamed, cached file hashes and the model fingerprint."""

import hashlib
import json
import os

import pytest
from fingerprints import files_fingerprint
from fingerprints import random_fingerprint

from gemma4_audio_embed.inference.fingerprint import CACHE_FILE
from gemma4_audio_embed.inference.fingerprint import HASH_READ_BYTES
from gemma4_audio_embed.inference.fingerprint import file_sha256
from gemma4_audio_embed.inference.fingerprint import model_fingerprint
from gemma4_audio_embed.inference.model_sources import ModelSource

TINY = {"hidden_size": 32, "num_layers": 2}
FAKE_SHA256 = "ab" * 32


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg"


def _weights(folder, data=b"weights" * 1000):
    folder.mkdir(exist_ok=True)
    path = folder / "model.safetensors"
    path.write_bytes(data)
    return path


def test_a_file_is_hashed_whole_over_several_reads(tmp_path):
    data = bytes(range(256)) * (HASH_READ_BYTES // 256 + 7)  # one read and 1792 bytes more
    path = _weights(tmp_path / "a", data)
    assert file_sha256(str(path)) == hashlib.sha256(data).hexdigest()


def test_the_hash_is_cached_beside_the_file_and_used_while_the_file_is_unchanged(tmp_path):
    path = _weights(tmp_path / "a")
    true_sha256 = file_sha256(str(path))
    cache = json.loads((tmp_path / "a" / CACHE_FILE).read_text())
    assert cache["model.safetensors"]["sha256"] == true_sha256
    assert cache["model.safetensors"]["size"] == path.stat().st_size
    cache["model.safetensors"]["sha256"] = FAKE_SHA256  # what a read of the cache, and only that, returns
    (tmp_path / "a" / CACHE_FILE).write_text(json.dumps(cache))
    assert file_sha256(str(path)) == FAKE_SHA256
    path.write_bytes(b"other weights")  # another size and modification time: hashed again
    assert file_sha256(str(path)) == hashlib.sha256(b"other weights").hexdigest()


def test_a_cache_entry_of_another_modification_time_is_not_used(tmp_path):
    path = _weights(tmp_path / "a")
    file_sha256(str(path))
    cache_file = tmp_path / "a" / CACHE_FILE
    cache = json.loads(cache_file.read_text())
    cache["model.safetensors"]["sha256"] = FAKE_SHA256
    cache_file.write_text(json.dumps(cache))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # same size, touched
    assert file_sha256(str(path)) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_hub_snapshot_file_is_named_by_the_sha256_it_is_stored_under(tmp_path):
    blobs, snapshot = tmp_path / "blobs", tmp_path / "snapshots" / ("c" * 40)
    blobs.mkdir()
    snapshot.mkdir(parents=True)
    (blobs / FAKE_SHA256).write_bytes(b"any bytes: the Hub's reported hash is taken as it is")
    (snapshot / "model.safetensors").symlink_to(blobs / FAKE_SHA256)
    assert file_sha256(str(snapshot / "model.safetensors")) == FAKE_SHA256
    assert not (snapshot / CACHE_FILE).exists()


def test_a_missing_file_raises(tmp_path):
    with pytest.raises(OSError):
        file_sha256(str(tmp_path / "missing.safetensors"))


def test_the_fingerprint_is_the_documented_hash_of_configuration_dtype_and_file_hashes(tmp_path):
    path = _weights(tmp_path / "a")
    hashes = {"model.safetensors": file_sha256(str(path))}
    ours = model_fingerprint(encoder_config=TINY, compute_dtype="float32", weights={"files": hashes})
    assert ours == files_fingerprint({"model.safetensors": path}, TINY)
    assert ours != model_fingerprint(encoder_config=TINY, compute_dtype="bfloat16", weights={"files": hashes})
    assert ours != model_fingerprint(
        encoder_config={**TINY, "num_layers": 3}, compute_dtype="float32", weights={"files": hashes}
    )
    seeded = {"random": {"seed": 0, "keras_backend": "jax"}}
    assert model_fingerprint(encoder_config={}, compute_dtype="float32", weights=seeded) == random_fingerprint(0, "jax")


def test_the_same_bytes_anywhere_give_the_same_fingerprint_and_one_byte_changes_it(tmp_path, tiny_encoder_path):
    copy = tmp_path / "elsewhere" / "tiny.keras"
    copy.parent.mkdir()
    copy.write_bytes(tiny_encoder_path.read_bytes())
    original = ModelSource("weights", str(tiny_encoder_path)).fingerprint("float32", "jax")
    assert ModelSource("weights", str(copy)).fingerprint("float32", "jax") == original
    data = bytearray(copy.read_bytes())
    data[-100] ^= 1
    copy.write_bytes(bytes(data))
    assert ModelSource("weights", str(copy)).fingerprint("float32", "jax") != original


def test_random_weights_are_named_by_seed_and_backend():
    assert ModelSource("random", 3).fingerprint("float32", "jax") == random_fingerprint(3, "jax")
    assert ModelSource("random", 3).fingerprint("float32", "torch") != random_fingerprint(3, "jax")
