"""bench/device_check.py runs unchanged on a CPU: CI runs it on the tiny config and reads its table.

Tiny config as in tests/conftest.py; rows of 3 s, batches of 1 and 2 rows, a 2-file corpus.
"""

import importlib.util

import pytest
from testbed import REPO_ROOT


@pytest.fixture(scope="module")
def device_check():
    spec = importlib.util.spec_from_file_location("device_check", REPO_ROOT / "bench" / "device_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_device_check_on_the_tiny_config_prints_one_table_within_its_limits(device_check, tmp_path, capsys):
    report = device_check.main(
        [
            "--config",
            "tiny",
            "--batch_rows",
            "1,2",
            "--row_seconds",
            "3",
            "--repeats",
            "1",
            "--corpus_files",
            "2",
            "--json",
            str(tmp_path / "report.json"),
        ]
    )
    table = capsys.readouterr().out
    assert table.count("| encoder ") == 4  # float32 and bfloat16 at 1 and 2 rows
    for check in ("parity fp32", "bf16 cosine", "peak memory", "pipeline end to end", "pipeline host CPU"):
        assert f"| {check}" in table
    assert "FAIL" not in table
    assert report["parity"]["float32_relative_error"] <= 1e-4
    assert report["parity"]["bfloat16_min_token_cosine"] >= 0.99
    assert report["device"]["platform"] == "cpu" and report["device"]["peak_tflops"] is None
    assert report["end_to_end"]["records"] >= 2 and report["end_to_end"]["devices"] == {"count": 1, "kind": "cpu"}
    assert (tmp_path / "report.json").exists()


@pytest.mark.parametrize(
    "kind, peak",
    [
        ("TPU v5 lite", 197.0),
        ("TPU v6 lite", 918.0),
        ("NVIDIA H100 80GB HBM3", 989.0),
        ("NVIDIA L4", 121.0),
        ("cpu", None),
    ],
)
def test_peak_is_looked_up_by_device_kind(device_check, kind, peak):
    assert device_check.peak_tflops(kind) == peak


def test_device_check_refuses_another_keras_backend_in_one_line(device_check, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    with pytest.raises(SystemExit, match="device_check.py runs on JAX .* Received: KERAS_BACKEND=torch"):
        device_check.main(["--config", "tiny"])
