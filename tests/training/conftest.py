"""One job run shared by the training tests: a tiny random Gemma 4 saved by transformers embeds three inputs with transcripts.

Corpus (manifest with `id` and `text`), 16 kHz float WAVs:
- `short`: 16160 samples, N % 640 == 160: floor(16159 / 160) = 100 frames, 25 tokens
  (keras-hub's preprocessor would count ceil(101 / 4) = 26);
- `speech`: tests/data/speech_16k.wav, 3.4 s: 86 tokens;
- `long`: 60 s, cut by the job into two 30 s windows of 750 tokens each (the reference front ends
  would keep the first 30 s only).

The job runs with `--hf_checkpoint` on the checkpoint folder, so its records and the transformers
oracle share the audio weights, and writes ArrayRecord files (random access, for every loader).
The model is examples/tiny_gemma4.py's: text width 64, four layers (sliding, full, sliding, full),
per-layer inputs, KV sharing, random pad rows.
"""

import pathlib
import sys
from typing import NamedTuple

import numpy as np
import pytest
from accounting import accounted_outputs
from synthetic_audio import tone
from synthetic_audio import write_audio
from synthetic_audio import write_manifest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "examples"))

import tiny_gemma4  # noqa: E402

from gemma4_audio_embed.constants import SAMPLE_RATE  # noqa: E402
from gemma4_audio_embed.pipeline.cli import run  # noqa: E402

WINDOW = 30 * SAMPLE_RATE  # the job's default --max_clip_seconds, in samples
TEXTS = {
    "short": "the cat sat on the mat",
    "speech": "the quick brown fox jumps over the lazy dog",
    "long": "a long story read slowly in two windows",
}
PROMPT_WORDS = ["Transcribe:", "Transcribe this:"]


class EmbeddedCorpus(NamedTuple):
    """The shared run: `checkpoint` (folder), `model` (the torch model saved there), `output` (the
    job's --output), `records` ({clip key: Record}), `windows` ({clip key: float32 [N] samples})
    and `input_keys` ({manifest id: input key})."""

    checkpoint: str
    model: object
    output: str
    records: dict
    windows: dict
    input_keys: dict


@pytest.fixture(scope="package")
def embedded_corpus(tmp_path_factory, speech_16k):
    folder = tmp_path_factory.mktemp("training")
    model = tiny_gemma4.tiny_gemma4(seed=0)
    checkpoint = folder / "gemma4"
    model.save_pretrained(checkpoint)
    audio = {"short": tone(16160 / SAMPLE_RATE, seed=1), "speech": speech_16k, "long": tone(60.0, seed=3)}
    assert audio["short"].size == 16160 and audio["long"].size == 2 * WINDOW
    for name, samples in audio.items():
        write_audio(folder / f"{name}.wav", samples, SAMPLE_RATE, subtype="FLOAT")
    manifest = write_manifest(
        folder / "corpus.jsonl", [{"audio_filepath": f"{name}.wav", "id": name, "text": TEXTS[name]} for name in audio]
    )
    output = str(folder / "out" / "embeddings")
    flags = ["--runner", "FnApiRunner", "--bucket_seconds", "4", "--output_format", "array_record"]
    run(["--input", str(manifest), "--output", output, "--hf_checkpoint", str(checkpoint), *flags])
    found, dead, _ = accounted_outputs(output, f"{output}-*-of-*.array_record")
    assert dead == []
    input_keys = {name: f"{manifest}#{name}" for name in audio}
    windows = {}
    for name, samples in audio.items():
        for index, start in enumerate(range(0, samples.size, WINDOW)):
            windows[f"{input_keys[name]}@{index}"] = np.asarray(samples[start : start + WINDOW], np.float32)
    records = {record.key: record for record in found}
    assert sorted(records) == sorted(windows)
    return EmbeddedCorpus(str(checkpoint), model, output, records, windows, input_keys)


@pytest.fixture(scope="package")
def vocabulary_texts():
    """The texts the test tokenizers learn their pieces from: the transcripts and the prompts."""
    return [*TEXTS.values(), *PROMPT_WORDS]
