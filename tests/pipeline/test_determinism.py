"""Determinism: the same inputs, weights and backend give byte-identical records.

Records are compared as serialized `tf.train.Example` bytes, per clip key and as a sorted list;
shard files are not compared, because `WriteToTFRecord` places records in shards at random.
One run is made in a separate process (`python -m gemma4_audio_embed`), since anything seeded per process
(a hash seed, a map order) only shows across processes.

Corpus: six 0.8-3.5 s tones (16, 22.05 and 48 kHz) and a 32 s and a 25 s tone at 16 kHz, cut
into 4 s windows (`--max_clip_seconds=4 --bucket_seconds=4`: rows of 432 frames): 6 + 8 + 7
= 21 clips, so 21 records. With the default `--max_batch_frames=8192` a batch holds
8192 // 432 = 18 rows, and the 21 clips pack into one batch of 18 rows (14 windows of 399
frames alone; the 349-frame tone alone; 269 + 109, 209 + 129 and 99 + 79 sharing rows). Toy
encoder: conftest's TINY_ENCODER_CONFIG.
"""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from accounting import accounted_outputs
from record_bytes import record_bytes_by_key
from synthetic_audio import tone
from synthetic_audio import write_audio

from gemma4_audio_embed import tf_example
from gemma4_audio_embed.outputs import schema
from gemma4_audio_embed.pipeline.cli import run

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
FAST_FLAGS = ["--runner=FnApiRunner", "--max_clip_seconds=4", "--bucket_seconds=4"]
SUBPROCESS_SECONDS = 180  # ~25 s on an idle machine
TONES = [(1.3, 16000, 1), (2.1, 22050, 2), (0.8, 16000, 3), (3.5, 48000, 4), (2.7, 16000, 5), (1.1, 22050, 6)]
NUM_RECORDS = 21


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("determinism") / "in"
    folder.mkdir()
    for index, (seconds, rate, seed) in enumerate(TONES):
        extension = "wav" if index % 2 else "flac"
        write_audio(folder / f"tone{index}.{extension}", tone(seconds, rate, seed=seed), rate)
    write_audio(folder / "long32.wav", tone(32.0, 16000, seed=7), 16000, subtype="FLOAT")
    write_audio(folder / "long25.flac", tone(25.0, 16000, seed=8), 16000)
    return folder


def _argv(corpus, output, weights, *flags):
    return [f"--input={corpus}/*", f"--output={output}", f"--weights={weights}", *FAST_FLAGS, *flags]


def _shard_paths(output: str) -> list:
    return sorted(pathlib.Path(output).parent.glob(pathlib.Path(output).name + "-*-of-*.tfrecord"))


def _record_bytes(output: str) -> dict:
    """`{clip key: serialized record}` over all shards of a run."""
    return record_bytes_by_key(_shard_paths(output))


def _shards(output: str) -> list:
    return [path.name for path in _shard_paths(output)]


@pytest.fixture(scope="module")
def one_shard_run(corpus, tiny_encoder_path, tmp_path_factory):
    """Records of a run in this process, `--num_shards=1`."""
    output = str(tmp_path_factory.mktemp("one_shard") / "emb")
    run(_argv(corpus, output, tiny_encoder_path, "--num_shards=1"))
    accounted_outputs(output)
    assert _shards(output) == ["emb-00000-of-00001.tfrecord"]
    found = _record_bytes(output)
    assert len(found) == NUM_RECORDS
    return found


def _differences(expected: dict, found: dict) -> list:
    """Keys whose bytes differ, with the features that differ and the embedding's largest relative change."""
    lines = []
    for key in sorted(expected):
        if found.get(key) == expected[key]:
            continue
        if key not in found:
            lines.append(f"{key}: missing")
            continue
        old, new = tf_example.example_features(expected[key]), tf_example.example_features(found[key])
        changed = sorted(name for name in old if old[name] != new.get(name))
        a, b = schema.decoded_example(expected[key]).embedding, schema.decoded_example(found[key]).embedding
        change = np.abs(a - b).max() / np.abs(a).max() if a.shape == b.shape else float("nan")
        changed = changed or "equal, but serialized in another order"
        lines.append(f"{key}: features {changed}; embedding {change:.1e}")
    return lines


def test_records_are_byte_identical_across_processes_and_num_shards(corpus, tiny_encoder_path, one_shard_run, tmp_path):
    output = str(tmp_path / "emb")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    launched = subprocess.run(
        [sys.executable, "-m", "gemma4_audio_embed", *_argv(corpus, output, tiny_encoder_path, "--num_shards=3")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert _shards(output) == [f"emb-0000{i}-of-00003.tfrecord" for i in range(3)]
    accounted_outputs(output)

    found = _record_bytes(output)

    assert sorted(found) == sorted(one_shard_run)
    assert not _differences(one_shard_run, found), "\n".join(_differences(one_shard_run, found))
    assert sorted(found.values()) == sorted(one_shard_run.values())


@pytest.fixture(scope="module")
def one_row_batches_run(corpus, tiny_encoder_path, tmp_path_factory):
    """Records of a run in this process with batches of one row, `--num_shards=2`.

    A runner that cuts bundles elsewhere changes which clips share a batch or a row, and a
    bundle may leave a clip alone in its batch. `--max_batch_frames=432` does that
    deterministically: batches of one row, chosen from a pool of two rows' worth of clips in
    arrival order, instead of one batch of 18 rows.
    """
    output = str(tmp_path_factory.mktemp("one_row_batches") / "emb")
    run(_argv(corpus, output, tiny_encoder_path, "--num_shards=2", "--max_batch_frames=432"))
    accounted_outputs(output)
    return _record_bytes(output)


def test_batching_changes_nothing_but_the_last_bits_of_embeddings(one_shard_run, one_row_batches_run):
    assert sorted(one_row_batches_run) == sorted(one_shard_run)
    for key, expected in one_shard_run.items():
        old, new = tf_example.example_features(expected), tf_example.example_features(one_row_batches_run[key])
        assert {name: old[name] for name in old if name != "embedding"} == {
            name: new[name] for name in new if name != "embedding"
        }
        a = schema.decoded_example(expected).embedding
        b = schema.decoded_example(one_row_batches_run[key]).embedding
        assert np.linalg.norm(a - b) / np.linalg.norm(a) <= 1e-5  # measured: <= 6e-7 (max |diff| / max |a|)
