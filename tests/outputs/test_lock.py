"""Tests for outputs/lock.py: one live run per output prefix, stale locks taken over, on a local disk and on gs://.

The gs:// tests run on the loopback GCS emulator of tests/conftest.py, taught generation
preconditions (`gcs_preconditions`), which the emulator itself ignores.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from gemma4_audio_embed.outputs.lock import OutputHeld
from gemma4_audio_embed.outputs.lock import OutputLock
from gemma4_audio_embed.outputs.lock import describe_holder
from gemma4_audio_embed.outputs.lock import is_stale
from gemma4_audio_embed.outputs.lock import release_run_lock


def _holder(path) -> dict:
    return json.loads(open(path).read())


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_second_lock_on_a_held_prefix_fails_naming_the_holder(tmp_path):
    path = str(tmp_path / "out-lock.json")
    first = OutputLock(path, "run-a")
    assert first.acquire(heartbeat=False) is None
    with pytest.raises(OutputHeld) as held:
        OutputLock(path, "run-b").acquire(heartbeat=False)
    assert held.value.holder["run_id"] == "run-a" and held.value.holder["pid"] == os.getpid()
    text = describe_holder(held.value.holder)
    assert text.startswith(f"run run-a (host {socket.gethostname()}, pid {os.getpid()}")
    assert "no heartbeat: a submitted job" in text
    first.release()
    assert not os.path.exists(path)
    assert OutputLock(path, "run-b").acquire(heartbeat=False) is None


def test_of_many_simultaneous_launches_exactly_one_wins(tmp_path):
    path = str(tmp_path / "out-lock.json")
    start, winners, losers = threading.Barrier(8), [], []

    def launch(index):
        start.wait()
        try:
            OutputLock(path, f"run-{index}").acquire(heartbeat=False)
            winners.append(index)
        except OutputHeld:
            losers.append(index)

    threads = [threading.Thread(target=launch, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and len(losers) == 7
    assert _holder(path)["run_id"] == f"run-{winners[0]}"


def test_a_lock_whose_process_is_gone_is_taken_over_and_reported(tmp_path):
    path = tmp_path / "out-lock.json"
    stale = {
        "run_id": "run-a",
        "host": socket.gethostname(),
        "pid": _dead_pid(),
        "started": 1.0,
        "heartbeat": time.time(),
    }
    path.write_text(json.dumps(stale))
    assert is_stale(stale)
    lock = OutputLock(str(path), "run-b")
    assert lock.acquire(heartbeat=False)["run_id"] == "run-a"
    assert _holder(path)["run_id"] == "run-b"


@pytest.mark.parametrize(
    "heartbeat_age, stale",
    [(10.0, False), (299.0, False), (301.0, True)],
    ids=["fresh", "just_fresh", "too_old"],
)
def test_a_lock_of_another_host_is_stale_when_its_heartbeat_is_older_than_its_stale_seconds(heartbeat_age, stale):
    holder = {"run_id": "r", "host": "elsewhere", "pid": 1, "heartbeat": 1000.0, "stale_seconds": 300.0}
    assert is_stale(holder, now=1000.0 + heartbeat_age) is stale


def test_a_submitted_jobs_lock_without_heartbeat_is_never_stale_and_garbage_always_is(tmp_path):
    assert not is_stale({"run_id": "r", "host": "elsewhere", "pid": 1, "heartbeat": None}, now=1e12)
    path = tmp_path / "out-lock.json"
    path.write_text("not a lock")
    assert OutputLock(str(path), "run-b").acquire(heartbeat=False) == {"content": "not a lock"}


def test_the_heartbeat_keeps_the_lock_fresh_until_release(tmp_path):
    path = str(tmp_path / "out-lock.json")
    lock = OutputLock(path, "run-a", heartbeat_seconds=0.05, stale_seconds=1.0)
    lock.acquire(heartbeat=True)
    first = _holder(path)["heartbeat"]
    time.sleep(0.3)
    assert _holder(path)["heartbeat"] > first
    lock.release()
    assert not os.path.exists(path)


def test_release_removes_only_the_runs_own_lock(tmp_path):
    path = str(tmp_path / "out-lock.json")
    OutputLock(path, "run-a").acquire(heartbeat=False)
    assert not release_run_lock(path, "run-b")
    assert _holder(path)["run_id"] == "run-a"
    assert release_run_lock(path, "run-a")
    assert not os.path.exists(path) and not release_run_lock(path, "run-a")


def test_a_heartbeat_after_the_job_released_the_lock_does_not_bring_it_back(tmp_path):
    path = str(tmp_path / "out-lock.json")
    lock = OutputLock(path, "run-a", heartbeat_seconds=0.05, stale_seconds=1.0)
    lock.acquire(heartbeat=True)
    assert release_run_lock(path, "run-a")  # the job's last step
    time.sleep(0.2)
    assert not os.path.exists(path)
    OutputLock(path, "run-b").acquire(heartbeat=False)  # the next run
    lock.release()  # the first launcher ends: the next run's lock stays
    assert _holder(path)["run_id"] == "run-b"


def test_bad_timings_raise_at_construction(tmp_path):
    with pytest.raises(ValueError, match="heartbeat_seconds"):
        OutputLock(str(tmp_path / "lock.json"), "r", heartbeat_seconds=10, stale_seconds=5)


def test_on_gcs_two_launches_cannot_both_win_and_a_stale_lock_is_taken_over(gcs_preconditions):
    path = f"{gcs_preconditions}/out/emb-lock.json"
    first = OutputLock(path, "run-a")
    first.acquire(heartbeat=False)
    with pytest.raises(OutputHeld, match="run run-a"):
        OutputLock(path, "run-b").acquire(heartbeat=False)
    assert not release_run_lock(path, "run-b")
    first.release()
    stale = OutputLock(path, "run-c", heartbeat_seconds=0.05, stale_seconds=0.1)
    stale.acquire(heartbeat=False)  # a submitted job's lock has no heartbeat: make one that has, and age it
    stale._store.replace(
        json.dumps({"run_id": "run-c", "host": "elsewhere", "pid": 1, "heartbeat": 1.0, "stale_seconds": 0.1}).encode(),
        stale._version,
    )
    assert OutputLock(path, "run-d").acquire(heartbeat=False)["run_id"] == "run-c"
    assert release_run_lock(path, "run-d")


def test_a_file_system_without_hard_links_still_gets_one_lock(tmp_path, monkeypatch):
    def no_links(source, target):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    path = str(tmp_path / "out-lock.json")
    OutputLock(path, "run-a").acquire(heartbeat=False)
    with pytest.raises(OutputHeld):
        OutputLock(path, "run-b").acquire(heartbeat=False)
    assert _holder(path)["run_id"] == "run-a"
    assert [entry.name for entry in tmp_path.iterdir()] == ["out-lock.json"]  # no temporary left
