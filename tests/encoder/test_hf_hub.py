"""Tests for encoder/hf_hub.py's naming rules (fetching is tested against a loopback Hub in
tests/inference/test_model_sources.py)."""

import pytest

from gemma4_audio_embed.encoder.hf_hub import hub_commit
from gemma4_audio_embed.encoder.hf_hub import parse_hub_id


@pytest.mark.parametrize(
    "text, parsed",
    [
        ("google/gemma-4-E2B-it", ("google/gemma-4-E2B-it", None)),
        ("google/gemma-4-E2B-it@main", ("google/gemma-4-E2B-it", "main")),
        ("org/name@0123456789abcdef0123456789abcdef01234567", ("org/name", "0123456789abcdef0123456789abcdef01234567")),
        ("org/name.v2@refs/pr/3", ("org/name.v2", "refs/pr/3")),
        ("name-only", None),  # a Hub id has an owner
        ("/models/gemma", None),  # absolute paths are folders
        ("a/b/c", None),  # so are deeper relative paths
        ("org/name@", None),
        ("gs://bucket/ckpt", None),
    ],
)
def test_parse_hub_id(text, parsed):
    assert parse_hub_id(text) == parsed


def test_hub_commit_is_the_snapshot_folder_name():
    assert hub_commit("/cache/models--org--name/snapshots/abc123/") == "abc123"
