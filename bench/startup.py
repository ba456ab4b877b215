"""Start-up benchmark: our CLI on one 5 s clip against the minimal transformers script, in one run.

Writes, once per `--workdir`, an HF checkpoint of a Gemma 4 model with an E2B-size audio tower
and random weights (transformers' `save_pretrained`, via `tests/encoder/hf_oracle.py`: the
released audio configuration, a one-layer text model of E2B's width) and a 5 s 16 kHz WAV clip.
Then, in turns, each in a fresh process:

1. transformers: the script a user would write (import, `from_pretrained`, the feature
   extractor, `get_audio_features`), wall time from spawn to exit;
2. ours: `gemma4-embed --input clip.wav --hf_checkpoint ...` (FnApiRunner), wall time from
   spawn to exit, and the launch cost: from spawn to the first element in `ReadInputs` (the
   wrapper below notes the time; nothing else changes). The first of our runs starts with an
   empty compilation cache and no cached checkpoint hash ("cold"); later ones reuse them
   ("warm"), as a second job on the same machine would;
3. with `--baseline_repo DIR` (a copy of another commit, e.g. `git archive main | tar -x -C DIR`),
   our CLI from that code too, in the same turns, with its own empty cache.

Every figure is from the same run and the ratios are what to compare; each run also gives its CPU
seconds (user + system, children included), which a machine loaded by other jobs stretches less
than wall time. Usage:

    python bench/startup.py --keras_backend jax --repeats 2

Prints one JSON object; bench/RESULTS.md records runs with their dates.
"""

import argparse
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
CLIP_SECONDS = 5.0
E2B_TEXT_HIDDEN = 1536  # the E2B language model's width: the audio embedder projects to it

TRANSFORMERS_SCRIPT = """
import sys
import soundfile, torch, transformers
folder, clip = sys.argv[1], sys.argv[2]
model = transformers.Gemma4ForConditionalGeneration.from_pretrained(folder).eval()
extractor = transformers.Gemma4AudioFeatureExtractor()
audio, rate = soundfile.read(clip, dtype="float32")
features = extractor([audio], sampling_rate=rate, return_tensors="pt")
with torch.no_grad():
    out = model.model.get_audio_features(features["input_features"], features["input_features_mask"])
print(tuple(out.pooler_output.shape))
"""

# Runs the CLI (the console script's entry point) in this process after wrapping ReadInputs.process to print when its first element arrives.
OURS_SCRIPT = """
import sys, time
from gemma4_audio_embed.inputs import read
_process = read.ReadInputs.process
def process(self, metadata):
    if not getattr(read, "_first_seen", False):
        read._first_seen = True
        print(f"FIRST_ELEMENT_EPOCH {time.time()}", file=sys.stderr, flush=True)
    yield from _process(self, metadata)
read.ReadInputs.process = process
try:  # the console script's entry, which ends the process without the interpreter's teardown
    from gemma4_audio_embed.pipeline.cli import entry_point
except ImportError:  # a --baseline_repo from before it
    from gemma4_audio_embed.pipeline.cli import main as entry_point
entry_point()
"""


def make_checkpoint(folder: pathlib.Path) -> None:
    """An HF Gemma 4 checkpoint with the released (E2B) audio tower, random weights, in `folder`."""
    sys.path.insert(0, str(REPO_ROOT / "tests" / "encoder"))
    from hf_oracle import make_checkpoint as save_random_checkpoint

    save_random_checkpoint(folder, audio_overrides={}, text_hidden=E2B_TEXT_HIDDEN, clip=False)


def make_clip(path: pathlib.Path, seed: int = 0) -> None:
    """5 s of speech-like noise (noise under a 4 Hz envelope) at 16 kHz, as a WAV file."""
    rng = np.random.default_rng(seed)
    time_axis = np.arange(round(CLIP_SECONDS * 16000)) / 16000
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * time_axis)
    soundfile.write(path, (0.1 * envelope * rng.standard_normal(time_axis.size)).astype(np.float32), 16000)


def timed(command: list[str], env: dict) -> dict:
    """Runs `command`; returns its wall and CPU seconds, from spawn to exit, and the launch cost if it printed one.

    CPU seconds are user + system of the process and its children (a loaded machine stretches
    wall time more than CPU time).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.time() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    timing = {"wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2)}
    for line in result.stderr.splitlines():
        if line.startswith("FIRST_ELEMENT_EPOCH "):
            timing["launch_seconds"] = round(float(line.split()[1]) - start, 2)
    return timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "gemma4-embed-startup"))
    parser.add_argument("--keras_backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    parser.add_argument("--repeats", type=int, default=2, help="Turns of (transformers, ours[, baseline]).")
    parser.add_argument("--baseline_repo", default=None, help="Also run our CLI from this copy of the repository.")
    args = parser.parse_args()

    workdir = pathlib.Path(args.workdir)
    checkpoint, clip = workdir / "checkpoint", workdir / "clip.wav"
    if not (checkpoint / "config.json").exists():
        checkpoint.mkdir(parents=True, exist_ok=True)
        make_checkpoint(checkpoint)
    make_clip(clip)
    for stale in checkpoint.glob(".gemma4-embed-*"):  # a hash cached beside the checkpoint by an earlier run
        stale.unlink()
    repos = {"ours": REPO_ROOT} | ({"baseline": pathlib.Path(args.baseline_repo)} if args.baseline_repo else {})
    envs = {}
    for name, repo in repos.items():
        cache = workdir / f"cache-{name}"  # compilation cache and hashes of read-only checkpoints
        shutil.rmtree(cache, ignore_errors=True)
        envs[name] = os.environ | {"PYTHONPATH": str(repo), "XDG_CACHE_HOME": str(cache)}
        envs[name].pop("JAX_COMPILATION_CACHE_DIR", None)

    transformers_command = [sys.executable, "-c", TRANSFORMERS_SCRIPT, str(checkpoint), str(clip)]
    runs = {"transformers": [], **{name: [] for name in repos}}
    for turn in range(args.repeats):
        runs["transformers"].append(timed(transformers_command, envs["ours"]))
        for name in repos:
            output = workdir / f"out-{name}-{turn}" / "embeddings"
            shutil.rmtree(output.parent, ignore_errors=True)  # an earlier run's output would stop the job
            command = [sys.executable, "-c", OURS_SCRIPT, "--input", str(clip), "--output", str(output)]
            command += ["--hf_checkpoint", str(checkpoint), "--keras_backend", args.keras_backend]
            runs[name].append(timed(command, envs[name]) | {"cache": "cold" if turn == 0 else "warm"})
        print(json.dumps({"turn": turn, **{name: times[-1] for name, times in runs.items()}}), file=sys.stderr)

    best_transformers = min(run["wall_seconds"] for run in runs["transformers"])
    report = {
        "keras_backend": args.keras_backend,
        "clip_seconds": CLIP_SECONDS,
        "runs": runs,
        **{
            f"{name}_over_transformers": [
                round(ours["wall_seconds"] / theirs["wall_seconds"], 2)
                for ours, theirs in zip(runs[name], runs["transformers"])
            ]
            for name in repos
        },
        **{
            f"{name}_over_transformers_cpu": [
                round(ours["cpu_seconds"] / theirs["cpu_seconds"], 2)
                for ours, theirs in zip(runs[name], runs["transformers"])
            ]
            for name in repos
        },
        "best_transformers_seconds": best_transformers,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
