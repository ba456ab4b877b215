"""`gemma4-embed report`: every figure's numbers against the summary, the index and the records, and the page in Chromium.

One run of the tiny encoder (tests/conftest.py) on a manifest corpus with metadata, shared by
every test here: seven clips, one of 35 s (two windows), and one input that is not audio.
"""

import json
import pathlib
import re
import subprocess
import time

import numpy as np
import pyarrow.parquet
import pytest
from synthetic_audio import audio_bytes
from synthetic_audio import tone
from synthetic_audio import write_manifest

from gemma4_audio_embed import records
from gemma4_audio_embed.pipeline.cli import main
from gemma4_audio_embed.pipeline.cli import run
from gemma4_audio_embed.pipeline.report.page import MARKER_PIXELS

CHROMIUM = pathlib.Path("/usr/bin/chromium")  # .ci/run installs it: apt-get install -y chromium
# (file, seconds, rate, channels, language, speaker): 8 records from 7 audio inputs, the 35 s one in two windows.
CLIPS = [
    ("a.wav", 1.2, 16000, 1, "en", "s1"),
    ("b.wav", 2.0, 16000, 1, "en", "s2"),
    ("c.wav", 1.5, 22050, 2, "fr", "s1"),
    ("d.flac", 3.0, 16000, 1, "fr", "s3"),
    ("e.flac", 1.1, 48000, 1, "en", "s1"),
    ("f.wav", 35.0, 16000, 1, "de", "s2"),
    ("g.wav", 2.5, 8000, 1, "en", "s2"),
]
TRANSCRIPT = "the quick brown fox jumps over the lazy dog"


@pytest.fixture(scope="module")
def reported(tmp_path_factory, tiny_encoder_path):
    """`(output prefix, report data, report path)` of one run and its report."""
    folder = tmp_path_factory.mktemp("corpus")
    lines = []
    for index, (name, seconds, rate, channels, language, speaker) in enumerate(CLIPS):
        data = audio_bytes(
            tone(seconds, rate, channels, seed=index), rate, format="FLAC" if name.endswith("flac") else "WAV"
        )
        (folder / name).write_bytes(data)
        text = " ".join([TRANSCRIPT] * (1 + index))  # 43 to 307 characters: text, not categories
        lines.append({"audio_filepath": name, "id": name, "language": language, "speaker": speaker, "text": text})
    (folder / "broken.wav").write_bytes(b"this is not audio at all")
    lines.append({"audio_filepath": "broken.wav", "id": "broken", "language": "en", "speaker": "s9", "text": "x"})
    manifest = write_manifest(folder / "corpus.jsonl", lines)
    output = str(tmp_path_factory.mktemp("out") / "e")
    flags = ["--input", str(manifest), "--output", output, "--weights", str(tiny_encoder_path)]
    run([*flags, "--runner", "FnApiRunner", "--bucket_seconds", "4", "--quiet"])
    with pytest.raises(SystemExit) as done:
        main(["report", output, "--color_by", "language"])
    assert done.value.code == 0
    path = pathlib.Path(f"{output}-report.html")
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', path.read_text(), re.S)
    return output, json.loads(found.group(1)), path


def _figure(data, figure_id):
    (figure,) = [figure for figure in data["figures"] if figure["id"] == figure_id]
    return figure["numbers"]


def _summary(output):
    return json.loads(pathlib.Path(f"{output}-summary.json").read_text())


def _index(output):
    tables = [
        pyarrow.parquet.read_table(path) for path in sorted(pathlib.Path(output).parent.glob("e-index-*.parquet"))
    ]
    return pyarrow.concat_tables(tables).to_pandas()


def test_the_report_lists_every_figure(reported):
    _, data, _ = reported
    assert [figure["id"] for figure in data["figures"]] == [
        "durations",
        "tokens",
        "audio",
        "dead-letters",
        "metadata-id",
        "metadata-language",
        "metadata-speaker",
        "metadata-text",
        "norms",
        "pca",
    ]


def test_durations_and_tokens_agree_with_the_summary_and_the_index(reported):
    output, data, _ = reported
    summary, index = _summary(output), _index(output)
    durations, tokens = _figure(data, "durations"), _figure(data, "tokens")
    assert durations["records"] == tokens["records"] == summary["records"] == len(index) == 8
    assert durations["total_seconds"] == pytest.approx(summary["audio_hours"] * 3600)
    assert durations["total_seconds"] == pytest.approx(index.duration_seconds.sum())
    assert durations["counts"] == np.histogram(index.duration_seconds, bins=durations["edges"])[0].tolist()
    assert tokens["total_tokens"] == summary["tokens"] == index.num_tokens.sum()
    assert tokens["counts"] == np.histogram(index.num_tokens, bins=tokens["edges"])[0].tolist()


def test_inputs_by_audio_agree_with_the_summary_and_the_corpus(reported):
    output, data, _ = reported
    assert (
        _figure(data, "audio")
        == _summary(output)["inputs_by_audio"]
        == {
            "format": {"flac": 2, "wav": 5},  # broken.wav never opened
            "sample_rate": {"16000": 4, "22050": 1, "48000": 1, "8000": 1},
            "channels": {"1": 6, "2": 1},
        }
    )


def test_dead_letters_by_stage_and_reason_agree_with_the_summary(reported):
    output, data, _ = reported
    dead = _figure(data, "dead-letters")
    assert dead["by_stage"] == _summary(output)["dead_letters_by_stage"]
    (reason,) = dead["reasons"]
    assert (reason["stage"], reason["count"]) == ("decode", 1)
    assert reason["reason"].startswith("InputError: Cannot decode <input> as audio")
    assert reason["example_key"].endswith("corpus.jsonl#broken")


def test_metadata_figures_count_each_records_values(reported):
    output, data, _ = reported
    metadata = [json.loads(text) for text in _index(output).metadata]
    language = _figure(data, "metadata-language")
    # Records, not inputs: the 35 s German clip is two records.
    assert language["counts"] == {"en": 4, "de": 2, "fr": 2}
    assert language["counts"] == dict(
        sorted(_count(row["language"] for row in metadata).items(), key=lambda kv: (-kv[1], kv[0]))
    )
    text = _figure(data, "metadata-text")
    assert text["kind"] == "lengths"
    assert sum(text["counts"]) == 8
    assert text["counts"] == np.histogram([len(row["text"]) for row in metadata], bins=text["edges"])[0].tolist()


def _count(values):
    counts = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def test_embedding_figures_agree_with_the_records(reported):
    output, data, _ = reported
    found = list(records.read_records(f"{output}-*-of-*.tfrecord"))
    norms = [np.linalg.norm(record.embedding.astype(np.float64), axis=1).mean() for record in found]
    figure = _figure(data, "norms")
    assert figure["records_read"] == len(found) == 8
    assert figure["mean"] == pytest.approx(np.mean(norms), rel=1e-5)
    assert figure["counts"] == np.histogram(norms, bins=figure["edges"])[0].tolist()
    means = np.stack([record.embedding.astype(np.float64).mean(axis=0) for record in found])
    singular = np.linalg.svd(means - means.mean(axis=0), compute_uv=False)
    pca = _figure(data, "pca")
    assert pca["explained_variance_ratio"] == pytest.approx(
        (singular[:2] ** 2 / (singular**2).sum()).tolist(), rel=1e-4
    )
    assert (pca["color_by"], pca["groups"]) == ("language", {"en": 4, "de": 2, "fr": 2})


def test_the_page_renders_in_headless_chromium_with_every_figure(reported, tmp_path):
    from PIL import Image

    _, data, path = reported
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with apt-get install -y chromium (.ci/run does).")
    screenshot = tmp_path / "report.png"
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--window-size=1400,6000",
        f"--screenshot={screenshot}",
        path.as_uri(),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(screenshot).convert("RGB"))
    for figure in data["figures"]:  # each figure's colour band, drawn only if its PNG decoded and showed
        band = (pixels == np.array(figure["marker"])).all(axis=-1).sum()
        assert band >= 600 * MARKER_PIXELS, f"{figure['id']}: {band} pixels of its band in the screenshot"


def test_dead_letters_a_later_skip_existing_run_superseded_are_not_reported(tmp_path, tiny_encoder_path):
    corpus = tmp_path / "in"
    corpus.mkdir()
    (corpus / "a.wav").write_bytes(audio_bytes(tone(1.0, seed=1), 16000, format="WAV"))
    (corpus / "b.wav").write_bytes(b"not audio yet")  # dead-lettered by the first run, fixed for the second
    (corpus / "c.wav").write_bytes(b"never audio")  # dead-lettered by both
    output = str(tmp_path / "out" / "e")
    flags = ["--input", f"{corpus}/*.wav", "--output", output, "--weights", str(tiny_encoder_path), "--skip_existing"]
    run([*flags, "--runner", "FnApiRunner", "--bucket_seconds", "4", "--quiet"])
    time.sleep(1)  # run ids order runs by their launch second
    (corpus / "b.wav").write_bytes(audio_bytes(tone(1.5, seed=2), 16000, format="WAV"))
    run([*flags, "--runner", "FnApiRunner", "--bucket_seconds", "4", "--quiet"])
    with pytest.raises(SystemExit):
        main(["report", output])
    page = pathlib.Path(f"{output}-report.html").read_text()
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)[1])
    dead = _figure(data, "dead-letters")
    (reason,) = dead["reasons"]
    assert (reason["count"], reason["example_key"]) == (1, f"{corpus}/c.wav")
    assert {stage: count for stage, count in dead["by_stage"].items() if count} == {"decode": 1}
    assert "1 dead letter; 1 distinct reason (table below)." in page


def test_an_output_without_records_is_reported_with_its_dead_letters(tmp_path, tiny_encoder_path):
    corpus = tmp_path / "in"
    corpus.mkdir()
    (corpus / "a.wav").write_bytes(b"not audio")
    (corpus / "b.wav").write_bytes(b"")
    output = str(tmp_path / "out" / "e")
    run(["--input", f"{corpus}/*.wav", "--output", output, "--weights", str(tiny_encoder_path), "--quiet"])
    with pytest.raises(SystemExit) as done:
        main(["report", output])
    assert done.value.code == 0
    page = pathlib.Path(f"{output}-report.html").read_text()
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)[1])
    assert _figure(data, "dead-letters")["by_stage"]["decode"] == 2
    assert "<th>padding efficiency</th><td>-</td>" in page
