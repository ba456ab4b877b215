"""`--features_on_device`: the host decodes and resamples, the compiled program computes log-mel.

The records equal those of the host front end within 1e-5 relative, clips stay exact when
packed into rows (speech, tones, one file cut into two windows), and the summary says where the
features ran. Toy encoder: tests/conftest.py's TINY_ENCODER_CONFIG.
"""

import json
import pathlib

import numpy as np
import pytest
from synthetic_audio import tone
from synthetic_audio import write_audio

from gemma4_audio_embed import records
from gemma4_audio_embed.pipeline.cli import run


@pytest.fixture(scope="module")
def both_runs(tmp_path_factory, tiny_encoder_path, speech_16k):
    folder = tmp_path_factory.mktemp("on_device")
    (folder / "audio").mkdir()
    write_audio(folder / "audio" / "speech.wav", speech_16k, 16000, subtype="FLOAT")
    write_audio(folder / "audio" / "quiet.wav", speech_16k[:30000] * 1e-3, 16000, subtype="FLOAT")
    for index, seconds in enumerate([1.3, 4.5, 36.0]):  # 36 s: a 30 s window and a 6 s one
        write_audio(folder / "audio" / f"tone{index}.flac", tone(seconds, 22050, seed=index), 22050)
    outputs = {}
    for flag in ("--features_on_device", "--no_features_on_device"):
        output = str(folder / flag.strip("-") / "embeddings")
        run(
            [
                "--input",
                str(folder / "audio" / "*"),
                "--output",
                output,
                "--weights",
                str(tiny_encoder_path),
                "--runner",
                "FnApiRunner",
                "--bucket_seconds",
                "4",
                flag,
            ]
        )
        found = sorted(records.read_records(f"{output}-*-of-*.tfrecord"), key=lambda r: r.key)
        outputs[flag] = (found, json.loads(pathlib.Path(f"{output}-summary.json").read_text()))
    return outputs


def test_records_from_device_features_equal_the_host_ones(both_runs):
    on_device, _ = both_runs["--features_on_device"]
    on_host, _ = both_runs["--no_features_on_device"]
    assert [r.key.rsplit("/", 1)[1] for r in on_device] == [r.key.rsplit("/", 1)[1] for r in on_host]
    assert len(on_device) == 6
    for ours, reference in zip(on_device, on_host):
        assert ours.num_tokens == reference.num_tokens
        assert np.abs(ours.embedding - reference.embedding).max() <= 1e-5 * np.abs(reference.embedding).max()


def test_summary_says_where_the_features_ran(both_runs):
    assert both_runs["--features_on_device"][1]["features_on_device"] is True
    assert both_runs["--no_features_on_device"][1]["features_on_device"] is False
