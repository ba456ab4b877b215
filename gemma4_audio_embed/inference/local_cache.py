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

    Every program compiled is written there and loaded instead of compiled by the next process
    that needs it: a second job of the same model and row lengths skips XLA's compile. JAX's
    own threshold (only programs that took a second or more to compile) is lowered to 0 in a
    cache set up here: the weight loader's transposes (`encoder.weight_map.to_tensor`) compile
    in about 50 ms each, 0.3 s in all for the released encoder (bench/RESULTS.md, start-up).
    A cache folder set by the user (`JAX_COMPILATION_CACHE_DIR` or `jax.config`) is left as it
    is, with the user's threshold.

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
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    return folder
