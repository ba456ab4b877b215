"""Every local device busy: on JAX the encoder spreads each batch's rows over all local devices.

Four host devices stand in for a 2x2 TPU slice or a 4-GPU VM (`--xla_force_host_platform_
device_count=4`, in a subprocess: JAX fixes its devices at start-up). Six rows are padded with
two empty ones to 8, a multiple of 4: devices 0-2 get two clip rows each, device 3 the two
empty rows. Toy encoder: tests/conftest.py's TINY_ENCODER_CONFIG.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from synthetic_audio import tone
from synthetic_audio import write_audio
from testbed import REPO_ROOT

from gemma4_audio_embed import records
from gemma4_audio_embed.encoder import LogMelFrontend
from gemma4_audio_embed.pipeline.cli import run

WORKER = pathlib.Path(__file__).with_name("devices_worker.py")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_encoder_path, speech_16k):
    folder = tmp_path_factory.mktemp("devices")
    # Six rows of speech of 0.5 to 3 s, so the rows differ and none is empty.
    features, mask = LogMelFrontend().batch([speech_16k[: 8000 * (k + 1)] for k in range(6)])
    np.savez(folder / "inputs.npz", features=features, mask=mask)
    (folder / "audio").mkdir()
    for index, seconds in enumerate([1.3, 2.1, 4.5, 0.7, 3.2]):
        write_audio(folder / "audio" / f"clip{index}.wav", tone(seconds, seed=index), 16000, subtype="FLOAT")
    audio = str(folder / "audio" / "*.wav")
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "PYTHONPATH": str(REPO_ROOT),
    }
    (folder / "four").mkdir()
    four = str(folder / "four" / "embeddings")
    subprocess.run(
        [sys.executable, str(WORKER), str(tiny_encoder_path), str(folder / "inputs.npz"), audio, four],
        env=env,
        check=True,
        capture_output=True,
    )
    one = str(folder / "one" / "embeddings")
    run(
        [
            "--input",
            audio,
            "--output",
            one,
            "--weights",
            str(tiny_encoder_path),
            "--runner",
            "FnApiRunner",
            "--bucket_seconds",
            "4",
        ]
    )
    return dict(np.load(f"{four}-encoder.npz")), four, one


def test_each_of_four_devices_computes_rows(runs):
    encoder_run, _, _ = runs
    assert list(encoder_run["devices"]) == ["cpu"] * 4
    assert list(encoder_run["shard_devices"]) == [0, 1, 2, 3]
    assert list(encoder_run["shard_rows"]) == [2, 2, 2, 2]  # 6 rows padded to 8
    assert list(encoder_run["shard_nonzero_rows"]) == [2, 2, 2, 0]  # the last device holds the padding


def test_four_devices_give_the_one_device_result(runs):
    encoder_run, _, _ = runs
    spread, alone = encoder_run["all"], encoder_run["one"]
    assert spread.shape == alone.shape == (6, 75, 64)
    assert np.abs(spread - alone).max() <= 1e-6 * np.abs(alone).max()


def test_pipeline_on_four_devices_writes_the_one_device_records_and_reports_them(runs):
    _, four, one = runs
    spread = sorted(records.read_records(f"{four}-*-of-*.tfrecord"), key=lambda r: r.key)
    alone = sorted(records.read_records(f"{one}-*-of-*.tfrecord"), key=lambda r: r.key)
    assert [r.key.rsplit("/", 1)[-1] for r in spread] == [r.key.rsplit("/", 1)[-1] for r in alone]
    assert len(spread) == 5
    for a, b in zip(spread, alone):
        assert np.abs(a.embedding - b.embedding).max() <= 1e-6 * np.abs(b.embedding).max()
    summary = json.loads(pathlib.Path(f"{four}-summary.json").read_text())
    assert summary["devices"] == {"count": 4, "kind": "cpu"}
    assert summary["max_batch_frames"] == 8192  # --max_batch_frames auto on a CPU
    assert json.loads(pathlib.Path(f"{one}-summary.json").read_text())["devices"] == {"count": 1, "kind": "cpu"}
