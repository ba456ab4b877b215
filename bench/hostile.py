"""How the job ends on each hostile input of docs/security.md, and its peak memory on bombs and long inputs.

1. Writes each case into `--workdir` (kept, so a second run, or a run on other code, reuses
   the files): the memory bombs at the sizes of the issue that found them (a 1 MB `.tar.gz`
   holding a 1 GiB member, a 2 MB `.jsonl.gz` of one 2 GiB line, a 128 KB WAV declaring 1 Hz,
   a 1 MB `.tfrecord.gz` of one 1 GiB record, an 11 KB Parquet file with a 300 MB cell), the
   other hostile files (7.1 Ogg Vorbis, SDP and ffconcat disguised as WAV, a FIFO, names that
   are not UTF-8 or hold a backslash, a manifest of `--missing_entries` missing files), and
   single inputs of silence of 1, 6 and 24 hours (16 kHz FLAC, written a minute at a time).
2. Runs `python -m gemma4_audio_embed` on each case as a child process, with the code of
   `--code` (a checkout; this one by default) on `PYTHONPATH`, the tiny test encoder and the
   local runner, and default flags: what a new user gets.
3. Samples the RSS of the job's whole process tree (the decoder process included) every
   `--interval` seconds; a tree past `--kill_gib` is killed and reported as `>limit`, a case
   past `--timeout` as `timeout`, so a bomb cannot take the machine.

Reports per case: exit status, records, dead letters (from the summary, or the files when
there is none), bytes of dead letters, peak RSS and wall time, as JSON lines and a Markdown
table. The long inputs' figures include the record writer; with `--decode_only` a case runs
the decoder alone instead (`audio.decode.input_clips` over the file in a child process, the
windows counted as records), which separates the decoder's memory from the rest of the job.

    pip install -e '.[bench]'
    python bench/hostile.py --cases bombs,others             # this checkout
    python bench/hostile.py --cases bombs --code ../main     # the same files on other code
    python bench/hostile.py --cases long                     # 1 h, 6 h and 24 h inputs
"""

import argparse
import glob
import gzip
import io
import json
import os
import pathlib
import struct
import subprocess
import sys
import tarfile
import threading
import time

import numpy as np
import soundfile
from memory import GIB  # bench/memory.py: the process-tree sampler both scripts use
from memory import TreeMemorySampler

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
ZEROS = bytes(1 << 24)  # 16 MiB, written again and again


def _gzip_of_zeros(path: pathlib.Path, head: bytes, size: int, tail: bytes = b"") -> None:
    """Writes `head`, `size` zero bytes and `tail`, gzipped, without holding them."""
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(head)
        for _ in range(size // len(ZEROS)):
            f.write(ZEROS)
        f.write(bytes(size % len(ZEROS)) + tail)


def tar_gz_bomb(folder):
    path = folder / "bomb.tar.gz"
    if not path.exists():
        info = tarfile.TarInfo("big.wav")
        info.size = GIB
        _gzip_of_zeros(path, info.tobuf(), GIB, bytes(1024))  # header, 1 GiB of zeros, end of archive
    return str(path)


def jsonl_gz_bomb(folder):
    path = folder / "bomb.jsonl.gz"
    if not path.exists():
        with gzip.open(path, "wb", compresslevel=1) as f:
            f.write(b'{"path": "')
            for _ in range(2 * GIB // len(ZEROS)):
                f.write(b"x" * len(ZEROS))
            f.write(b'"}\n')
    return str(path)


def one_hertz_wav(folder):
    path = folder / "one_hertz.wav"
    samples = np.random.default_rng(0).standard_normal(64000).astype(np.float32) * 0.1
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, 16000, subtype="PCM_16", format="WAV")
    data = bytearray(buffer.getvalue())
    data[24:32] = struct.pack("<II", 1, 2)  # 1 Hz, 2 bytes a second: 128 KB "lasts" 18 hours
    path.write_bytes(bytes(data))
    return str(path)


def tfrecord_gz_bomb(folder):
    import google_crc32c

    from gemma4_audio_embed.tfrecord import _masked_crc

    path = folder / "bomb.tfrecord.gz"
    if not path.exists():
        crc = google_crc32c.Checksum()
        for _ in range(GIB // len(ZEROS)):
            crc.update(ZEROS)
        value = int.from_bytes(crc.digest(), "big")
        masked = (((value >> 15) | (value << 17)) + 0xA282EAD8) & 0xFFFFFFFF
        length = struct.pack("<Q", GIB)
        _gzip_of_zeros(path, length + struct.pack("<I", _masked_crc(length)), GIB, struct.pack("<I", masked))
    return str(path)


def parquet_bomb(folder):
    import pyarrow
    import pyarrow.parquet

    path = folder / "bomb.parquet"
    if not path.exists():
        cell = pyarrow.array([bytes(300 << 20)], pyarrow.binary())
        pyarrow.parquet.write_table(pyarrow.table({"audio": cell}), path, compression="zstd")
    return str(path)


def seven_one_ogg(folder):
    path = folder / "seven_one.ogg"
    samples = np.random.default_rng(0).standard_normal((48000, 8)).astype(np.float32) * 0.1
    soundfile.write(path, samples, 48000, format="OGG", subtype="VORBIS")
    return str(path)


def good_wav(folder):
    path = folder / "good.wav"
    soundfile.write(path, np.random.default_rng(0).standard_normal(48000).astype(np.float32) * 0.1, 16000)
    return str(path)


def sdp_wav(folder):
    path = folder / "sdp.wav"
    path.write_text("v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 5004 RTP/AVP 0\n")
    return str(path)


def concat_wav(folder):
    (folder / "concat").mkdir(exist_ok=True)
    soundfile.write(folder / "concat" / "private.wav", np.full(16000, 0.1, np.float32), 16000)
    (folder / "concat" / "script.wav").write_text("ffconcat version 1.0\nfile private.wav\n")
    return str(folder / "concat" / "script.wav")


def fifo(folder):
    path = folder / "fifo" / "fifo.wav"
    path.parent.mkdir(exist_ok=True)
    if not path.exists():
        os.mkfifo(path)
    return str(path)


def odd_names(folder):
    names = folder / "names"
    names.mkdir(exist_ok=True)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.full(16000, 0.1, np.float32), 16000, format="WAV")
    for name in (b"latin1-caf\xe9.wav", b"back\\slash.wav", b"plain.wav"):
        pathlib.Path(os.fsdecode(bytes(names) + b"/" + name)).write_bytes(buffer.getvalue())
    return f"{names}/*"


def missing_files(folder, entries):
    path = folder / f"missing_{entries}.jsonl"
    path.write_text("".join(json.dumps({"path": f"missing/{index}.wav"}) + "\n" for index in range(entries)))
    return str(path)


def silence(folder, hours):
    path = folder / f"silence_{hours:g}h.flac"
    if not path.exists():
        minute = np.zeros(16000 * 60, np.int16)
        with soundfile.SoundFile(path, "w", 16000, 1, format="FLAC", subtype="PCM_16") as f:
            for _ in range(round(hours * 60)):
                f.write(minute)
    return str(path)


CASES = {
    "good_wav_3s": good_wav,  # the job's own footprint, for comparison
    "tar_gz_1gib_member": tar_gz_bomb,
    "jsonl_gz_2gib_line": jsonl_gz_bomb,
    "wav_declaring_1hz": one_hertz_wav,
    "tfrecord_gz_1gib_record": tfrecord_gz_bomb,
    "parquet_300mb_cell": parquet_bomb,
    "ogg_vorbis_7.1": seven_one_ogg,
    "sdp_as_wav": sdp_wav,
    "ffconcat_as_wav": concat_wav,
    "fifo": fifo,
    "non_utf8_and_backslash_names": odd_names,
    "manifest_of_missing_files": None,  # needs --missing_entries
    "silence_1h": None,
    "silence_6h": None,
    "silence_24h": None,
}
GROUPS = {
    "bombs": [
        "good_wav_3s",
        "tar_gz_1gib_member",
        "jsonl_gz_2gib_line",
        "wav_declaring_1hz",
        "tfrecord_gz_1gib_record",
        "parquet_300mb_cell",
    ],
    "others": [
        "ogg_vorbis_7.1",
        "sdp_as_wav",
        "ffconcat_as_wav",
        "fifo",
        "non_utf8_and_backslash_names",
        "manifest_of_missing_files",
    ],
    "long": ["silence_1h", "silence_6h", "silence_24h"],
}


# The decoder alone over one file: its windows counted into a summary-like file.
DECODE_ONLY = """
import json, sys
from gemma4_audio_embed.audio.clips import Clip
from gemma4_audio_embed.audio.decode import input_clips
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
path, output = sys.argv[1:]
windows = sum(isinstance(item, Clip) for item in input_clips(EncodedAudio(path, path, None), max_clip_seconds=30.0))
open(output + "-summary.json", "w").write(json.dumps({"records": windows, "dead_letters": 0}))
"""


def _dead_letters(output: str):
    paths = glob.glob(f"{output}-dead-letter*.jsonl")
    lines = sum(sum(1 for _ in open(path, "rb")) for path in paths)
    return lines, sum(os.path.getsize(path) for path in paths)


def run_case(name: str, pattern: str, args, weights: str) -> dict:
    output = str(pathlib.Path(args.workdir) / "out" / args.label.replace(" ", "_") / name / "emb")
    pathlib.Path(output).parent.mkdir(parents=True, exist_ok=True)
    for stale in glob.glob(f"{output}-*"):
        if os.path.isfile(stale):
            os.remove(stale)
    command = [sys.executable, "-m", "gemma4_audio_embed", "--input", pattern, "--output", output]
    command += ["--weights", weights, "--runner", "FnApiRunner", "--bucket_seconds", "4"]
    if args.decode_only:
        command = [sys.executable, "-c", DECODE_ONLY, pattern, output]
    env = {**os.environ, "PYTHONPATH": str(pathlib.Path(args.code).resolve()), "KERAS_BACKEND": "jax"}
    start = time.monotonic()
    job = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=args.workdir)
    memory = TreeMemorySampler(job.pid, args.interval, args.kill_gib * GIB)
    memory.start()
    log = []
    reader = threading.Thread(target=lambda: log.extend(job.stdout), daemon=True)
    reader.start()
    try:
        status = job.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        memory.kill()
        job.wait()
        status = "timeout"
    memory.stop()
    reader.join(5)
    if memory.stopped:
        status = f">{args.kill_gib:g} GiB, killed"
    summary_path = pathlib.Path(f"{output}-summary.json")
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    dead_lines, dead_bytes = _dead_letters(output)
    tail = b"".join(log[-3:]).decode("utf-8", "replace").strip().splitlines()
    return {
        "case": name,
        "code": args.label,
        "exit": status,
        "records": summary.get("records"),
        "dead_letters": summary.get("dead_letters", dead_lines),
        "dead_letter_bytes": dead_bytes,
        "peak_rss_gib": round(memory.peak_bytes / GIB, 2),
        "wall_seconds": round(time.monotonic() - start, 1),
        "last_line": tail[-1][:200] if tail else "",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--cases", default="bombs,others", help="Comma-separated case names or groups: " + ", ".join(GROUPS)
    )
    parser.add_argument("--code", default=str(REPO_ROOT), help="Checkout whose gemma4_audio_embed runs the job.")
    parser.add_argument("--label", default=None, help="Name of the code in the report. Default: its folder name.")
    parser.add_argument("--workdir", default="/tmp/gemma4_hostile", help="Where the cases are written and kept.")
    parser.add_argument("--missing_entries", type=int, default=20000, help="Entries of the manifest of missing files.")
    parser.add_argument("--interval", type=float, default=0.05, help="Seconds between RSS samples.")
    parser.add_argument("--kill_gib", type=float, default=6.0, help="Kill a job whose process tree passes this RSS.")
    parser.add_argument("--timeout", type=float, default=600.0, help="Kill a job that runs longer (seconds).")
    parser.add_argument("--decode_only", action="store_true", help="Run the decoder alone on each case, not the job.")
    args = parser.parse_args()
    args.label = (args.label or pathlib.Path(args.code).resolve().name) + (" decode only" if args.decode_only else "")
    folder = pathlib.Path(args.workdir)
    folder.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    os.environ.setdefault("KERAS_BACKEND", "jax")
    from testbed import TINY_ENCODER_CONFIG

    from gemma4_audio_embed import encoder

    weights = folder / "tiny.keras"
    if not weights.exists():
        encoder.default_encoder(seed=1, **TINY_ENCODER_CONFIG).save(weights)
    names = [name for part in args.cases.split(",") for name in GROUPS.get(part, [part])]
    rows = []
    for name in names:
        if name == "manifest_of_missing_files":
            pattern = missing_files(folder, args.missing_entries)
        elif name.startswith("silence_"):
            pattern = silence(folder, float(name.removeprefix("silence_").removesuffix("h")))
        else:
            pattern = CASES[name](folder)
        row = run_case(name, pattern, args, str(weights))
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| case | code | exit | records | dead letters | dead-letter bytes | peak RSS GiB | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['case']} | {row['code']} | {row['exit']} | {row['records']} | {row['dead_letters']} | "
            f"{row['dead_letter_bytes']} | {row['peak_rss_gib']} | {row['wall_seconds']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
