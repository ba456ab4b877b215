"""Encoder throughput: audio-seconds per second for ours, keras-hub's and transformers' encoders.

    python bench/encoder.py [--repeats 2] [--mixed_clips 16] [--skip transformers,...]

Default (released) configuration with random weights. Two input sets: (a) 8 clips x 30 s in one
batch, (b) a seeded mixed-length set (2-30 s) cut into length-sorted batches of at most 240 s,
each padded to its longest clip; every model gets the same batches. Log-mel extraction is done
once up front and not timed. Each backend runs in its own process; each process also measures
its backend's fp32 and bf16 matmul GFLOP/s, so every ratio compares figures from one run. Within
a process the timed repeats take the models in turn (fp32, bf16, keras-hub, fp32, ...), so the
ratios between them do not hinge on which one ran while the machine was busy.

Ratios: "ceiling" = (audio-s/s x 14.9 GFLOP) / the fp32 (or bf16 for bf16 rows) matmul
GFLOP/s of the same backend; "vs our fp32" = rate / our fp32 rate on the same backend; "vs
keras-hub" = rate / keras-hub's fp32 rate on the same backend: `jax.jit` on JAX, as ours; on
TensorFlow, ours runs through `encoder.inference.tensorflow_function` (on a CPU, oneDNN matmuls
with XLA-fused element-wise ops between them; one XLA program on an accelerator), and keras-hub
is timed both that way ("fused") and as a plain `tf.function`: the faster of the two is the base.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

# This file is named like the package it measures: put the repo root, not bench/, first on the path.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[0] = REPO_ROOT

GFLOP_PER_AUDIO_SECOND = 14.9  # spec section 9 (E4B; E2B 14.83)
SAMPLE_RATE = 16000
BATCH_AUDIO_SECONDS = 240


def input_sets(mixed_clips, seed=0):
    """{'8x30s': [(features, mask, audio_seconds)], 'mixed': [...]} with features [B, M, 128]."""
    from gemma4_audio_embed.encoder import LogMelFrontend

    rng = np.random.default_rng(seed)
    frontend = LogMelFrontend()

    def batches(lengths):
        clips = [rng.normal(scale=0.1, size=n).astype("float32") for n in sorted(lengths)]
        out, current = [], []
        for clip in clips:
            if current and (len(current) + 1) * len(clip) > BATCH_AUDIO_SECONDS * SAMPLE_RATE:
                out.append(current)
                current = []
            current.append(clip)
        out.append(current)
        return [(*frontend.batch(group), sum(map(len, group)) / SAMPLE_RATE) for group in out]

    mixed = rng.uniform(2, 30, size=mixed_clips) * SAMPLE_RATE
    return {"8x30s": batches([30 * SAMPLE_RATE] * 8), "mixed": batches(mixed.astype(int))}


def matmul_gflops(backend, dtype, size, repeats=5):
    import keras

    a = keras.random.normal((size, size), dtype=dtype)
    b = keras.random.normal((size, size), dtype=dtype)
    if backend == "jax":
        import jax

        from gemma4_audio_embed.encoder.matmul import float32_accumulated_matmul

        fn = jax.jit(float32_accumulated_matmul)  # XLA's fast bf16 form, the one the encoder uses
        run = lambda: fn(a, b).block_until_ready()  # noqa: E731
    elif backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda x, y: tf.matmul(x, y))
        run = lambda: fn(a, b).numpy()  # noqa: E731
    else:
        import torch

        run = lambda: torch.matmul(a, b)  # noqa: E731
    run()
    best = min(_timed(run) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _rates(predicts, sets, repeats):
    """{name: {set_name: audio-s/s}}: the best of `repeats` timings of every batch of a set.

    Every model is compiled for every shape first. Then the repeats go round the models in turn,
    so that a slow spell of a shared machine falls on all of them, not on whichever ran then.
    """
    for predict in predicts.values():
        for batches in sets.values():
            for features, mask, _ in batches:
                predict(features, mask)  # compile every shape
    best = {}
    for _ in range(repeats):
        for set_name, batches in sets.items():
            for name, predict in predicts.items():
                elapsed = _timed(lambda predict=predict, batches=batches: [predict(f, m) for f, m, _ in batches])
                best[name, set_name] = min(best.get((name, set_name), float("inf")), elapsed)
    return {
        name: {set_name: sum(s for *_, s in batches) / best[name, set_name] for set_name, batches in sets.items()}
        for name in predicts
    }


def _keras_hub_predicts(backend):
    """{name: predict} for keras-hub's encoder: `jax.jit` on JAX; on TensorFlow both a plain
    `tf.function` and `tensorflow_function` (the way ours runs): the table's base is the faster."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    model = keras_hub.models.Gemma4AudioEncoder(output_dim=2048)
    model(np.zeros((1, 8, 128), "float32"), np.ones((1, 8), bool))
    if backend == "jax":
        import jax

        @jax.jit
        def forward(tv, ntv, mel, mask):
            return model.stateless_call(tv, ntv, mel, mask)[0]

        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]
        return {"keras-hub jax fp32": lambda mel, mask: np.asarray(forward(tv, ntv, mel, mask))}
    import tensorflow as tf

    from gemma4_audio_embed.encoder.inference import tensorflow_default_jit_compile
    from gemma4_audio_embed.encoder.inference import tensorflow_function

    forwards = {
        "keras-hub tensorflow fp32": tf.function(
            lambda mel, mask: model(mel, mask), jit_compile=tensorflow_default_jit_compile()
        ),
        "keras-hub tensorflow fp32 fused": tensorflow_function(lambda mel, mask: model(mel, mask)),
    }
    return {name: (lambda mel, mask, f=forward: f(mel, mask).numpy()) for name, forward in forwards.items()}


def worker(backend, repeats, mixed_clips, skip):
    from gemma4_audio_embed.encoder import default_encoder
    from gemma4_audio_embed.encoder import make_predict_fn

    sets = input_sets(mixed_clips)
    ceilings = {
        "float32": matmul_gflops(backend, "float32", 4096),
        "bfloat16": matmul_gflops(backend, "bfloat16", 4096),
    }
    models = {  # name: (dtype, predict)
        f"ours {backend} {short}": (dtype, make_predict_fn(default_encoder(seed=0, dtype=dtype)))
        for short, dtype in (("fp32", "float32"), ("bf16", "bfloat16"))
    }
    if "keras-hub" not in skip:
        models.update({name: ("float32", predict) for name, predict in _keras_hub_predicts(backend).items()})
    rates = _rates({name: predict for name, (_, predict) in models.items()}, sets, repeats)
    rows = [
        {"name": name, "dtype": dtype, "backend": backend, "ceiling_gflops": ceilings[dtype], **rates[name]}
        for name, (dtype, _) in models.items()
    ]
    return {"backend": backend, "matmul_gflops": ceilings, "rows": rows}


def transformers_worker(repeats, mixed_clips):
    import torch
    from transformers.models.gemma4.configuration_gemma4 import Gemma4AudioConfig
    from transformers.models.gemma4.modeling_gemma4 import Gemma4AudioModel

    torch.manual_seed(0)
    model = Gemma4AudioModel(Gemma4AudioConfig()).eval()
    sets = input_sets(mixed_clips)

    def predict(features, mask):
        with torch.no_grad():
            return model(torch.from_numpy(features), torch.from_numpy(mask)).last_hidden_state.numpy()

    name = "transformers torch fp32 (eager)"
    rates = _rates({name: predict}, sets, repeats)[name]
    return {"backend": "torch", "rows": [{"name": name, "dtype": "float32", "backend": "torch", **rates}]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--mixed_clips", type=int, default=16)
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--skip", default="", help="comma list: keras-hub, transformers")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    if args.worker:
        result = (
            transformers_worker(args.repeats, args.mixed_clips)
            if args.worker == "transformers"
            else worker(args.worker, args.repeats, args.mixed_clips, skip)
        )
        print("RESULT " + json.dumps(result))
        return
    results = []
    workers = args.backends.split(",") + ([] if "transformers" in skip else ["transformers"])
    for name in workers:
        env = {**os.environ, "KERAS_BACKEND": "torch" if name == "transformers" else name, "TF_CPP_MIN_LOG_LEVEL": "2"}
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            name,
            "--repeats",
            str(args.repeats),
            "--mixed_clips",
            str(args.mixed_clips),
            "--skip",
            args.skip,
        ]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
        if not lines:
            sys.exit(f"worker {name} failed:\n{out.stderr[-3000:]}")
        results.append(json.loads(lines[-1][len("RESULT ") :]))
    print_table(results)


def print_table(results):
    import platform

    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    print(f"machine: {cpu}, {os.cpu_count()} cores")
    for result in results:
        if "matmul_gflops" in result:
            m = result["matmul_gflops"]
            print(
                f"{result['backend']} matmul 4096^3: fp32 {m['float32']:.0f} GFLOP/s, bf16 {m['bfloat16']:.0f} GFLOP/s"
            )
    kh = {}  # backend: keras-hub's faster row
    for r in (r for res in results for r in res["rows"] if r["name"].startswith("keras-hub")):
        kh[r["backend"]] = max(kh.get(r["backend"], r), r, key=lambda row: row["8x30s"])
    fp32 = {r["backend"]: r for res in results for r in res["rows"] if r["name"] == f"ours {r['backend']} fp32"}
    print(
        "| model | 8x30s audio-s/s | mixed audio-s/s | 8x30s of ceiling | vs keras-hub 8x30s / mixed "
        "| vs our fp32 8x30s / mixed |"
    )
    print("|---|---|---|---|---|---|")
    for res in results:
        for r in res["rows"]:
            ceiling = (
                f"{r['8x30s'] * GFLOP_PER_AUDIO_SECOND / r['ceiling_gflops']:.0%}" if "ceiling_gflops" in r else "-"
            )
            ratios = [_ratio_pair(r, base.get(r["backend"])) for base in (kh, fp32)]
            print(f"| {r['name']} | {r['8x30s']:.1f} | {r['mixed']:.1f} | {ceiling} | {ratios[0]} | {ratios[1]} |")


def _ratio_pair(row, base):
    """'1.54x / 1.49x': the row's 8x30s and mixed rates over `base`'s, or '-' without a base."""
    return " / ".join(f"{row[s] / base[s]:.2f}x" for s in ("8x30s", "mixed")) if base else "-"


if __name__ == "__main__":
    main()
