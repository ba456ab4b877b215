"""Peak memory and throughput of the job on the local multi-process runner, on hours of synthetic audio.

1. Writes a seeded synthetic corpus into a temporary folder: one long file (`--long_minutes`,
   90 by default; FLAC, 44.1 kHz stereo, so it is decoded, mixed down and resampled) and short
   files of 2-30 s (log-uniform; WAV and FLAC, 16 to 48 kHz, mono and stereo) up to `--hours` of
   audio in all. Every file is generated and written `BLOCK_SECONDS` at a time, so this script
   stays small whatever the corpus.
2. Runs `python -m gemma4_audio_embed` on it as a child process: the FnApiRunner in multi_processing mode
   (`--direct_num_workers`, 2 by default) and the default-size encoder with seeded random
   weights (no weights flag). Any other flag is passed on to the pipeline.
3. Samples the resident set size (RSS) of that process and all its descendants every
   `--interval` seconds with psutil, and reports the peak of their sum, the peak of each
   process, and audio-seconds embedded per wall-clock second.

The sum of RSS counts pages that processes share (libraries) once per process, so it
overstates the memory in use; it is the figure the target is set on (peak < 6 GiB, `--max_rss_gib`).

    pip install -e '.[bench]'
    python bench/memory.py                                 # 2 h of audio, one 90-minute file
    python bench/memory.py --hours 0.1 --long_minutes 5    # a short check

Prints one JSON object; exits with status 1 when the peak passes `--max_rss_gib` or the job fails.
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
BLOCK_SECONDS = 10  # generated and written at a time: 3.5 MB of float32 at 44.1 kHz stereo
SHORT_SECONDS = (2.0, 30.0)  # log-uniform range of the short files
SHORT_FORMATS = [  # (extension, sample rate, channels)
    ("wav", 16000, 1),
    ("flac", 22050, 1),
    ("wav", 48000, 2),
    ("flac", 16000, 1),
    ("flac", 44100, 2),
]


def write_signal(path: pathlib.Path, seconds: float, rate: int, channels: int, seed: int) -> None:
    """Writes speech-like noise (bursts under a 4 Hz syllable envelope) to `path`, block by block.

    The container follows the extension; 16-bit PCM. Only `BLOCK_SECONDS` of samples,
    `float32 [R, C]`, are in memory at a time.
    """
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi)
    total, block = round(seconds * rate), BLOCK_SECONDS * rate
    with soundfile.SoundFile(path, "w", rate, channels, subtype="PCM_16") as out:
        for start in range(0, total, block):
            time_axis = np.arange(start, min(start + block, total)) / rate  # [R]
            envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * time_axis + phase)
            noise = rng.standard_normal((time_axis.size, channels))  # [R, C]
            out.write((0.1 * envelope[:, None] * noise).astype(np.float32))


def write_corpus(folder: pathlib.Path, hours: float, long_minutes: float, seed: int) -> dict:
    """Writes the corpus into `folder`; returns its files, audio seconds and bytes on disk."""
    rng = np.random.default_rng(seed)
    total_seconds = hours * 3600
    long_seconds = min(long_minutes * 60, total_seconds)
    if long_seconds > 0:
        write_signal(folder / "long.flac", long_seconds, 44100, 2, seed)
    short_seconds, remaining = [], total_seconds - long_seconds
    while remaining >= SHORT_SECONDS[0]:  # a remainder under 2 s is left out
        seconds = min(float(np.exp(rng.uniform(*np.log(SHORT_SECONDS)))), remaining)
        short_seconds.append(seconds)
        remaining -= seconds
    for index, seconds in enumerate(short_seconds):
        extension, rate, channels = SHORT_FORMATS[index % len(SHORT_FORMATS)]
        write_signal(folder / f"short-{index:05d}.{extension}", seconds, rate, channels, seed + 1 + index)
    return {
        "files": len(short_seconds) + (long_seconds > 0),
        "audio_seconds": round(long_seconds + sum(short_seconds), 1),
        "long_file_seconds": round(long_seconds, 1),
        "short_files": len(short_seconds),
        "bytes_on_disk": sum(path.stat().st_size for path in folder.iterdir()),
    }


class TreeMemorySampler(threading.Thread):
    """Samples the RSS of a process and all its descendants every `interval` seconds, in a thread.

    After `stop()`: `peak_bytes` (the largest sum over the tree), `peak_at_seconds` (since
    start), `peak_processes` (processes alive at that sample), `per_process_peak_bytes`
    (`{pid: (peak RSS, command line)}`) and `samples`.
    """

    def __init__(self, pid: int, interval: float):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_bytes = self.peak_at_seconds = self.peak_processes = self.samples = 0
        self.per_process_peak_bytes = {}
        self._finished = threading.Event()
        self._start_time = time.monotonic()

    def _sample(self) -> None:
        try:
            processes = [self.root] + self.root.children(recursive=True)
        except psutil.NoSuchProcess:
            return
        total = 0
        for process in processes:
            try:
                rss = process.memory_info().rss
                if rss > self.per_process_peak_bytes.get(process.pid, (0, ""))[0]:
                    self.per_process_peak_bytes[process.pid] = (rss, " ".join(process.cmdline())[:120])
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            total += rss
        self.samples += 1
        if total > self.peak_bytes:
            self.peak_bytes, self.peak_processes = total, len(processes)
            self.peak_at_seconds = time.monotonic() - self._start_time

    def run(self) -> None:
        while not self._finished.wait(self.interval):
            self._sample()

    def stop(self) -> None:
        self._finished.set()
        self.join()


def _kill_tree(process: subprocess.Popen) -> None:
    """Kills `process` and its descendants (children first)."""
    try:
        root = psutil.Process(process.pid)
        victims = root.children(recursive=True) + [root]
    except psutil.NoSuchProcess:
        victims = []
    for victim in victims:
        try:
            victim.kill()
        except psutil.NoSuchProcess:
            pass
    process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=2.0, help="Audio in the corpus, long file included.")
    parser.add_argument("--long_minutes", type=float, default=90.0, help="Length of the one long file.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--direct_num_workers", type=int, default=2, help="Worker processes of the runner.")
    parser.add_argument("--keras_backend", default=os.environ.get("KERAS_BACKEND", "jax"))
    parser.add_argument("--interval", type=float, default=0.5, help="Seconds between memory samples.")
    parser.add_argument("--max_rss_gib", type=float, default=6.0, help="Target for the peak RSS sum.")
    parser.add_argument("--timeout", type=float, default=None, help="Seconds before the job is killed.")
    parser.add_argument("--keep", action="store_true", help="Keep the corpus and the outputs.")
    args, pipeline_flags = parser.parse_known_args()

    folder = pathlib.Path(tempfile.mkdtemp(prefix="gemma4_memory_"))
    (folder / "corpus").mkdir()
    started = time.monotonic()
    corpus = write_corpus(folder / "corpus", args.hours, args.long_minutes, args.seed)
    corpus["generation_seconds"] = round(time.monotonic() - started, 1)
    output = folder / "out" / "embeddings"
    command = [
        sys.executable,
        "-m",
        "pipeline",
        f"--input={folder / 'corpus'}/*",
        f"--output={output}",
        "--runner=FnApiRunner",
        "--direct_running_mode=multi_processing",
        f"--direct_num_workers={args.direct_num_workers}",
        f"--keras_backend={args.keras_backend}",
        *pipeline_flags,
    ]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    log_path = folder / "pipeline.log"
    with open(log_path, "wb") as log:
        started = time.monotonic()
        job = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        sampler = TreeMemorySampler(job.pid, args.interval)
        sampler.start()
        try:
            returncode = job.wait(args.timeout)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            _kill_tree(job)
            returncode = None
        finally:
            sampler.stop()
        wall_seconds = time.monotonic() - started

    summary_path = pathlib.Path(f"{output}-summary.json")
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    audio_seconds = summary.get("audio_hours", 0.0) * 3600
    top = sorted(sampler.per_process_peak_bytes.values(), reverse=True)[: args.direct_num_workers + 2]
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {psutil.virtual_memory().total / GIB:.1f} GiB",
        "keras_backend": args.keras_backend,
        "pipeline_command": " ".join(command[1:]),
        "corpus": corpus,
        "job": {
            "returncode": returncode,
            "wall_seconds": round(wall_seconds, 1),
            "audio_seconds_embedded": round(audio_seconds, 1),
            "audio_seconds_per_second": round(audio_seconds / wall_seconds, 2),
            "pipeline_wall_seconds": summary.get("wall_seconds") and round(summary["wall_seconds"], 1),
            "records": summary.get("records"),
            "dead_letters": summary.get("dead_letters"),
            "tokens": summary.get("tokens"),
        },
        "memory": {
            "peak_rss_gib": round(sampler.peak_bytes / GIB, 2),
            "peak_at_seconds": round(sampler.peak_at_seconds, 1),
            "processes_at_peak": sampler.peak_processes,
            "largest_process_peaks_gib": [[round(rss / GIB, 2), name] for rss, name in top],
            "samples": sampler.samples,
            "interval_seconds": args.interval,
            "target_gib": args.max_rss_gib,
            "within_target": sampler.peak_bytes < args.max_rss_gib * GIB,
        },
        "load_average_at_end": round(os.getloadavg()[0], 2),
    }
    if args.keep or returncode != 0:
        report["folder"] = str(folder)
    else:
        shutil.rmtree(folder)
    print(json.dumps(report, indent=2))
    if returncode != 0:
        outcome = f"exited with {returncode}" if returncode is not None else "was stopped (--timeout or Ctrl-C)"
        print(f"The pipeline {outcome}; its log: {log_path}", file=sys.stderr)
    return 0 if returncode == 0 and report["memory"]["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
