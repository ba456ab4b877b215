"""Host CPU cost per input: the pipeline's CPU-seconds per short clip, launch excluded, and where they go.

Makes seeded 16 kHz mono WAV clips of 1-3 s (uniform) and a tiny encoder (hidden 32, 2 blocks:
its own cost is a small part), then:

1. slope: `gemma4-embed` (FnApiRunner, `--quiet`) in a fresh process on the first `--small`
   and on all `--large` clips, CPU time (user + system) of the process from its exit status;
   (CPU(large) - CPU(small)) / (large - small) is the cost per input without the launch's.
   A warm-up job on all clips runs first, with JAX's cache taking every program
   (`JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0`, for any version of the code), so that
   neither measured job compiles a batch shape the other loads: the large job has more
   shapes, whose compiles would otherwise count as per-input cost;
2. profile (`--profile`): after a warm-up job on all clips, the jobs on `--small` and on `--large` clips in
   this process under cProfile with the process's CPU time as its clock (each profiled from
   submission to its end; helper threads' CPU, such as BLAS threads spinning, lands on the
   function running in the main thread); the difference of their own times per extra input,
   grouped by where the code lives (Beam's runner and coders, decoding, features,
   packing, the encoder, record encoding, writing, tallies, ...), per input.

Usage:

    python bench/host_cost.py --small 500 --large 2000 --profile

Prints one JSON object; bench/RESULTS.md records runs with their dates.
"""

import argparse
import collections
import cProfile
import json
import os
import pathlib
import pstats
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))
# Where a function's own time is counted: the first pattern its file path contains, in this order.
CATEGORIES = [
    ("beam: coders", "apache_beam/coders"),
    ("beam: runner and worker", "apache_beam/runners"),
    ("beam: transforms and metrics", "apache_beam/"),
    ("read inputs", "gemma4_audio_embed/inputs"),
    ("decode (FFmpeg, resample)", "gemma4_audio_embed/audio"),
    ("decode (FFmpeg, resample)", "/av/"),
    ("decode (FFmpeg, resample)", "soxr"),
    ("features (log-mel)", "gemma4_audio_embed/batching/features"),
    ("features (log-mel)", "gemma4_audio_embed/encoder/log_mel_frontend"),
    ("packing", "gemma4_audio_embed/batching"),
    ("encoder (JAX)", "gemma4_audio_embed/encoder"),
    ("encoder (JAX)", "/jax/"),
    ("encoder (JAX)", "/jaxlib/"),
    ("encoder (JAX)", "/keras/"),
    ("inference handler", "gemma4_audio_embed/inference"),
    ("record encoding", "gemma4_audio_embed/outputs/encode"),
    ("record encoding", "gemma4_audio_embed/outputs/schema"),
    ("record encoding", "gemma4_audio_embed/tf_example"),
    ("record encoding", "google/protobuf"),
    ("writing records, index, dead letters", "gemma4_audio_embed/outputs"),
    ("writing records, index, dead letters", "pyarrow"),
    ("tallies and summary", "gemma4_audio_embed/metrics"),
    ("tallies and summary", "gemma4_audio_embed/pipeline"),
    ("numpy", "numpy"),
    ("python: pickle, copy, threading, logging", "/lib/python3"),
]


def make_clips(folder: pathlib.Path, count: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for index in range(count):
        seconds = rng.uniform(1.0, 3.0)
        samples = (0.1 * rng.standard_normal(round(seconds * 16000))).astype(np.float32)
        soundfile.write(folder / f"clip-{index:05d}.wav", samples, 16000)


def make_encoder(path: pathlib.Path) -> None:
    """The tiny encoder bench/device_check.py checks on a CPU (hidden 32, 2 blocks), saved to `path`."""
    from device_check import TINY

    from gemma4_audio_embed import encoder

    encoder.default_encoder(seed=1, **TINY).save(path)


def job_flags(clips: pathlib.Path, pattern: str, output: pathlib.Path, weights: pathlib.Path) -> list[str]:
    return ["--input", str(clips / pattern), "--output", str(output), "--weights", str(weights), "--quiet"]


def process_cpu_seconds(flags: list[str], env: dict) -> tuple[float, float]:
    """`(CPU seconds, wall seconds)` of `gemma4-embed FLAGS` in a fresh process (and its children)."""
    start = time.time()
    process = subprocess.Popen([sys.executable, "-m", "gemma4_audio_embed", *flags], env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.time() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"gemma4-embed {flags} failed with {status}")
    return usage.ru_utime + usage.ru_stime, wall


def categorized(profile: pstats.Stats) -> dict[str, float]:
    """Own time (seconds) of the profile's functions, summed by `CATEGORIES`; the rest as `other`."""
    totals = collections.Counter()
    for (path, _, _), (_, _, own, _, _) in profile.stats.items():
        category = next((name for name, pattern in CATEGORIES if pattern in path), "other (builtins, C)")
        totals[category] += own
    return dict(totals.most_common())


def profiled(flags: list[str]) -> tuple[float, pstats.Stats]:
    """`(CPU seconds, profile)` of one job in this process, from its submission to its end (this thread)."""
    from gemma4_audio_embed.pipeline.launch import prepare
    from gemma4_audio_embed.pipeline.launch import submit

    options = prepare(flags)
    profiler = cProfile.Profile(time.process_time)  # CPU time of the process: every thread's work counts
    before = resource.getrusage(resource.RUSAGE_SELF)
    profiler.runcall(submit, options, wait=True)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, pstats.Stats(profiler)


def profile_slope(clips: pathlib.Path, small: pathlib.Path, weights: pathlib.Path, workdir: pathlib.Path, args) -> dict:
    """Own CPU time per input by category and function: (large job - small job) / (large - small) inputs,
    both after a warm-up job on the large set in the same process, so per-job costs (model load,
    compiles, bundle set-up) cancel and no batch shape compiles in one job only."""
    profiled(job_flags(clips, "*.wav", workdir / "out-warm" / "e", weights))  # every batch shape compiled, cached
    runs = {}
    for name, folder in (("small", small), ("large", clips)):
        runs[name] = profiled(job_flags(folder, "*.wav", workdir / f"out-profile-{name}" / "e", weights))
    extra = args.large - args.small
    categories = {name: categorized(stats) for name, (_, stats) in runs.items()}
    by_category = {
        category: round(1000 * (categories["large"].get(category, 0) - categories["small"].get(category, 0)) / extra, 3)
        for category in categories["large"]
    }
    own = {name: {key: value[2] for key, value in stats.stats.items()} for name, (_, stats) in runs.items()}
    by_function = sorted(
        ((key, own["large"][key] - own["small"].get(key, 0.0)) for key in own["large"]), key=lambda item: -item[1]
    )
    return {
        "cpu_seconds": {name: round(cpu, 2) for name, (cpu, _) in runs.items()},
        "cpu_ms_per_input": round(1000 * (runs["large"][0] - runs["small"][0]) / extra, 2),
        "own_ms_per_input": dict(sorted(by_category.items(), key=lambda item: -item[1])),
        "top_functions": [
            {
                "function": f"{path.split('site-packages/')[-1]}:{line}({function})",
                "own_ms_per_input": round(1000 * seconds / extra, 3),
            }
            for (path, line, function), seconds in by_function[: args.top]
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--large", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="Also profile the large job in this process.")
    parser.add_argument("--top", type=int, default=25, help="Functions listed by own time in the profile.")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--no_slope", action="store_true", help="Only the profile.")
    args = parser.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"  # see the module docstring, 1.
    workdir = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="gemma4-host-cost-"))
    clips, small = workdir / "clips", workdir / "small"
    clips.mkdir(parents=True, exist_ok=True)
    small.mkdir(exist_ok=True)
    if len(list(clips.glob("*.wav"))) != args.large:
        make_clips(clips, args.large)
    for index in range(args.small):
        link = small / f"clip-{index:05d}.wav"
        if not link.exists():
            link.symlink_to(clips / link.name)
    weights = workdir / "tiny.keras"
    if not weights.exists():
        make_encoder(weights)
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT), "XDG_CACHE_HOME": str(workdir / "cache")}
    report = {"keras_backend": os.environ["KERAS_BACKEND"], "inputs": [args.small, args.large]}
    # The warm-up job compiles every batch shape into the cache (module docstring, 1.).
    if not args.no_slope:
        process_cpu_seconds(job_flags(clips, "*.wav", workdir / "out-warm" / "e", weights), env)
    runs = {}
    for name, folder, count in (("small", small, args.small), ("large", clips, args.large)):
        if args.no_slope:
            break
        cpu, wall = process_cpu_seconds(job_flags(folder, "*.wav", workdir / f"out-{name}" / "e", weights), env)
        runs[name] = {"inputs": count, "cpu_seconds": round(cpu, 2), "wall_seconds": round(wall, 2)}
    if runs:
        report["runs"] = runs
        slope = (runs["large"]["cpu_seconds"] - runs["small"]["cpu_seconds"]) / (args.large - args.small)
        report["cpu_ms_per_input"] = round(1000 * slope, 2)
    if args.profile:
        report["profile"] = profile_slope(clips, small, weights, workdir, args)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
