"""One prepared check of the encoder on whatever device JAX finds: parity, speed, MFU, memory, pipeline.

    KERAS_BACKEND=jax python bench/device_check.py                 # released size, ~5 min on one chip
    KERAS_BACKEND=jax python bench/device_check.py --config tiny --batch_rows 1,2,4 --row_seconds 3 \
        --repeats 1 --corpus_files 4                              # what CI runs (tests/bench)

Runs unchanged on a CPU (then the "device" is the CPU). Prints one Markdown table, and with
`--json FILE` writes the same figures as JSON:

1. parity: the encoder's output on the device in float32 and in bfloat16 (same weights, same
   speech-like clips) against the CPU float32 result: max |diff| / max |reference| over valid
   tokens (float32 must stay <= 1e-4), and the least cosine similarity per valid token
   (bfloat16 must stay >= 0.99);
2. encoder audio-seconds per second in float32 and bfloat16 at each of `--batch_rows` rows of
   `--row_seconds` (compile excluded, `--repeats` timed calls), and MFU: rate x FLOP per
   audio-second (from XLA's cost analysis of the compiled program; 14.9 G for the released
   size) / the device's dense bf16 peak, looked up by device kind (`PEAK_TFLOPS`);
3. peak device memory (`memory_stats()["peak_bytes_in_use"]`; on a CPU the process's peak RSS);
4. end to end: `python -m gemma4_audio_embed` on a synthetic corpus (`bench/pipeline.py`'s mix) with every
   default (all local devices, `--max_batch_frames auto`, features on the device where there
   is an accelerator): audio-seconds per second and the host's CPU-seconds per audio-second
   (on a CPU the encoder's own work is host CPU too).

Everything runs in this one process, on all local devices (`make_predict_fn`'s default); the
CPU reference uses `devices=jax.devices("cpu")`.
"""

import argparse
import contextlib
import importlib.util
import json
import os
import pathlib
import platform
import resource
import sys
import tempfile
import time

import numpy as np

# bench/pipeline.py shares its name with the `pipeline` package: put the repo root, not bench/,
# first on the path, and load that benchmark's corpus helpers by file.
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
if sys.path and pathlib.Path(sys.path[0] or ".").resolve() == REPO_ROOT / "bench":
    sys.path[0] = str(REPO_ROOT)
elif str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

GFLOP_PER_AUDIO_SECOND = 14.9  # the released encoder, spec section 9
# Dense bfloat16 peak TFLOP/s per chip, by `jax.Device.device_kind` prefix (vendor data sheets).
PEAK_TFLOPS = {
    "TPU v4": 275.0,
    "TPU v5 lite": 197.0,
    "TPU v5e": 197.0,
    "TPU v5p": 459.0,
    "TPU v5": 459.0,
    "TPU v6 lite": 918.0,
    "TPU v6e": 918.0,
    "NVIDIA H200": 989.0,
    "NVIDIA H100": 989.0,  # SXM; PCIe 756
    "NVIDIA A100": 312.0,
    "NVIDIA L4": 121.0,
    "NVIDIA A10G": 125.0,
    "Tesla T4": 65.0,
    "Tesla V100": 125.0,
}
TINY = dict(hidden_size=32, num_heads=2, num_layers=2, sscp_conv_channels=(8, 4), output_proj_dims=48, output_dim=64)
FLOAT32_PARITY = 1e-4
BFLOAT16_COSINE = 0.99


def peak_tflops(device_kind: str):
    """The table's dense bf16 peak for `device_kind`, longest matching prefix first; None if unknown."""
    for prefix in sorted(PEAK_TFLOPS, key=len, reverse=True):
        if device_kind.startswith(prefix):
            return PEAK_TFLOPS[prefix]
    return None


def speech_like_rows(rows: int, seconds: float, seed: int = 0):
    """Features and mask of `rows` noise clips under a 4 Hz syllable envelope, the last 60% as long."""
    from gemma4_audio_embed.encoder import LogMelFrontend

    rng = np.random.default_rng(seed)
    clips = []
    for row in range(rows):
        n = int(16000 * seconds * (0.6 if row == rows - 1 and rows > 1 else 1.0))
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * np.arange(n) / 16000 + rng.uniform(0, 6))
        clips.append((0.1 * envelope * rng.standard_normal(n)).astype(np.float32))
    return LogMelFrontend().batch(clips)


def recast(model, dtype):
    """The same weights under another dtype policy."""
    other = type(model).from_config(model.get_config() | {"dtype": dtype})
    other.build()
    other.set_weights(model.get_weights())
    return other


def parity(model, features, mask):
    """Device float32 and bfloat16 against CPU float32, on valid tokens."""
    import jax

    from gemma4_audio_embed.encoder import make_predict_fn

    reference = make_predict_fn(model, devices=jax.devices("cpu"))(features, mask)
    valid = np.asarray(model.compute_output_mask(mask))
    float32 = make_predict_fn(model)(features, mask)
    bfloat16 = make_predict_fn(recast(model, "bfloat16"))(features, mask)
    scale = np.abs(reference[valid]).max()
    a, b = bfloat16[valid], reference[valid]
    cosine = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return {
        "float32_relative_error": float(np.abs(float32[valid] - reference[valid]).max() / scale),
        "bfloat16_relative_error": float(np.abs(bfloat16[valid] - reference[valid]).max() / scale),
        "bfloat16_min_token_cosine": float(cosine.min()),
    }


def flop_per_audio_second(predict, features, mask, audio_seconds):
    """FLOP of one call from XLA's cost analysis, per audio-second; None where it is not reported."""
    try:
        cost = predict.lower(features, mask).cost_analysis()  # before compiling: no second compile
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        return float(cost["flops"]) / audio_seconds
    except Exception:  # noqa: BLE001 - an optional figure; the table says n/a
        return None


def encoder_speed(model, dtype, batch_rows, row_seconds, repeats, peak):
    """Rows of speech-like audio through the compiled forward pass: audio-s/s and MFU per batch size."""
    from gemma4_audio_embed.encoder import make_predict_fn

    predict = make_predict_fn(model if dtype == "float32" else recast(model, dtype))
    results = []
    for rows in batch_rows:
        features, mask = speech_like_rows(rows, row_seconds, seed=rows)
        audio_seconds = rows * row_seconds
        predict(features, mask)  # compile
        start = time.perf_counter()
        for _ in range(repeats):
            predict(features, mask)
        rate = audio_seconds * repeats / (time.perf_counter() - start)
        # The program runs rows padded to a multiple of the device count: its FLOP are per padded row.
        padded_rows = -(-rows // len(predict.devices)) * len(predict.devices)
        flop = flop_per_audio_second(predict, features, mask, padded_rows * row_seconds)
        mfu = rate * flop / (peak * 1e12 * len(predict.devices)) if flop and peak else None
        results.append(
            {
                "dtype": dtype,
                "rows": rows,
                "audio_seconds_per_second": rate,
                "gflop_per_audio_second": flop and flop / 1e9,
                "mfu": mfu,
            }
        )
    return results


def peak_memory_bytes():
    """Peak bytes in use on the first local device, or the process's peak RSS on a CPU."""
    import jax

    stats = jax.local_devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return int(stats["peak_bytes_in_use"]), "device"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "process RSS"


def _pipeline_bench():
    spec = importlib.util.spec_from_file_location("pipeline_bench", REPO_ROOT / "bench" / "pipeline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def end_to_end(model, corpus_files, seed):
    """The pipeline with every default on a synthetic corpus: audio-s/s and host CPU-s per audio-s."""
    from gemma4_audio_embed.pipeline import cli as pipeline_main

    bench = _pipeline_bench()
    Stopwatch, make_corpus = bench.Stopwatch, bench.make_corpus

    folder = pathlib.Path(tempfile.mkdtemp(prefix="gemma4_device_check_"))
    (folder / "corpus").mkdir()
    make_corpus(folder / "corpus", corpus_files, seed, long_fraction=0.0)
    model.save(folder / "encoder.keras")
    flags = [
        "--input",
        str(folder / "corpus" / "*"),
        "--output",
        str(folder / "out" / "embeddings"),
        "--weights",
        str(folder / "encoder.keras"),
        "--keras_backend",
        "jax",
        "--runner",
        "FnApiRunner",
    ]
    with Stopwatch() as stopwatch, contextlib.redirect_stdout(sys.stderr):
        pipeline_main.run(flags)
    summary = json.loads((folder / "out" / "embeddings-summary.json").read_text())
    audio_seconds = summary["audio_hours"] * 3600
    return {
        "audio_seconds": audio_seconds,
        "records": summary["records"],
        "audio_seconds_per_second": audio_seconds / stopwatch.wall,
        "host_cpu_seconds_per_audio_second": stopwatch.cpu / audio_seconds,
        "devices": summary.get("devices"),
        "max_batch_frames": summary.get("max_batch_frames"),
        "features_on_device": summary.get("features_on_device"),
    }


def table(report) -> str:
    """The report as one Markdown table."""
    device, p = report["device"], report["parity"]
    limits = (p["float32_relative_error"] <= FLOAT32_PARITY, p["bfloat16_min_token_cosine"] >= BFLOAT16_COSINE)
    rows = [
        (
            "device",
            f"{device['count']} x {device['kind']} ({device['platform']}), peak {device['peak_tflops'] or 'n/a'} TFLOP/s bf16 each",
        ),
        ("config", f"{report['config']}, rows of {report['row_seconds']} s"),
        (
            "parity fp32 vs CPU fp32 (max rel, <= 1e-4)",
            f"{p['float32_relative_error']:.2e} {'ok' if limits[0] else 'FAIL'}",
        ),
        ("parity bf16 vs CPU fp32 (max rel)", f"{p['bfloat16_relative_error']:.2e}"),
        (
            "bf16 cosine per token (min, >= 0.99)",
            f"{p['bfloat16_min_token_cosine']:.5f} {'ok' if limits[1] else 'FAIL'}",
        ),
    ]
    for speed in report["encoder"]:
        mfu = f"{100 * speed['mfu']:.1f}%" if speed["mfu"] is not None else "n/a"
        flop = f"{speed['gflop_per_audio_second']:.3g}" if speed["gflop_per_audio_second"] else "n/a"
        rows.append(
            (
                f"encoder {speed['dtype']}, {speed['rows']} row{'s' if speed['rows'] != 1 else ''}",
                f"{speed['audio_seconds_per_second']:.1f} audio-s/s, MFU {mfu} ({flop} GFLOP/audio-s)",
            )
        )
    memory, where = report["peak_memory"]
    rows.append(("peak memory", f"{memory / 2**30:.2f} GiB ({where})"))
    e2e = report.get("end_to_end")
    if e2e:
        rows.append(
            (
                "pipeline end to end",
                f"{e2e['audio_seconds_per_second']:.1f} audio-s/s on {e2e['audio_seconds']:.0f} s of audio, {e2e['records']} records",
            )
        )
        rows.append(
            (
                "pipeline host CPU",
                f"{e2e['host_cpu_seconds_per_audio_second']:.5f} CPU-s per audio-s; devices {e2e['devices']}, max_batch_frames {e2e['max_batch_frames']}, features_on_device {e2e['features_on_device']}",
            )
        )
    lines = ["| check | result |", "|---|---|"] + [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=("released", "tiny"), default="released")
    parser.add_argument("--batch_rows", default="1,8,32", help="Comma-separated batch sizes, in rows.")
    parser.add_argument("--row_seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parity_rows", type=int, default=2)
    parser.add_argument("--corpus_files", type=int, default=40, help="0 skips the end-to-end run.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="Also write the report here.")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    backend = os.environ.setdefault("KERAS_BACKEND", "jax")
    if backend != "jax":
        raise SystemExit(
            f"device_check.py runs on JAX (it spreads rows over every local device); unset KERAS_BACKEND or set it to jax. Received: KERAS_BACKEND={backend}"
        )
    import jax

    from gemma4_audio_embed.encoder import default_encoder

    devices = jax.local_devices()
    kind = devices[0].device_kind
    model = default_encoder(seed=args.seed, **(TINY if args.config == "tiny" else {}))
    features, mask = speech_like_rows(args.parity_rows, args.row_seconds, seed=args.seed)
    peak = peak_tflops(kind)
    batch_rows = [int(rows) for rows in args.batch_rows.split(",")]
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "device": {"count": len(devices), "kind": kind, "platform": devices[0].platform, "peak_tflops": peak},
        "config": args.config,
        "row_seconds": args.row_seconds,
        "parity": parity(model, features, mask),
        "encoder": [
            *encoder_speed(model, "float32", batch_rows, args.row_seconds, args.repeats, peak),
            *encoder_speed(model, "bfloat16", batch_rows, args.row_seconds, args.repeats, peak),
        ],
    }
    report["peak_memory"] = peak_memory_bytes()
    if args.corpus_files:
        report["end_to_end"] = end_to_end(model, args.corpus_files, args.seed)
    print(table(report))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return report


if __name__ == "__main__":
    main()
