"""Tests for pipeline/verify.py: a good output passes; each kind of damage fails, named.

One run (three 1-1.5 s tones, tiny encoder of tests/conftest.py, `--num_shards 2`) is copied
and damaged once per test.
"""

import json
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
from synthetic_audio import tone
from synthetic_audio import write_audio

from gemma4_audio_embed.outputs import schema
from gemma4_audio_embed.outputs.record_files import write_record_file
from gemma4_audio_embed.pipeline import verify
from gemma4_audio_embed.pipeline.cli import main
from gemma4_audio_embed.pipeline.cli import run
from gemma4_audio_embed.records import record_file_payloads


@pytest.fixture(scope="module")
def good_output(tmp_path_factory, tiny_encoder_path):
    folder = tmp_path_factory.mktemp("verify")
    for index in range(3):
        write_audio(folder / f"clip{index}.wav", tone(1.0 + 0.25 * index, 16000, seed=index), 16000)
    output = folder / "out" / "emb"
    flags = ["--runner", "FnApiRunner", "--bucket_seconds", "4", "--num_shards", "2"]
    run(["--input", str(folder / "*.wav"), "--output", str(output), "--weights", str(tiny_encoder_path), *flags])
    return output


@pytest.fixture()
def damaged(good_output, tmp_path):
    """A copy of the good output; returns its prefix."""
    shutil.copytree(good_output.parent, tmp_path / "out")
    return tmp_path / "out" / "emb"


def _fullest_shard(output) -> str:
    """The record file holding the most bytes: which shard a key lands in follows the key's hash,
    and the keys hold the test's temporary path, so either shard may be the empty one."""
    return str(max(output.parent.glob("emb-0000?-of-00002.tfrecord"), key=lambda path: path.stat().st_size))


def _violations(output):
    table, violations = verify.verify(str(output))
    return violations


def test_a_good_output_passes_and_the_console_script_prints_its_table(good_output, capsys, monkeypatch):
    assert _violations(good_output) == []
    monkeypatch.setattr(sys, "argv", ["gemma4-embed", "verify", str(good_output)])
    with pytest.raises(SystemExit) as exit_status:
        main()
    assert exit_status.value.code == 0
    printed = capsys.readouterr().out
    assert "records       3" in printed and printed.rstrip().endswith("OK")


def test_a_truncated_record_file_fails(damaged):
    shard = pathlib.Path(_fullest_shard(damaged))
    shard.write_bytes(shard.read_bytes()[:-10])
    violations = _violations(damaged)
    assert any(line.startswith("VIOLATION framing:") and "truncated" in line for line in violations)
    assert verify.main([str(damaged)]) == 1


def test_the_last_line_counts_the_violations_in_words(damaged, capsys):
    (damaged.parent / "emb-stamp.json").unlink()
    assert verify.main([str(damaged)]) == 1
    assert capsys.readouterr().out.rstrip().endswith(f"{damaged}: FAILED, 1 violation")


def test_a_flipped_byte_fails(damaged):
    shard = pathlib.Path(_fullest_shard(damaged))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    assert any(line.startswith("VIOLATION framing:") and "crc32c mismatch" in line for line in _violations(damaged))


def test_a_duplicated_record_file_fails(damaged):
    shutil.copy(_fullest_shard(damaged), damaged.parent / "emb-00002-of-00002.tfrecord")
    violations = _violations(damaged)
    assert any(line.startswith("VIOLATION unique keys:") for line in violations)
    assert any(line.startswith("VIOLATION shards:") and "[2]" in line for line in violations)


def test_a_mixed_fingerprint_output_fails(damaged):
    shard = _fullest_shard(damaged)
    first, *rest = record_file_payloads(shard)  # another model's record beside this model's others
    fields = schema.decoded_example(first)._asdict() | {"model_fingerprint": "0" * 64}
    fields.pop("num_tokens"), fields.pop("embedding_dim")
    fields["metadata"] = "{}"
    write_record_file(shard, [schema.encoded_example(**fields), *rest])
    assert any(
        line.startswith("VIOLATION fingerprint:") and "2 model fingerprints" in line for line in _violations(damaged)
    )


def test_a_copied_output_passes(good_output, tmp_path):
    shutil.copytree(good_output.parent, tmp_path / "elsewhere")  # the index names files, not paths
    assert _violations(tmp_path / "elsewhere" / "emb") == []


@pytest.mark.parametrize(
    "damage, violation",
    [
        (
            lambda output: (output.parent / "emb-summary.json").write_text("{not json"),
            "VIOLATION unreadable: .*emb-summary.json: JSONDecodeError",
        ),
        (
            lambda output: (
                (output.parent / "emb-by-input").mkdir()
                or shutil.copy(next(output.parent.glob("emb-00000-*")), output.parent / "emb-by-input" / "x.tfrecord")
            ),
            "VIOLATION mixed: ",
        ),
    ],
    ids=["summary_not_json", "sharded_and_per_input_files"],
)
def test_an_output_verify_cannot_read_as_it_should_is_a_violation_not_a_crash(damaged, damage, violation):
    damage(damaged)
    assert any(re.match(violation, line) for line in _violations(damaged))


def test_an_unreadable_index_is_named_and_the_other_checks_still_run(damaged):
    index = damaged.parent / "emb-index-00000-of-00002.parquet"
    index.write_bytes(index.read_bytes()[:100])
    (damaged.parent / "emb-stamp.json").unlink()
    violations = _violations(damaged)
    assert any(re.match(r"VIOLATION unreadable: .*emb-index-00000-of-00002\.parquet: ", line) for line in violations)
    assert any(line.startswith("VIOLATION stamp: ") for line in violations)  # the other checks still run


def test_a_summary_that_miscounts_inputs_or_dead_letters_fails(damaged):
    summary_path = damaged.parent / "emb-summary.json"
    summary = json.loads(summary_path.read_text())
    summary_path.write_text(json.dumps({**summary, "inputs": summary["inputs"] + 1, "dead_letters": 2}))
    violations = _violations(damaged)
    assert any(
        line.startswith("VIOLATION accounting: the summary counts 2 dead letters, the files hold 0")
        for line in violations
    )
    assert any(line.startswith("VIOLATION accounting: the summary counts 4 inputs") for line in violations)


def test_leftovers_of_a_killed_run_and_a_held_lock_are_violations(damaged):
    (damaged.parent / "emb.temp-20261205T081500Z-3fa2c1" / "spill").mkdir(parents=True)
    (damaged.parent / "emb-summary.json.tmp-0123456789abcdef0123456789abcdef").write_text("{")
    (damaged.parent / "emb-lock.json").write_text(json.dumps({"run_id": "20261205T081500Z-3fa2c1"}))
    violations = _violations(damaged)
    leftovers = [line for line in violations if line.startswith("VIOLATION leftovers: 2 temporary")]
    assert len(leftovers) == 1 and "emb.temp-20261205T081500Z-3fa2c1" in leftovers[0]
    assert any(line.startswith("VIOLATION lock: ") and "20261205T081500Z-3fa2c1" in line for line in violations)


def test_verify_loads_no_pipeline_module_nor_the_native_libraries_it_pulls_in(good_output):
    """The cause of `verify`'s occasional abort at exit (134): the pipeline's imports (torch via Beam's RunInference, PyAV)."""
    probe = (
        "import sys; from gemma4_audio_embed.pipeline.cli import main\n"
        "try:\n    main(['verify', sys.argv[1]])\nexcept SystemExit as done:\n    code = done.code\n"
        "loaded = sorted(name for name in ('torch', 'av', 'keras', 'jax', 'tensorflow', "
        "'gemma4_audio_embed.pipeline.graph', 'gemma4_audio_embed.pipeline.launch') if name in sys.modules)\n"
        "print(code, loaded)"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(good_output)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "0 []"


def test_a_prefix_no_run_wrote_to_is_one_line_naming_the_mistake(good_output, capsys):
    assert verify.main([str(good_output) + "-typo"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"gemma4-embed verify: error: no file is named {good_output}-typo-...")


def test_a_folder_given_for_the_prefix_is_one_line_naming_the_mistake(good_output, capsys):
    assert verify.main([str(good_output.parent)]) == 2
    assert "is a folder; give the run's --output prefix" in capsys.readouterr().err


def test_a_reader_that_closes_stdout_early_leaves_verifys_exit_status_and_no_traceback(good_output):
    command = [sys.executable, "-m", "gemma4_audio_embed", "verify", str(good_output)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # as `gemma4-embed verify PREFIX | true` does
    stderr = process.communicate(timeout=300)[1].decode()
    assert process.returncode == 0
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr
