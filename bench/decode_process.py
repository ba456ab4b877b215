"""Cost per input of decoding in a decoder process (`audio/decode_process.py`) against decoding in the caller.

Decodes `--inputs` seeded clips of 1-3 s (16 kHz mono, as FLAC and as WAV bytes, and as FLAC
files opened by path) with `audio.decode.input_clips`, first in this process, then through one
persistent `DecoderProcess`, `--repeats` times each, alternating; each way keeps its fastest
run. Reports per input: wall milliseconds, CPU milliseconds of this process, and of this process
plus the decoder process (`psutil`), and the cost isolation adds (the difference) and its ratio.

    pip install -e '.[bench]'
    python bench/decode_process.py --inputs 500 --repeats 3

Prints one JSON object.
"""

import argparse
import io
import json
import pathlib
import platform
import sys
import tempfile
import time

import numpy as np
import psutil
import soundfile

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from gemma4_audio_embed.audio.decode import input_clips  # noqa: E402
from gemma4_audio_embed.audio.decode_process import DecoderProcess  # noqa: E402
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio  # noqa: E402

SETTINGS = {"max_clip_seconds": 30.0}


def clips_of(kind: str, count: int, folder: pathlib.Path) -> list:
    """`count` inputs of 1-3 s of speech-like noise, as `kind` ("flac bytes", "wav bytes", "flac files")."""
    rng = np.random.default_rng(0)
    inputs = []
    for index in range(count):
        samples = (0.1 * rng.standard_normal(int(16000 * rng.uniform(1.0, 3.0)))).astype(np.float32)
        buffer = io.BytesIO()
        soundfile.write(buffer, samples, 16000, format="WAV" if kind == "wav bytes" else "FLAC")
        if kind == "flac files":
            path = folder / f"{index}.flac"
            path.write_bytes(buffer.getvalue())
            inputs.append(EncodedAudio(str(path), str(path), None))
        else:
            inputs.append(EncodedAudio(f"k{index}", "bench", buffer.getvalue()))
    return inputs


def timed(decode, inputs, child=None) -> dict:
    """Wall and CPU seconds (this process; this one and `child`) to decode every input with `decode`."""
    me = psutil.Process()
    cpu, child_cpu, wall = me.cpu_times(), child.cpu_times() if child else None, time.perf_counter()
    clips = sum(1 for encoded in inputs for _ in decode(encoded))
    wall = time.perf_counter() - wall
    own = sum(me.cpu_times()[:2]) - sum(cpu[:2])
    extra = sum(child.cpu_times()[:2]) - sum(child_cpu[:2]) if child else 0.0
    assert clips == len(inputs)
    return {"wall": wall, "cpu": own, "cpu_with_decoder": own + extra}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    report = {"machine": platform.processor() or platform.machine(), "cpus": psutil.cpu_count(), "inputs": args.inputs}
    process = DecoderProcess(input_clips, SETTINGS)
    with tempfile.TemporaryDirectory() as folder:
        for kind in ("flac bytes", "wav bytes", "flac files"):
            inputs = clips_of(kind, args.inputs, pathlib.Path(folder))
            list(process.clips(inputs[0]))  # started and warm
            child = psutil.Process(process._child.pid)
            best = {"in process": None, "decoder process": None}
            for _ in range(args.repeats):
                for way in best:
                    if way == "in process":
                        run = timed(lambda encoded: input_clips(encoded, **SETTINGS), inputs)
                    else:
                        run = timed(process.clips, inputs, child)
                    if best[way] is None or run["wall"] < best[way]["wall"]:
                        best[way] = run
            per_input = {
                way: {name: round(1000 * value / args.inputs, 3) for name, value in run.items()}
                for way, run in best.items()
            }
            here, isolated = per_input["in process"], per_input["decoder process"]
            report[kind] = {
                "ms_per_input": per_input,
                "isolation_adds_ms": {name: round(isolated[name] - here[name], 3) for name in here},
                "isolation_ratio_wall": round(isolated["wall"] / here["wall"], 2),
            }
    process.close()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
