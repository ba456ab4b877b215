"""One run per output, replaced only when the new one is complete, checked by the job itself, nothing left behind.

Corpus: six 1-2 s tones at 16 kHz (6 clips, 6 records), the tiny encoder of tests/conftest.py,
`--num_shards 2`. One finished run is shared (copied per test that changes it); the kill test
runs the CLI in a subprocess.
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import apache_beam as beam
import pytest
from accounting import accounted_outputs
from apache_beam.pipeline import PTransformOverride
from apache_beam.testing.test_pipeline import TestPipeline
from record_bytes import record_bytes_by_key
from synthetic_audio import tone
from synthetic_audio import write_audio
from testbed import REPO_ROOT

from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.outputs.lock import OutputLock
from gemma4_audio_embed.pipeline import verify
from gemma4_audio_embed.pipeline.cli import main
from gemma4_audio_embed.pipeline.cli import run
from gemma4_audio_embed.records import record_file_payloads

FAST_FLAGS = ["--runner", "FnApiRunner", "--bucket_seconds", "4"]
NUM_CLIPS = 6


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lifecycle") / "in"
    folder.mkdir()
    for index in range(NUM_CLIPS):
        write_audio(folder / f"clip{index}.wav", tone(1.0 + 0.2 * index, 16000, seed=index), 16000)
    return folder


def _argv(corpus, output, weights, *flags):
    return ["--input", f"{corpus}/*", "--output", str(output), "--weights", str(weights), *FAST_FLAGS, *flags]


def _files(folder: pathlib.Path) -> dict:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


@pytest.fixture(scope="module")
def finished(corpus, tiny_encoder_path, tmp_path_factory):
    """A finished run's output prefix, `--num_shards 2`."""
    output = tmp_path_factory.mktemp("finished") / "emb"
    run(_argv(corpus, output, tiny_encoder_path, "--num_shards", "2"))
    accounted_outputs(str(output))
    return output


@pytest.fixture()
def copied(finished, tmp_path):
    shutil.copytree(finished.parent, tmp_path / "out")
    return tmp_path / "out" / "emb"


def _launch_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_status:
        main(argv)
    assert exit_status.value.code == 2
    return capsys.readouterr().err


def test_a_launch_into_a_prefix_another_live_run_holds_stops_naming_it(corpus, tiny_encoder_path, copied, capsys):
    before = _files(copied.parent)
    holder = OutputLock(OutputLayout(str(copied)).lock, "20261205T000000Z-abcdef")
    holder.acquire(heartbeat=True)  # a live run of this host and process
    try:
        error = _launch_error(_argv(corpus, copied, tiny_encoder_path, "--overwrite"), capsys)
    finally:
        holder.release()
    assert error.startswith(f"gemma4-embed: error: --output {copied} is in use by run 20261205T000000Z-abcdef (host ")
    assert f"pid {os.getpid()}" in error and error.count("\n") == 1
    assert _files(copied.parent) == before


def test_a_run_into_another_runs_complete_output_stops_without_overwrite(corpus, tiny_encoder_path, copied, capsys):
    before = _files(copied.parent)
    summary = json.loads((copied.parent / "emb-summary.json").read_text())
    error = _launch_error(_argv(corpus, copied, tiny_encoder_path), capsys)
    assert f"holds the complete output of run {summary['run_id']} (6 records). Pass --overwrite" in error
    assert _files(copied.parent) == before


def test_a_launch_that_stops_at_a_complete_output_still_sweeps_a_dead_runs_leftovers(
    corpus, tiny_encoder_path, copied, capsys
):
    before = _files(copied.parent)
    leftover = copied.parent / "beam-temp-emb-dead-letter-20261205T000000Z-abcdef-0123"
    leftover.mkdir()
    (leftover / "part").write_text("half")
    error = _launch_error(_argv(corpus, copied, tiny_encoder_path), capsys)
    assert "Pass --overwrite" in error
    assert not leftover.exists()
    assert _files(copied.parent) == before  # the complete output untouched


def test_overwrite_with_another_shard_count_replaces_the_old_set_once_complete(
    corpus, tiny_encoder_path, finished, copied
):
    old = record_bytes_by_key(sorted(finished.parent.glob("emb-*-of-*.tfrecord")))
    (copied.parent / "emb-report.html").write_text("the old set's page")  # goes with the old set
    run(_argv(corpus, copied, tiny_encoder_path, "--num_shards", "3", "--overwrite"))
    names = sorted(path.name for path in copied.parent.iterdir())
    summary = json.loads((copied.parent / "emb-summary.json").read_text())
    assert names == sorted(
        [f"emb-0000{shard}-of-00003.tfrecord" for shard in range(3)]
        + [f"emb-index-0000{shard}-of-00003.parquet" for shard in range(3)]
        + summary["dead_letter_files"]
        + ["emb-stamp.json", "emb-summary.json"]
    )
    found, _, _ = accounted_outputs(str(copied))
    assert len(found) == NUM_CLIPS
    assert record_bytes_by_key(sorted(copied.parent.glob("emb-*-of-*.tfrecord"))) == old
    assert verify.verify(str(copied))[1] == []


class _DropOneRecord(beam.PTransform):
    """A GroupByKey that loses the first record of the group it is given first: a runner losing data."""

    def expand(self, keyed):
        return keyed | beam.GroupByKey() | beam.ParDo(_DropFirst())


class _DropFirst(beam.DoFn):
    def setup(self):
        self.dropped = False

    def process(self, element):
        target, pieces = element
        pieces = list(pieces)
        if not self.dropped and any(piece is not None for piece in pieces):
            self.dropped = True
            first = next(index for index, piece in enumerate(pieces) if piece is not None)
            pieces.pop(first)
        yield target, pieces


class _LosingRunner(PTransformOverride):
    def matches(self, applied):
        return applied.full_label == "WriteRecords/GroupByFile"

    def get_replacement_transform_for_applied_ptransform(self, applied):
        return _DropOneRecord()


class _LossyPipeline(TestPipeline):
    def run(self, test_runner_api="AUTO"):
        self.replace_all([_LosingRunner()])
        return super().run(test_runner_api=False)


def test_a_record_lost_on_the_way_fails_the_run_naming_it_and_leaves_the_old_output(corpus, tiny_encoder_path, copied):
    before = _files(copied.parent)
    argv = _argv(corpus, copied, tiny_encoder_path, "--num_shards", "2", "--overwrite")
    with pytest.raises(Exception, match=r"the encoder step made 6 records, the files written hold 5; missing keys: /"):
        run(argv, test_pipeline=_LossyPipeline(runner="FnApiRunner", argv=argv))
    after = _files(copied.parent)
    new_files = sorted(set(after) - set(before))  # the failed run's own dead letters (none here), kept by run id
    assert len(new_files) == 1 and new_files[0].startswith("emb-dead-letter-") and after[new_files[0]] == b""
    run_id = json.loads(before["emb-summary.json"])["run_id"]
    assert run_id not in new_files[0]
    assert {name: after[name] for name in before} == before  # the check failed before anything moved
    assert not (copied.parent / "emb-lock.json").exists()
    assert [path.name for path in copied.parent.iterdir() if path.is_dir()] != []  # its staged files, for a look


def test_a_killed_run_leaves_nothing_half_written_and_the_next_run_cleans_up(
    corpus, tiny_encoder_path, tmp_path, caplog
):
    output = tmp_path / "out" / "emb"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    job = subprocess.Popen(
        [sys.executable, "-m", "gemma4_audio_embed", *_argv(corpus, output, tiny_encoder_path, "--num_shards", "2")],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("out/emb.temp-*/spill/*.spill")) and time.monotonic() < deadline:
        assert job.poll() is None, "the job ended before it wrote a record"
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGKILL)  # the job and its workers, while writing
    job.wait()
    for record_file in output.parent.glob("emb-*-of-*.tfrecord"):  # whatever has a final name is whole
        list(record_file_payloads(str(record_file)))
    assert not (output.parent / "emb-summary.json").exists()
    _, violations = verify.verify(str(output))
    assert any(line.startswith("VIOLATION leftovers: ") and ".temp-" in line for line in violations)
    assert any(line.startswith("VIOLATION lock: ") for line in violations)

    run(_argv(corpus, output, tiny_encoder_path, "--num_shards", "2"))

    assert "Taking over the output lock" in caplog.text and "Removing" in caplog.text
    accounted_outputs(str(output))
    assert verify.verify(str(output))[1] == []
