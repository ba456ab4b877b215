"""The fine-tuning examples run on the tiny random Gemma 4 and their printed loss goes down.

Each example embeds a corpus with the job, then takes optimizer steps on the records; every step
sees the same batch of all the inputs (the default `--max_tokens` holds them), so the loss of a
working loop falls step after step. The corpus is examples/transcripts.jsonl without its 71.7 s
story: the five short clips keep each step at about 5 x 256 tokens instead of 6 x 2176 (the
story's three windows are what the parity tests cover).
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
STEPS = 6


@pytest.mark.parametrize("script", ["finetune_transformers.py", "finetune_keras_hub.py"])
def test_the_example_trains_and_its_loss_goes_down(tmp_path, script):
    corpus = tmp_path / "corpus.jsonl"
    entries = [json.loads(line) for line in (EXAMPLES / "transcripts.jsonl").read_text().splitlines()]
    short = [
        {**entry, "audio_filepath": str(EXAMPLES / entry["audio_filepath"])}
        for entry in entries
        if entry["id"] != "long_story_16k"
    ]
    corpus.write_text("".join(json.dumps(entry) + "\n" for entry in short))
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(EXAMPLES.parent), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / script),
            "--steps",
            str(STEPS),
            "--output",
            str(tmp_path),
            "--corpus",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    losses = [float(value) for value in re.findall(r"^step \d+ loss (\S+)$", result.stdout, re.M)]
    print(f"\n{script}: losses {losses}")
    assert len(losses) == STEPS
    assert all(later < earlier for earlier, later in zip(losses, losses[1:]))
