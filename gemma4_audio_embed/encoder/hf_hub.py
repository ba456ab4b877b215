"""Fetching a Gemma 4 checkpoint from the Hugging Face Hub: its config, index and audio shards only.

`huggingface_hub` downloads into its cache (`HF_HOME` / `HF_HUB_CACHE`), with `HF_TOKEN` for
gated repos; with `HF_HUB_OFFLINE=1` it answers from the cache alone. A Gemma 4 checkpoint is
sharded with the language model's gigabytes in other shards than the audio tower, so fetching
only the shards the index names for audio tensors is what makes a Hub id practical.
"""

import json
import os
import re

from gemma4_audio_embed.encoder.hf_layout import is_audio_tensor
from gemma4_audio_embed.encoder.safetensors_file import INDEX_FILE
from gemma4_audio_embed.encoder.safetensors_file import SINGLE_FILE

# `org/name` with an optional `@revision` (branch, tag or commit sha).
HUB_ID = re.compile(r"(?P<repo_id>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<revision>[\w./-]+))?")


def parse_hub_id(text: str):
    """`(repo_id, revision or None)` for `org/name[@revision]`; None for anything else."""
    match = HUB_ID.fullmatch(text)
    return (match["repo_id"], match["revision"]) if match else None


def hub_checkpoint(repo_id: str, revision: str = None) -> str:
    """The local snapshot folder of a Hub checkpoint, holding what `load_hf_checkpoint` reads.

    Fetches `config.json`, then `model.safetensors.index.json` and the shards it names for
    audio tensors (or, unsharded, `model.safetensors`), each only if not already in the cache.
    A full commit sha as `revision` with the files cached makes no request at all.

    Args:
        repo_id: str. `org/name`.
        revision: str or None. Branch, tag or commit sha. Defaults to None (`main`).

    Returns:
        `<cache>/models--org--name/snapshots/<commit>`: the folder's name is the commit sha the
        revision resolved to (`hub_commit`), which pins it for other machines.

    Raises:
        huggingface_hub's errors (`OSError` subclasses) for an unknown repo or revision, a
        gated repo without `HF_TOKEN`, or a file missing from the cache when offline.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import EntryNotFoundError

    folder = os.path.dirname(hf_hub_download(repo_id, "config.json", revision=revision))
    commit = hub_commit(folder)
    try:
        index = hf_hub_download(repo_id, INDEX_FILE, revision=commit)
    except EntryNotFoundError:
        hf_hub_download(repo_id, SINGLE_FILE, revision=commit)
        return folder
    with open(index) as f:
        weight_map = json.load(f)["weight_map"]
    for shard in sorted({shard for name, shard in weight_map.items() if is_audio_tensor(name)}):
        hf_hub_download(repo_id, shard, revision=commit)
    return folder


def hub_commit(snapshot_folder: str) -> str:
    """The commit sha of a `hub_checkpoint` folder (the cache names snapshots by commit)."""
    return os.path.basename(os.path.normpath(snapshot_folder))
