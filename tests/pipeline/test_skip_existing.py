"""Resumable reruns: `--skip_existing` writes one record file per input and skips finished inputs.

Corpus: four 1-2 s tones at 16 kHz (one file each) and a tar shard of two members, with the
tiny encoder of tests/conftest.py. Every input file yields its own record file.
"""

import json
import pathlib

import pytest
from accounting import accounted_outputs
from record_bytes import record_bytes_by_key
from synthetic_audio import audio_bytes
from synthetic_audio import tone
from synthetic_audio import write_audio
from synthetic_audio import write_tar

from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.pipeline.cli import run

FAST_FLAGS = ["--runner", "FnApiRunner", "--bucket_seconds", "4"]


@pytest.fixture()
def corpus(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    paths = [write_audio(folder / f"clip{i}.wav", tone(1.0 + 0.25 * i, 16000, seed=i), 16000) for i in range(4)]
    members = {f"s{i}.flac": audio_bytes(tone(1.5, 16000, seed=10 + i), 16000, "FLAC") for i in range(2)}
    paths.append(write_tar(folder / "shard.tar", members))
    return folder, paths


def _run(folder, output, weights):
    run(["--input", f"{folder}/*", "--output", output, "--weights", str(weights), "--skip_existing", *FAST_FLAGS])
    summary = json.loads(pathlib.Path(f"{output}-summary.json").read_text())
    if summary["input_files_skipped"] == 0:  # a rerun writes only what it did: its summary counts less
        accounted_outputs(output, f"{output}-by-input/*.tfrecord")
    return summary


def _record_bytes(output):
    """{key: serialized record} over every per-input file; fails on a duplicate key."""
    return record_bytes_by_key(sorted(pathlib.Path(f"{output}-by-input").glob("*.tfrecord")))


def test_each_input_file_gets_its_own_record_file(corpus, tmp_path, tiny_encoder_path):
    folder, paths = corpus
    output = str(tmp_path / "out" / "emb")
    summary = _run(folder, output, tiny_encoder_path)
    written = {str(p) for p in pathlib.Path(f"{output}-by-input").glob("*.tfrecord")}
    assert written == {OutputLayout(output).input_files(str(path))[0] for path in paths}
    assert summary["records"] == 6 and summary["input_files_skipped"] == 0
    assert summary["outputs"]["records"] == f"{output}-by-input/*.tfrecord"
    indexes = {str(p) for p in pathlib.Path(f"{output}-by-input").glob("*.index.parquet")}
    assert indexes == {p.removesuffix(".tfrecord") + ".index.parquet" for p in written}


def test_rerun_after_deleting_outputs_redoes_only_those_inputs_and_restores_the_full_result(
    corpus, tmp_path, tiny_encoder_path
):
    folder, paths = corpus
    output = str(tmp_path / "out" / "emb")
    _run(folder, output, tiny_encoder_path)
    full = _record_bytes(output)
    for path in (paths[1], paths[4]):  # one audio file and the tar shard (2 records)
        pathlib.Path(OutputLayout(output).input_files(str(path))[0]).unlink()

    first_dead_letters = sorted(path.name for path in pathlib.Path(output).parent.glob("emb-dead-letter-*.jsonl"))
    summary = _run(folder, output, tiny_encoder_path)

    assert summary["input_files_skipped"] == 3
    assert summary["records"] == 3  # clip1 and the tar's two members, nothing else
    assert _record_bytes(output) == full
    dead_letters = sorted(path.name for path in pathlib.Path(output).parent.glob("emb-dead-letter-*.jsonl"))
    assert len(first_dead_letters) == 1 and len(dead_letters) == 2  # every run's dead letters are kept
    assert summary["dead_letter_files"] == [name for name in dead_letters if name not in first_dead_letters]
    assert summary["dead_letter_files"][0].startswith(f"emb-dead-letter-{summary['run_id']}-")


def test_rerun_of_a_finished_job_does_nothing(corpus, tmp_path, tiny_encoder_path):
    folder, _ = corpus
    output = str(tmp_path / "out" / "emb")
    _run(folder, output, tiny_encoder_path)
    full = _record_bytes(output)
    summary = _run(folder, output, tiny_encoder_path)
    assert summary["input_files_skipped"] == 5 and summary["records"] == 0
    assert _record_bytes(output) == full


def test_rerun_with_another_compute_dtype_or_model_stops_at_launch(corpus, tmp_path, tiny_encoder_path):
    from testbed import TINY_ENCODER_CONFIG

    from gemma4_audio_embed import encoder

    folder, _ = corpus
    output = str(tmp_path / "out" / "emb")
    _run(folder, output, tiny_encoder_path)
    full, stamp = _record_bytes(output), pathlib.Path(f"{output}-stamp.json").read_text()
    other_model = tmp_path / "other.keras"
    encoder.default_encoder(seed=2, **TINY_ENCODER_CONFIG).save(other_model)
    argv = ["--input", f"{folder}/*", "--output", output, "--skip_existing", *FAST_FLAGS]

    with pytest.raises(ValueError, match=r"compute_dtype: 'float32' -> 'bfloat16'") as error:
        run([*argv, "--weights", str(tiny_encoder_path), "--compute_dtype", "bfloat16"])
    assert "model_fingerprint" in str(error.value)  # bfloat16 weights are other weights
    with pytest.raises(ValueError, match=r"Differences \(output's -> this run's\): model_fingerprint: '[0-9a-f]{64}'"):
        run([*argv, "--weights", str(other_model)])
    assert _record_bytes(output) == full and pathlib.Path(f"{output}-stamp.json").read_text() == stamp
    pathlib.Path(f"{output}-stamp.json").unlink()  # records that nothing says the origin of
    with pytest.raises(ValueError, match="holds records but no stamp"):
        run([*argv, "--weights", str(tiny_encoder_path)])


def test_a_manifest_naming_an_audio_file_that_is_also_an_input_gets_its_own_record_file(
    corpus, tmp_path, tiny_encoder_path
):
    folder, paths = corpus
    manifest = folder / "list.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": paths[0].name, "id": "m"}) + "\n")
    output = str(tmp_path / "out" / "emb")
    _run(folder, output, tiny_encoder_path)
    full = _record_bytes(output)
    assert f"{manifest}#m@0" in full and f"{paths[0]}@0" in full
    assert [key for key, _ in record_bytes_by_key([OutputLayout(output).input_files(str(manifest))[0]]).items()] == [
        f"{manifest}#m@0"
    ]

    summary = _run(folder, output, tiny_encoder_path)  # every input file done: nothing to redo, nothing lost

    assert summary["input_files_skipped"] == 6 and summary["records"] == 0
    assert _record_bytes(output) == full


def test_skip_existing_into_a_plain_runs_output_or_a_broken_stamp_stops_at_launch(corpus, tmp_path, tiny_encoder_path):
    folder, _ = corpus
    output = tmp_path / "out" / "emb"
    output.parent.mkdir()
    argv = [
        "--input",
        f"{folder}/*",
        "--output",
        str(output),
        "--skip_existing",
        "--weights",
        str(tiny_encoder_path),
        *FAST_FLAGS,
    ]
    (output.parent / "emb-00000-of-00001.tfrecord").write_bytes(b"")
    with pytest.raises(ValueError, match="holds sharded records of a run without --skip_existing"):
        run(argv)
    (output.parent / "emb-00000-of-00001.tfrecord").unlink()
    (output.parent / "emb-stamp.json").write_text("{broken")
    with pytest.raises(ValueError, match="emb-stamp.json is not the JSON stamp a run writes"):
        run(argv)
