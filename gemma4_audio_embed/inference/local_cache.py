"""The machine's cache for what a job can reuse from an earlier one: weight hashes and compiled programs.

It lives in `$XDG_CACHE_HOME/gemma4-audio-embed` (`~/.cache/gemma4-audio-embed` when unset).
Nothing in it is needed: a cache that cannot be written only costs the work again.
"""

import logging
import os

CACHE_NAME = "gemma4-audio-embed"


def cache_folder(*parts: str) -> str:
    """`$XDG_CACHE_HOME/gemma4-audio-embed/<parts...>` (not created here)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, CACHE_NAME, *parts)


def enable_jax_compilation_cache() -> str | None:
    """Turns on JAX's persistent compilation cache, in `<cache>/jax`, unless JAX already has one.

    A program that took a second or more to compile (JAX's threshold) is written there and
    loaded instead of compiled by the next process that needs it: a second job of the same
    model and row lengths skips XLA's compile. A cache folder set by the user
    (`JAX_COMPILATION_CACHE_DIR` or `jax.config`) is left as it is.

    Returns:
        The cache folder in use, or None when none could be made writable.
    """
    import jax

    configured = jax.config.jax_compilation_cache_dir
    if configured:
        return configured
    folder = cache_folder("jax")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        logging.info("No JAX compilation cache (%s): programs compile in every job.", error)
        return None
    if not os.access(folder, os.W_OK):
        return None
    jax.config.update("jax_compilation_cache_dir", folder)
    return folder
