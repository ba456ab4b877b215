"""The job on Beam's PortableRunner: a local job service and an external worker pool, each its own process.

This is the path Dataflow and Flink take, offline: the launcher pickles the graph into a portable
pipeline and submits it to Beam's Python job service
(`apache_beam.runners.portability.local_job_service_main`), whose runner asks the external worker
pool (`apache_beam.runners.worker.worker_pool_main`) for an SDK harness; the pool starts that
harness as a process of its own. As on a Dataflow worker, the harness has the project on its
path but neither the tests nor the launcher's environment (no `KERAS_BACKEND`), and shares no
memory with the launcher: every DoFn must unpickle from project code alone, and the model must
load in the harness from the handler's path.

Toy encoder: conftest's TINY_ENCODER_CONFIG (output width 64). A clip of N samples at 16 kHz has
floor((N - 1) / 160) valid frames and ceil(that / 4) tokens.
"""

import concurrent.futures
import math
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import soundfile
import soxr
from accounting import accounted_outputs
from apache_beam.metrics.metric import MetricsFilter
from fingerprints import files_fingerprint
from synthetic_audio import tone
from synthetic_audio import write_audio
from testbed import TINY_ENCODER_CONFIG

from gemma4_audio_embed import encoder
from gemma4_audio_embed.metrics import NAMESPACE
from gemma4_audio_embed.metrics import counter_values
from gemma4_audio_embed.pipeline.cli import run

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60  # each service is up in ~2 s on an idle machine
JOB_SECONDS = 75  # the job takes ~15 s on an idle machine, most of it the harness importing and compiling
STOP_SECONDS = 10
# `python -m apache_beam.runners.worker.worker_pool_main --service_port=0`, plus a log handler:
# without one its "Listening for workers at <address>" line is never printed, and a port picked
# beforehand could be taken by another process before the pool binds it.
POOL_MAIN = (
    "import logging; logging.basicConfig(level=logging.INFO); "
    "from apache_beam.runners.worker import worker_pool_main; "
    "worker_pool_main.main(['--service_port=0'])"
)


def _start(command: list, log: pathlib.Path, env: dict, cwd: pathlib.Path) -> subprocess.Popen:
    """Starts `command` in a session of its own, so that it and its children die together."""
    with open(log, "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)


def _wait_for(found, process: subprocess.Popen, log: pathlib.Path, what: str):
    """Polls `found()` until it returns a value; fails with the log if `process` exits or time runs out."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        if process.poll() is not None:
            pytest.fail(f"The {what} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    pytest.fail(f"The {what} did not start within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


def _live_members(group: int) -> list[int]:
    """Pids of the processes of process group `group` that are not zombies (Linux /proc)."""
    members = []
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp
        except OSError:  # the process ended while we looked
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _stop(process: subprocess.Popen, first_signal: int) -> list[int]:
    """Stops `process` and its session: `first_signal`, then SIGKILL to the group after STOP_SECONDS.

    Returns the pids of the group still alive afterwards (none, unless something leaked).
    """
    try:
        process.send_signal(first_signal)
        process.wait(STOP_SECONDS)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    if _live_members(process.pid):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + STOP_SECONDS
    while _live_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _live_members(process.pid)


@pytest.fixture(scope="module")
def portable_services(tmp_path_factory):
    """Starts the job service and the worker pool; yields `(job endpoint, pool address, pool log)`.

    Both run from an empty folder. The pool gets the repository (not tests/) on PYTHONPATH, this
    interpreter first on PATH (it starts harnesses as `python`), and no KERAS_BACKEND. On exit the
    pool gets SIGINT (it then stops its harnesses), the job service SIGTERM, and anything left
    in either session SIGKILL; a process that still lives fails the test.
    """
    folder = tmp_path_factory.mktemp("portable")
    env = {name: value for name, value in os.environ.items() if name not in ("KERAS_BACKEND", "PYTHONPATH")}
    pool_env = dict(
        env,
        PYTHONPATH=str(REPO_ROOT),
        PATH=os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")]),
    )
    port_file = folder / "job.port"
    job_log, pool_log = folder / "job_service.log", folder / "worker_pool.log"
    job_service = _start(
        [
            sys.executable,
            "-m",
            "apache_beam.runners.portability.local_job_service_main",
            "--port=0",
            f"--port_file={port_file}",
        ],
        job_log,
        env,
        folder,
    )
    pool = None
    try:
        pool = _start([sys.executable, "-c", POOL_MAIN], pool_log, pool_env, folder)
        job_port = _wait_for(lambda: port_file.exists() and port_file.read_text(), job_service, job_log, "job service")
        listening = _wait_for(
            lambda: re.search(r"Listening for workers at (\S+)", pool_log.read_text()),
            pool,
            pool_log,
            "worker pool",
        )
        pool_address = listening.group(1)
        yield f"localhost:{job_port}", pool_address, pool_log
    finally:
        leaked = _stop(pool, signal.SIGINT) if pool else []
        leaked += _stop(job_service, signal.SIGTERM)
    assert not leaked, f"Processes {leaked} outlived the job service and worker pool."


def _decoded(path: pathlib.Path) -> np.ndarray:
    """The file decoded independently of the pipeline: soundfile, channel mean, one-shot soxr."""
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    mono = samples.mean(axis=1, dtype=np.float32)
    return mono if rate == 16000 else soxr.resample(mono, rate, 16000, quality="HQ")


def _direct_embeddings(model, waveforms: list) -> np.ndarray:
    """The encoder called eagerly on all clips at once, zero-padded to the longest: `float32 [B, T, 64]`.

    One call, not one per clip, because eager JAX takes seconds per call; the valid tokens of
    a clip do not depend on its padding or its batch-mates beyond ~1e-6.
    """
    frontend = encoder.LogMelFrontend()
    clips = [frontend(waveform) for waveform in waveforms]  # ([M_b, F], [M_b]) each
    length = max(features.shape[0] for features, _ in clips)
    mel = np.zeros((len(clips), length, clips[0][0].shape[1]), np.float32)  # [B, M, F]
    mask = np.zeros((len(clips), length), bool)  # [B, M]
    for row, (features, is_valid) in enumerate(clips):
        mel[row, : features.shape[0]] = features
        mask[row, : features.shape[0]] = is_valid
    return keras.ops.convert_to_numpy(model(mel, mask))  # [B, T, 64]


def test_job_runs_on_portable_runner_with_external_worker_pool(tmp_path, tiny_encoder_path, portable_services):
    job_endpoint, pool_address, pool_log = portable_services
    folder = tmp_path / "in"
    folder.mkdir()
    short = write_audio(folder / "a.wav", tone(1.3, 16000, seed=1), 16000, subtype="FLOAT")
    stereo = write_audio(folder / "b.flac", tone(2.1, 22050, channels=2, seed=2), 22050)
    long = write_audio(folder / "long.wav", tone(31.0, 16000, seed=3), 16000, subtype="FLOAT")
    (folder / "not_audio.wav").write_text("This is a text file, not audio.\n" * 20)
    long_waveform = _decoded(long)
    waveforms = {f"{short}@0": _decoded(short), f"{stereo}@0": _decoded(stereo)}
    waveforms |= {f"{long}@{i}": long_waveform[480000 * i : 480000 * (i + 1)] for i in range(2)}  # 30 s, 1 s
    output = str(tmp_path / "out" / "embeddings")
    argv = [
        f"--input={folder}/*",
        f"--output={output}",
        f"--weights={tiny_encoder_path}",
        "--bucket_seconds=4",  # buckets of 432 and 3024 frames
        "--runner=PortableRunner",
        f"--job_endpoint={job_endpoint}",
        "--environment_type=EXTERNAL",
        f"--environment_config={pool_address}",
    ]

    # In a thread, so that a hung job fails the test; stopping the services then ends the thread.
    executor = concurrent.futures.ThreadPoolExecutor(1)
    try:
        result = executor.submit(run, argv).result(timeout=JOB_SECONDS)
    except concurrent.futures.TimeoutError:
        pytest.fail(f"The job did not finish within {JOB_SECONDS} s.")
    finally:
        executor.shutdown(wait=False)

    found, dead, _ = accounted_outputs(output)
    assert [record.key for record in found] == sorted(waveforms)
    model = keras.saving.load_model(tiny_encoder_path)
    expected = _direct_embeddings(model, [waveforms[record.key] for record in found])
    for record, waveform, embedding in zip(found, [waveforms[record.key] for record in found], expected):
        assert record.num_tokens == math.ceil(((waveform.shape[0] - 1) // 160) / 4)
        embedding = embedding[: record.num_tokens]
        assert np.linalg.norm(record.embedding - embedding) / np.linalg.norm(embedding) <= 1e-5
        assert record.model_fingerprint == files_fingerprint({"tiny.keras": tiny_encoder_path}, TINY_ENCODER_CONFIG)
    (dead_letter,) = dead
    assert dead_letter["stage"] == "decode" and dead_letter["key"].endswith("not_audio.wav")

    # The counters come back from the harness through the job service.
    counters = counter_values(result.metrics())
    names = ("inputs_read", "clips_read", "clips_embedded", "dead_letters")
    assert {name: counters[name] for name in names} == {
        "inputs_read": 4,
        "clips_read": 4,  # a, b and the two windows of long; none from not_audio
        "clips_embedded": 4,
        "dead_letters": 1,
    }
    # The model was loaded by the harness, which the pool started as a process of its own.
    loads = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE).with_name("load_model_latency_milli_secs"))
    assert sum(load.committed.count for load in loads["distributions"]) >= 1
    assert "Starting worker with command" in pool_log.read_text()
