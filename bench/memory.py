"""Peak memory of the job as the corpus grows: many short clips, and one long input with and without --skip_existing.

Each case writes a seeded synthetic corpus into a temporary folder and runs `python -m
gemma4_audio_embed` on it as a child process, on the default local runner (the in-process
FnApiRunner; `--direct_num_workers N` for the multi-process one), with a tiny encoder whose
output is E2B-wide (`--output_dim`, 1536 floats per token), so that records are full size and
only the plumbing costs. It samples the resident set size (RSS) of the job's whole process tree
every `--interval` seconds with psutil and reports the peak of the sum; a job past
`--max_rss_gib` is stopped and reported as such. The cases:

    short:N         N two-second clips (16 kHz mono WAV files)          records of 50 tokens each
    long:H          one H-hour file (16 kHz mono WAV)                   30 s windows, 750 tokens each
    long:H:skip     the same with --skip_existing (one file per input)

The bar is the spread of the peaks over the cases (the largest less the smallest): memory that
does not grow with the corpus. `--code_root` runs another checkout of the package (e.g. the
main branch, for a before/after pair); the encoder is built by that checkout too.

    pip install -e '.[bench]'
    python bench/memory.py                                      # short:1000,short:5000,short:20000,long:10,long:10:skip
    python bench/memory.py --cases short:1000,long:1 --code_root ../main --max_rss_gib 8

Prints a Markdown table and one JSON object; exits with status 1 when a job fails or is stopped.
"""

import argparse
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import psutil
import soundfile

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
GIB = 1 << 30
SAMPLE_RATE = 16000
SHORT_SECONDS = 2.0
BLOCK_SECONDS = 600  # the long file is generated and written 10 minutes at a time (38 MB of float32)
DEFAULT_CASES = "short:1000,short:5000,short:20000,long:10,long:10:skip"
# The tiny encoder of tests/conftest.py, made as wide as E2B's output.
TINY_ENCODER = {
    "hidden_size": 32,
    "num_heads": 2,
    "num_layers": 2,
    "sscp_conv_channels": [8, 4],
    "output_proj_dims": 48,
}
MAKE_ENCODER = (
    "import json, sys; from gemma4_audio_embed import encoder; "
    "encoder.default_encoder(seed=1, **json.loads(sys.argv[2])).save(sys.argv[1])"
)


def write_short_clips(folder: pathlib.Path, count: int, seed: int) -> float:
    """Writes `count` seeded 2 s noise clips as 16-bit WAV; returns their audio seconds."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        samples = (0.1 * rng.standard_normal(round(SHORT_SECONDS * SAMPLE_RATE))).astype(np.float32)
        soundfile.write(folder / f"clip-{index:05d}.wav", samples, SAMPLE_RATE, subtype="PCM_16")
    return count * SHORT_SECONDS


def write_long_file(folder: pathlib.Path, hours: float, seed: int) -> float:
    """Writes one seeded noise file of `hours` as 16-bit WAV, block by block; returns its audio seconds."""
    rng = np.random.default_rng(seed)
    total, block = round(hours * 3600 * SAMPLE_RATE), BLOCK_SECONDS * SAMPLE_RATE
    with soundfile.SoundFile(folder / "long.wav", "w", SAMPLE_RATE, 1, subtype="PCM_16") as out:
        for start in range(0, total, block):
            out.write((0.1 * rng.standard_normal(min(block, total - start))).astype(np.float32))
    return total / SAMPLE_RATE


class TreeMemorySampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants every `interval` seconds.

    `peak_bytes` is the largest sum seen; with `limit_bytes`, the tree is killed when the sum
    passes it and `stopped` is set.
    """

    def __init__(self, pid: int, interval: float, limit_bytes: float):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.interval = interval
        self.limit_bytes = limit_bytes
        self.peak_bytes = self.samples = 0
        self.peak_at_seconds = 0.0
        self.stopped = False
        self._finished = threading.Event()
        self._start = time.monotonic()

    def _processes(self) -> list:
        try:
            return [self.root] + self.root.children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def _sample(self) -> None:
        total = 0
        processes = self._processes()
        for process in processes:
            try:
                total += process.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        self.samples += 1
        if total > self.peak_bytes:
            self.peak_bytes, self.peak_at_seconds = total, time.monotonic() - self._start
        if total > self.limit_bytes and not self.stopped:
            self.stopped = True
            self.kill()

    def kill(self) -> None:
        """Kills the tree, descendants first."""
        for process in reversed(self._processes()):
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass

    def run(self) -> None:
        while not self._finished.wait(self.interval):
            self._sample()

    def stop(self) -> None:
        self._finished.set()
        self.join()


def run_case(case: str, args, folder: pathlib.Path, encoder_path: pathlib.Path, env: dict) -> dict:
    """Writes the corpus of `case`, runs the job on it under the sampler; returns its row."""
    kind, size, *mode = case.split(":")
    corpus = folder / "corpus"
    corpus.mkdir()
    started = time.monotonic()
    if kind == "short":
        audio_seconds, clips = write_short_clips(corpus, int(size), args.seed), int(size)
    elif kind == "long":
        audio_seconds = write_long_file(corpus, float(size), args.seed)
        clips = int(np.ceil(audio_seconds / 30.0))
    else:
        raise ValueError(f"A case is short:N or long:HOURS[:skip]. Received: {case!r}")
    generation_seconds = time.monotonic() - started
    output = folder / "out" / "embeddings"
    command = [
        sys.executable,
        "-m",
        "gemma4_audio_embed",
        f"--input={corpus}/*",
        f"--output={output}",
        f"--weights={encoder_path}",
        f"--keras_backend={args.keras_backend}",
        *(["--skip_existing"] if mode == ["skip"] else []),
        *(
            [f"--direct_num_workers={args.direct_num_workers}", "--direct_running_mode=multi_processing"]
            if args.direct_num_workers > 1
            else []
        ),
    ]
    with open(folder / "job.log", "wb") as log:
        started = time.monotonic()
        job = subprocess.Popen(command, cwd=args.code_root, env=env, stdout=log, stderr=subprocess.STDOUT)
        sampler = TreeMemorySampler(job.pid, args.interval, args.max_rss_gib * GIB)
        sampler.start()
        returncode = job.wait()
        sampler.stop()
        wall_seconds = time.monotonic() - started
    summary_path = pathlib.Path(f"{output}-summary.json")
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    output_bytes = sum(path.stat().st_size for path in output.parent.rglob("*") if path.is_file())
    return {
        "case": case,
        "clips": clips,
        "audio_hours": round(audio_seconds / 3600, 2),
        "records": summary.get("records"),
        "output_gib": round(output_bytes / GIB, 2),
        "peak_rss_gib": round(sampler.peak_bytes / GIB, 2),
        "peak_at_seconds": round(sampler.peak_at_seconds, 1),
        "wall_seconds": round(wall_seconds, 1),
        "generation_seconds": round(generation_seconds, 1),
        "status": "stopped" if sampler.stopped else ("ok" if returncode == 0 else f"exit {returncode}"),
        "log": None if returncode == 0 else str(folder / "job.log"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=DEFAULT_CASES, help="Comma-separated cases (see above).")
    parser.add_argument("--code_root", default=str(REPO_ROOT), help="Checkout whose package runs the job.")
    parser.add_argument("--output_dim", type=int, default=1536, help="Width of the encoder's output (E2B: 1536).")
    parser.add_argument("--keras_backend", default=os.environ.get("KERAS_BACKEND", "jax"))
    parser.add_argument("--direct_num_workers", type=int, default=1, help="Above 1: the multi-process runner.")
    parser.add_argument("--interval", type=float, default=0.5, help="Seconds between memory samples.")
    parser.add_argument("--max_rss_gib", type=float, default=12.0, help="Stop a job whose process tree passes this.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="Keep corpora and outputs.")
    args = parser.parse_args()
    args.code_root = str(pathlib.Path(args.code_root).resolve())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([args.code_root, os.environ.get("PYTHONPATH", "")]))
    env["KERAS_BACKEND"] = args.keras_backend
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=args.code_root, capture_output=True, text=True)

    root = pathlib.Path(tempfile.mkdtemp(prefix="gemma4_memory_"))
    encoder_path = root / "tiny_e2b_width.keras"
    config = dict(TINY_ENCODER, output_dim=args.output_dim)
    subprocess.run([sys.executable, "-c", MAKE_ENCODER, str(encoder_path), json.dumps(config)], env=env, check=True)
    rows = []
    for index, case in enumerate(args.cases.split(",")):
        folder = root / f"case{index}"
        folder.mkdir()
        rows.append(run_case(case, args, folder, encoder_path, env))
        if not args.keep and rows[-1]["status"] == "ok":
            shutil.rmtree(folder)
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    peaks = [row["peak_rss_gib"] for row in rows if row["status"] == "ok"]
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {psutil.virtual_memory().total / GIB:.1f} GiB",
        "code": f"{args.code_root} at {commit.stdout.strip() or '?'}",
        "runner": "FnApiRunner"
        + (f", multi_processing x{args.direct_num_workers}" if args.direct_num_workers > 1 else ""),
        "encoder": config,
        "cases": rows,
        "spread_gib": round(max(peaks) - min(peaks), 2) if peaks else None,
    }
    print("| case | clips | audio h | records | output GiB | peak RSS GiB | peak at s | wall s | status |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['case']} | {row['clips']} | {row['audio_hours']} | {row['records']} | {row['output_gib']} | "
            f"{row['peak_rss_gib']} | {row['peak_at_seconds']} | {row['wall_seconds']} | {row['status']} |"
        )
    print(json.dumps(report, indent=2))
    if args.keep:
        print(f"Kept in {root}", file=sys.stderr)
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if all(row["status"] == "ok" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
