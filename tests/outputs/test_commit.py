"""Tests for outputs/commit.py: a run's files moved into place, the old set removed, leftovers swept.

Prefix `out/emb`. The old set: 2 shards and their index, an earlier run's dead letters and a
per-input file. The new run (id `new`) staged 3 shards and wrote its dead letters.
"""

import pathlib

from gemma4_audio_embed.outputs.commit import commit_shards
from gemma4_audio_embed.outputs.commit import leftovers
from gemma4_audio_embed.outputs.commit import sweep_leftovers
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.outputs.writer import WrittenFile

OTHERS = ["emb-stamp.json", "emb-lock.json", "emb2-00000-of-00001.tfrecord", "notes.txt"]  # not run files


def _touch(path, data=b"x"):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _names(folder) -> list:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def test_the_new_set_replaces_the_old_one_whole(tmp_path):
    folder = tmp_path / "out"
    layout = OutputLayout(str(folder / "emb"))
    for name in [
        "emb-00000-of-00002.tfrecord",
        "emb-00001-of-00002.tfrecord",
        "emb-index-00000-of-00002.parquet",
        "emb-index-00001-of-00002.parquet",
        "emb-dead-letter-old-00000-of-00001.jsonl",
        "emb-dead-letter-00000-of-00001.jsonl",  # of a release without run ids
        "emb-summary.json",
        "emb-by-input/abc.tfrecord",
        *OTHERS,
    ]:
        _touch(folder / name, b"old")
    written = []
    for shard in range(3):
        record_file, index_file = layout.shard_files(shard, 3)
        staged = [f"{layout.staging_folder('new')}/{pathlib.Path(path).name}" for path in (record_file, index_file)]
        for path in staged:
            _touch(path, b"new")
        written.append(WrittenFile(record_file, index_file, staged[0], staged[1], 1, 3))
    kept = str(folder / "emb-dead-letter-new-00000-of-00001.jsonl")
    _touch(kept, b"new")

    commit_shards(layout, written, [kept])
    commit_shards(layout, written, [kept])  # a retried step: nothing left to move, nothing more removed

    assert _names(folder) == sorted(
        [f"emb-{shard:05d}-of-00003.tfrecord" for shard in range(3)]
        + [f"emb-index-{shard:05d}-of-00003.parquet" for shard in range(3)]
        + ["emb-dead-letter-new-00000-of-00001.jsonl", *OTHERS]
    )
    assert (folder / "emb-00002-of-00003.tfrecord").read_bytes() == b"new"


def test_leftovers_of_killed_runs_are_found_and_swept_and_nothing_else(tmp_path):
    folder = tmp_path / "out"
    layout = OutputLayout(str(folder / "emb"))
    left = [
        "emb.temp-20261205T081500Z-3fa2c1/spill/a.spill",
        "emb-summary.json.tmp-0123456789abcdef0123456789abcdef",
        "emb-by-input/abc.tfrecord.tmp-0123456789abcdef0123456789abcdef",
        "beam-temp-emb-dead-letter-r-0bba9198f08b11f1908c02fc00000001/x",
    ]
    for name in left + OTHERS + ["emb-summary.json", "beam-temp-other-1/x"]:
        _touch(folder / name)
    assert {str(pathlib.Path(path).relative_to(folder)) for path in leftovers(layout)} == {
        "emb.temp-20261205T081500Z-3fa2c1",  # a folder, removed whole
        left[1],
        left[2],
        str(pathlib.Path(left[3]).parent),
    }
    assert len(sweep_leftovers(layout)) == 4
    assert _names(folder) == sorted(OTHERS + ["emb-summary.json", "beam-temp-other-1/x"])
    assert leftovers(layout) == []
