"""Specifications of inference/local_cache.py: where the cache lives, and JAX's compilation cache in it."""

import os
import subprocess
import sys

from testbed import REPO_ROOT

from gemma4_audio_embed.inference.local_cache import cache_folder

# Turns the cache on, compiles one small program with every program cached, and prints the folder.
COMPILE = """
import jax, jax.numpy as jnp
from gemma4_audio_embed.inference.local_cache import enable_jax_compilation_cache
print(enable_jax_compilation_cache())
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.jit(lambda x: jnp.sin(x) * 2)(jnp.ones(8)).block_until_ready()
"""


def test_the_cache_folder_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_folder("jax") == str(tmp_path / "gemma4-audio-embed" / "jax")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_folder() == os.path.join(os.path.expanduser("~"), ".cache", "gemma4-audio-embed")


def _compile(env):
    inherited = {name: value for name, value in os.environ.items() if name != "JAX_COMPILATION_CACHE_DIR"}
    done = subprocess.run(
        [sys.executable, "-c", COMPILE],
        capture_output=True,
        text=True,
        timeout=300,
        env={**inherited, "PYTHONPATH": str(REPO_ROOT), "JAX_PLATFORMS": "cpu", **env},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_compiled_programs_are_written_to_the_cache_folder(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    folder = tmp_path / "gemma4-audio-embed" / "jax"
    assert _compile(env) == str(folder)
    assert any(folder.iterdir())  # the program, for the next process


def test_a_cache_folder_the_user_set_is_kept(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "ours"), "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "theirs")}
    assert _compile(env) == str(tmp_path / "theirs")
    assert not (tmp_path / "ours").exists()
