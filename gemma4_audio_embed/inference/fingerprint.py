"""Model fingerprints from the weights' bytes as stored and the encoder's configuration: no model is built.

The fingerprint that every record carries and the stamp names is the hex SHA-256 of a small
JSON object (`model_fingerprint`): the encoder configuration (the release's value for any
argument the source leaves out), the compute dtype, and either the SHA-256 of each file the
weights come from, by name, or the seed and Keras backend of random weights. So the launcher
fingerprints a model from files it has already checked, a worker checks the files it loaded
against the launch's fingerprint, and the same bytes give the same fingerprint wherever they
are: a local folder, a `gs://` copy or a Hugging Face Hub snapshot.

A file is hashed once (`file_sha256`): streamed, and cached with the file's size and
modification time, in `.gemma4-embed-sha256.json` beside it when its folder is writable, else
in `<cache>/sha256/` (`local_cache.cache_folder`). A file of a Hub snapshot is a link to
`blobs/<sha256>`, the SHA-256 the Hub reports for large (LFS) files, which is used as it is.
"""

import hashlib
import json
import logging
import os
import re

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from gemma4_audio_embed.encoder.config import RELEASE_ENCODER_CONFIG
from gemma4_audio_embed.inference.local_cache import cache_folder

HASH_READ_BYTES = 1 << 23  # 8 MiB per read while hashing
CACHE_FILE = ".gemma4-embed-sha256.json"  # beside the hashed files, one entry per file name
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


def _streamed_sha256(uri: str) -> str:
    digest = hashlib.sha256()
    if _is_local(uri):
        opened = open(uri, "rb")
    else:
        opened = FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED)
    with opened as f:
        while chunk := f.read(HASH_READ_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _hub_blob_sha256(path: str) -> str | None:
    """The SHA-256 a Hub snapshot's file is stored under (`blobs/<sha256>`), or None for other files."""
    if not os.path.islink(path):
        return None
    target = os.path.realpath(path)
    name = os.path.basename(target)
    is_blob = os.path.basename(os.path.dirname(target)) == "blobs" and _SHA256.fullmatch(name)
    return name if is_blob else None


def _identity(uri: str) -> dict:
    """What must not change for a cached hash to hold: size and modification time."""
    if _is_local(uri):
        stat = os.stat(uri)
        return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    (metadata,) = FileSystems.match([uri])[0].metadata_list
    return {"size": metadata.size_in_bytes, "last_updated": metadata.last_updated_in_seconds}


def _cache_places(uri: str) -> list[tuple[str, str]]:
    """`(cache file, entry name)` to look in and write to, in order: beside a local file, then the cache folder."""
    places = []
    if _is_local(uri):
        folder, name = os.path.split(os.path.abspath(uri))
        places.append((os.path.join(folder, CACHE_FILE), name))
    key = hashlib.sha256((uri if not _is_local(uri) else os.path.abspath(uri)).encode()).hexdigest()
    places.append((os.path.join(cache_folder("sha256"), f"{key[:32]}.json"), key))
    return places


def _read_cache(path: str) -> dict:
    try:
        with open(path) as f:
            entries = json.load(f)
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _write_cache(path: str, name: str, entry: dict) -> bool:
    """Adds `entry` under `name` to the cache file `path` (atomically); False where it cannot be written."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        entries = _read_cache(path) | {name: entry}
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w") as f:
            json.dump(entries, f, indent=1, sort_keys=True)
        os.replace(temporary, path)
        return True
    except OSError:
        return False


def file_sha256(uri: str) -> str:
    """Hex SHA-256 of the bytes of file `uri` (local or any Beam filesystem), hashed once and cached.

    A cached hash is used while the file's size and modification time are those it was
    hashed at. A Hub snapshot's link to `blobs/<sha256>` gives that hash without reading.

    Raises:
        OSError: when the file cannot be read.
    """
    if _is_local(uri) and (blob := _hub_blob_sha256(uri)):
        return blob
    identity = _identity(uri)
    places = _cache_places(uri)
    for cache_file, name in places:
        entry = _read_cache(cache_file).get(name)
        if isinstance(entry, dict) and all(entry.get(key) == value for key, value in identity.items()):
            if _SHA256.fullmatch(str(entry.get("sha256"))):
                return entry["sha256"]
    sha256 = _streamed_sha256(uri)
    if not any(_write_cache(cache_file, name, identity | {"sha256": sha256}) for cache_file, name in places):
        logging.info("Could not cache the SHA-256 of %s; it will be hashed again next time.", uri)
    return sha256


def model_fingerprint(*, encoder_config: dict, compute_dtype: str, weights: dict) -> str:
    """Hex SHA-256 of what makes a model's embeddings: configuration, compute dtype and weights.

    Args:
        encoder_config: dict. `Gemma4AudioEncoder` arguments; the release's fill in the rest.
        compute_dtype: str. `"float32"` or `"bfloat16"`.
        weights: dict. `{"files": {name: hex sha256}}` of the files the weights are read from,
            or `{"random": {"seed": int, "keras_backend": str}}`.

    Returns:
        64 hex digits: SHA-256 of the JSON object `{"compute_dtype", "encoder", "weights"}`,
        keys sorted, tuples as lists, no spaces.
    """
    payload = {
        "compute_dtype": compute_dtype,
        "encoder": RELEASE_ENCODER_CONFIG | dict(encoder_config),
        "weights": weights,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))  # tuples become lists
    return hashlib.sha256(text.encode()).hexdigest()
