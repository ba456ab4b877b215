"""Benchmark of the embedding pipeline against the bare encoder and a naive batching baseline.

Makes a seeded synthetic corpus with a realistic length mix (per 100 files: 85 of 2-20 s, 12 of
20-30 s, 3 of 2-5 min (`--long_fraction`); WAV, FLAC, OGG, MP3 and a tar shard; 8 to 48 kHz,
mono and stereo) and
measures, in one process, on the default-size encoder with seeded random weights:

1. end to end: `gemma4_audio_embed.pipeline.cli.run` on the corpus (FnApiRunner), wall time from launch to summary;
2. encoder only: building the same encoder, then its compiled forward pass on the same clips,
   batched and packed as the pipeline packs them (compiles included, as in the pipeline;
   reading, decoding, features, Beam and writing not);
3. naive: the same encoder (or with `--naive_model keras_hub` keras-hub's `Gemma4AudioEncoder`,
   its documented use), built afresh, on the same clips, each padded to 30 s (3000 frames), in
   batches of a fixed size (its build and its one compile included, as for the other two);
4. front end: reading, decoding, resampling and log-mel features of every clip in this one
   process, the CPU work a worker does before the encoder (its CPU-time rate is per core);
   and the same with `--features_on_device`, where the host stops after resampling and
   the compiled program computes log-mel: host CPU-seconds per audio-second both ways;
5. front end per format: the same work per file format, audio-seconds per CPU-second, with the
   pipeline's decoder (FFmpeg through PyAV) beside the libsndfile decoder it replaced (kept here
   only, as the baseline), timed in turns (`--front_end_repeats`, fastest kept); also the
   decoding and resampling alone, without log-mel.

Library imports (Beam, Keras and its backend, and TensorFlow, which Keras imports when it first
serializes a model) happen before any timer starts. Rates are seconds of audio embedded per
wall-clock second. Usage:

    python bench/pipeline.py --num_files 40 --keras_backend jax
    python bench/pipeline.py --num_files 100 --length_mix lognormal --naive_model keras_hub --keras_backend jax

Prints one JSON object; bench/RESULTS.md records runs with their dates.
"""

import argparse
import contextlib
import importlib
import io
import json
import logging
import os
import pathlib
import platform
import sys
import tarfile
import tempfile
import time

import numpy as np
import soundfile

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

NAIVE_FRAMES = 3000  # 30 s of mel frames, as keras-hub's converter pads every clip
FORMATS = [  # (extension, soundfile format, sample rate, channels)
    ("wav", "WAV", 16000, 1),
    ("flac", "FLAC", 22050, 1),
    ("ogg", "OGG", 16000, 1),
    ("mp3", "MP3", 44100, 2),
    ("wav", "WAV", 48000, 2),
    ("ogg", "OGG", 8000, 1),
]


LOGNORMAL_MEDIAN_SECONDS, LOGNORMAL_SIGMA = 10.0, 0.6  # --length_mix lognormal, clipped to 1-30 s


def _length_seconds(
    rng: np.random.Generator, index: int, num_files: int, long_fraction: float, length_mix: str = "default"
) -> float:
    """The length mix: `long_fraction` of files 2-5 min (at least one if > 0), 12% 20-30 s, the rest 2-20 s.

    The short lengths are log-uniform (median 6.3 s, mean 7.8 s). With `length_mix="lognormal"`,
    every file is lognormal around 10 s (sigma 0.6, median 10 s, mean about 12 s) clipped to
    1-30 s, and `long_fraction` is not used.
    """
    if length_mix == "lognormal":
        return float(np.clip(rng.lognormal(np.log(LOGNORMAL_MEDIAN_SECONDS), LOGNORMAL_SIGMA), 1.0, 30.0))
    num_long = max(1, round(long_fraction * num_files)) if long_fraction > 0 else 0
    num_mid = round(0.12 * num_files)
    if index < num_long:
        return float(rng.uniform(120, 300))
    if index < num_long + num_mid:
        return float(rng.uniform(20, 30))
    return float(np.exp(rng.uniform(np.log(2), np.log(20))))


def _signal(rng: np.random.Generator, seconds: float, rate: int, channels: int) -> np.ndarray:
    """Speech-like noise: noise bursts under a 4 Hz syllable envelope, `float32 [R, C]`."""
    time_axis = np.arange(round(seconds * rate)) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * time_axis + rng.uniform(0, 6))
    samples = 0.1 * envelope[:, None] * rng.standard_normal((time_axis.size, channels))
    return samples.astype(np.float32)


def make_corpus(
    folder: pathlib.Path, num_files: int, seed: int, long_fraction: float, length_mix: str = "default"
) -> float:
    """Writes the corpus into `folder` (every 5th short file into one tar shard); returns its seconds."""
    rng = np.random.default_rng(seed)
    total = 0.0
    members = {}
    for index in range(num_files):
        seconds = _length_seconds(rng, index, num_files, long_fraction, length_mix)
        extension, file_format, rate, channels = FORMATS[index % len(FORMATS)]
        buffer = io.BytesIO()
        soundfile.write(buffer, _signal(rng, seconds, rate, channels), rate, format=file_format)
        total += seconds
        name = f"clip-{index:05d}.{extension}"
        if seconds < 20 and index % 5 == 0:
            members[name] = buffer.getvalue()
        else:
            (folder / name).write_bytes(buffer.getvalue())
    with tarfile.open(folder / "shard-00000.tar", "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return total


def corpus_features(folder: pathlib.Path, max_clip_seconds: float, on_device: bool = False) -> list:
    """Decodes the corpus as the pipeline does and returns each clip's valid frames, `float32 [Mv, F]`,
    or with `on_device` the samples they read, `float32 [Mv * 160]` (`ComputeFeatures`)."""
    from gemma4_audio_embed.audio.decode import decoded_clips
    from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
    from gemma4_audio_embed.inputs.sources.tar_shards import tar_shard_inputs

    inputs = []
    for path in sorted(folder.iterdir()):
        if path.suffix == ".tar":
            with open(path, "rb") as stream:
                inputs += list(tar_shard_inputs(stream, str(path)))
        else:
            inputs.append(EncodedAudio(str(path), str(path), path.read_bytes()))
    from gemma4_audio_embed.batching.features import ComputeFeatures

    compute = ComputeFeatures(keras_backend=os.environ["KERAS_BACKEND"], features_on_device=on_device)
    compute.setup()
    compute.start_bundle()
    features = []
    for item in inputs:
        for clip in decoded_clips(item, io.BytesIO(item.data), max_clip_seconds):
            features += [clip_input for _, clip_input in compute.process(clip)]
    return features


def libsndfile_clips(data: bytes, max_clip_seconds: float) -> list:
    """The 16 kHz windows of one file as the pipeline cut them before FFmpeg: libsndfile, soxr (the baseline)."""
    import soxr

    from gemma4_audio_embed.audio.decode import BLOCK_FRAMES
    from gemma4_audio_embed.audio.decode import RESAMPLER_QUALITY
    from gemma4_audio_embed.audio.decode import window_samples

    with soundfile.SoundFile(io.BytesIO(data)) as audio:
        rate = audio.samplerate
        stream = soxr.ResampleStream(rate, 16000, 1, dtype="float32", quality=RESAMPLER_QUALITY)
        parts = []
        while True:
            block = audio.read(BLOCK_FRAMES, dtype="float32", always_2d=True)  # [R', C]
            last = block.shape[0] == 0
            mono = block.mean(axis=1, dtype=np.float32)
            parts.append(mono if rate == 16000 else stream.resample_chunk(mono, last=last))
            if last:
                break
    samples = np.concatenate(parts)
    window = window_samples(max_clip_seconds)
    return [samples[start : start + window] for start in range(0, samples.shape[0], window)]


def ffmpeg_clips(data: bytes, max_clip_seconds: float) -> list:
    """The 16 kHz windows of one file as the pipeline cuts them (FFmpeg through PyAV, soxr)."""
    from gemma4_audio_embed.audio.decode import decoded_clips
    from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio

    encoded = EncodedAudio("k", "bench", data)
    return [clip.waveform for clip in decoded_clips(encoded, io.BytesIO(data), max_clip_seconds)]


def front_end_by_format(folder: pathlib.Path, max_clip_seconds: float, repeats: int) -> dict:
    """Audio-seconds per CPU-second of each decoder per file format: decode+resample and with log-mel.

    The decoders take turns on each format `repeats` times; each keeps its fastest CPU time.
    """
    from gemma4_audio_embed import encoder

    frontend = encoder.LogMelFrontend()
    files = {}
    for path in sorted(folder.iterdir()):
        if path.suffix != ".tar":
            files.setdefault(path.suffix.lstrip("."), []).append(path.read_bytes())
    decoders = {"ffmpeg": ffmpeg_clips, "libsndfile": libsndfile_clips}
    report, totals = {}, {}
    for extension, payloads in files.items():
        best = {}
        audio_seconds = 0.0
        for _ in range(repeats):
            for name, decode in decoders.items():
                for with_log_mel in (False, True):
                    with Stopwatch() as watch:
                        samples = 0
                        for data in payloads:
                            for waveform in decode(data, max_clip_seconds):
                                samples += waveform.shape[0]
                                if with_log_mel:
                                    frontend(waveform)
                    audio_seconds = samples / 16000
                    phase = (name, with_log_mel)
                    best[phase] = min(best.get(phase, float("inf")), watch.cpu)
        report[extension] = {"files": len(payloads), **_format_rates(audio_seconds, best)}
        totals["audio"] = totals.get("audio", 0.0) + audio_seconds
        for phase, cpu in best.items():
            totals[phase] = totals.get(phase, 0.0) + cpu
    audio_seconds = totals.pop("audio")
    report["all"] = {"files": sum(entry["files"] for entry in report.values()), **_format_rates(audio_seconds, totals)}
    return report


def _format_rates(audio_seconds: float, cpu_seconds: dict) -> dict:
    """Audio-seconds per CPU-second of each (decoder, with log-mel) phase, and FFmpeg / libsndfile."""
    rates = {
        f"{name}_{'front_end' if with_log_mel else 'decode'}": round(audio_seconds / cpu, 1)
        for (name, with_log_mel), cpu in cpu_seconds.items()
    }
    for phase in ("front_end", "decode"):
        rates[f"ffmpeg_vs_libsndfile_{phase}"] = round(rates[f"ffmpeg_{phase}"] / rates[f"libsndfile_{phase}"], 2)
    return {"audio_seconds": round(audio_seconds, 1), **rates}


def pipeline_batches(features: list, lengths: tuple, max_batch_frames: int) -> list:
    """The batches `PackClips` forms from one bundle, packed as `EncoderModelHandler` packs them."""
    from gemma4_audio_embed.batching.pack_clips import ClipPacker
    from gemma4_audio_embed.batching.row_packing import RELEASE_GEOMETRY
    from gemma4_audio_embed.batching.row_packing import packed_batch

    packer = ClipPacker(lengths[-1], max_batch_frames, RELEASE_GEOMETRY)
    chosen = [batch for clip in features for batch in packer.add(clip, clip.shape[0])] + packer.flush()
    return [packed_batch(batch, lengths, max_batch_frames, RELEASE_GEOMETRY)[:2] for batch in chosen]


def naive_batches(features: list, batch_size: int) -> list:
    """Every clip padded to 30 s, `batch_size` clips a batch (the last one padded with copies)."""
    batches = []
    for start in range(0, len(features), batch_size):
        clips = features[start : start + batch_size]
        clips = clips + [clips[0]] * (batch_size - len(clips))
        mel = np.zeros((batch_size, NAIVE_FRAMES, clips[0].shape[1]), np.float32)  # [B, 3000, F]
        mask = np.zeros((batch_size, NAIVE_FRAMES), bool)  # [B, 3000]
        for row, clip in enumerate(clips):
            mel[row, : clip.shape[0]] = clip
            mask[row, : clip.shape[0]] = True
        batches.append((mel, mask))
    return batches


class Stopwatch:
    """Wall and CPU seconds (all threads of this process) of a `with` block.

    Other processes on a shared machine slow the wall clock of any phase at random; the CPU
    time of this process is much less sensitive to them, so the report gives both.
    """

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc_info):
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def run_keras_hub_forward(batches: list) -> None:
    """keras-hub's `Gemma4AudioEncoder` (the released size, seeded random weights), built afresh and
    compiled as keras-hub's own JAX path does (`jax.jit` of `stateless_call`), over `batches`."""
    import jax
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    model = keras_hub.models.Gemma4AudioEncoder(output_dim=2048)
    model(np.zeros((1, 8, 128), "float32"), np.ones((1, 8), bool))  # builds it
    forward = jax.jit(lambda tv, ntv, mel, mask: model.stateless_call(tv, ntv, mel, mask)[0])
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    for mel, mask in batches:
        np.asarray(forward(trainable, non_trainable, mel, mask))


def run_forward(model, batches: list) -> None:
    """A fresh compiled forward pass over `batches`, compiles included as in the pipeline."""
    from gemma4_audio_embed import encoder

    predict = encoder.make_predict_fn(model)
    for mel, mask in batches:
        predict(mel, mask)


def _rates(audio_seconds: float, stopwatch: Stopwatch) -> dict:
    return {
        "wall_seconds": round(stopwatch.wall, 1),
        "cpu_seconds": round(stopwatch.cpu, 1),
        "audio_seconds_per_second": round(audio_seconds / stopwatch.wall, 2),
        "audio_seconds_per_cpu_second": round(audio_seconds / stopwatch.cpu, 2),
    }


def _ratios(numerator: dict, denominator: dict) -> dict:
    return {
        "by_wall_time": round(numerator["audio_seconds_per_second"] / denominator["audio_seconds_per_second"], 2),
        "by_cpu_time": round(
            numerator["audio_seconds_per_cpu_second"] / denominator["audio_seconds_per_cpu_second"], 2
        ),
    }


def front_end_report(corpus: pathlib.Path, max_clip_seconds: float, audio_seconds: float, args) -> dict:
    """Host CPU-seconds per audio-second of the front end with log-mel on the host and with it on
    the device (decoding and resampling only), each the best of two passes, and the drop."""
    shares = {}
    for on_device in (False, True):
        cpu = []
        for _ in range(2):
            with Stopwatch() as stopwatch:
                corpus_features(corpus, max_clip_seconds, on_device)
            cpu.append(stopwatch.cpu)
        shares[on_device] = min(cpu) / audio_seconds
    return {
        "host_cpu_seconds_per_audio_second": {
            "features_on_host": round(shares[False], 5),
            "features_on_device": round(shares[True], 5),
            "drop": round(1 - shares[True] / shares[False], 3),
        }
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num_files", type=int, default=40, help="Files in the corpus (about 19 s of audio each).")
    parser.add_argument("--long_fraction", type=float, default=0.03, help="Share of files lasting 2-5 minutes.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--length_mix",
        choices=("default", "lognormal"),
        default="default",
        help="default: the mix above; lognormal: every file lognormal around 10 s, 1-30 s.",
    )
    parser.add_argument(
        "--naive_model",
        choices=("ours", "keras_hub"),
        default="ours",
        help="The encoder of the naive pad-to-30 s baseline: ours, or keras-hub's (its documented use; JAX only).",
    )
    parser.add_argument("--keras_backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    parser.add_argument("--naive_batch_size", type=int, default=8)
    parser.add_argument(
        "--max_batch_frames", type=int, default=None, help="Passed to the pipeline (its default if unset)."
    )
    parser.add_argument("--bucket_seconds", default=None, help="Passed to the pipeline (its default if unset).")
    parser.add_argument("--skip_naive", action="store_true", help="Leave out the naive baseline (the slowest part).")
    parser.add_argument(
        "--front_end_repeats", type=int, default=3, help="Turns of each decoder per format (fastest kept)."
    )
    parser.add_argument(
        "--front_end_only",
        action="store_true",
        help="Measure only the host front end: per format and decoder, and with and without "
        "--features_on_device (no encoder runs).",
    )
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.keras_backend
    logging.getLogger().setLevel(logging.WARNING)

    from apache_beam.options.pipeline_options import PipelineOptions

    from gemma4_audio_embed import encoder
    from gemma4_audio_embed.batching.batch_budget import resolve_max_batch_frames
    from gemma4_audio_embed.batching.batch_plan import BatchPlan
    from gemma4_audio_embed.pipeline.cli import run
    from gemma4_audio_embed.pipeline.options import EmbedOptions

    # Keras imports TensorFlow, when installed, at its first serialization (the pipeline's model
    # fingerprint calls get_config): a one-off 2-3 s per process that only the first phase would
    # pay. Like Beam's and Keras's own imports it is paid here, outside every timer.
    with contextlib.suppress(ImportError):
        importlib.import_module("tensorflow")

    folder = pathlib.Path(tempfile.mkdtemp(prefix="gemma4_bench_"))
    (folder / "corpus").mkdir()
    corpus_seconds = make_corpus(folder / "corpus", args.num_files, args.seed, args.long_fraction, args.length_mix)
    by_format = front_end_by_format(folder / "corpus", 30.0, args.front_end_repeats)
    flags = [
        "--input",
        str(folder / "corpus" / "*"),
        "--output",
        str(folder / "out" / "embeddings"),
        "--keras_backend",
        args.keras_backend,
        "--runner",
        "FnApiRunner",
    ]
    if args.max_batch_frames:
        flags += ["--max_batch_frames", str(args.max_batch_frames)]
    if args.bucket_seconds:
        flags += ["--bucket_seconds", args.bucket_seconds]
    options = PipelineOptions(flags).view_as(EmbedOptions)

    if args.front_end_only:
        report = {
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "front_end_by_format": by_format,
            **front_end_report(folder / "corpus", options.max_clip_seconds, corpus_seconds, args),
        }
        print(json.dumps(report, indent=2))
        return
    with Stopwatch() as end_to_end, contextlib.redirect_stdout(sys.stderr):  # stdout is for the report
        run(flags)
    summary = json.loads((folder / "out" / "embeddings-summary.json").read_text())
    audio_seconds = summary["audio_hours"] * 3600

    with Stopwatch() as front_end:
        features = corpus_features(folder / "corpus", options.max_clip_seconds)
    lengths = BatchPlan.from_seconds(
        bucket_seconds=options.bucket_seconds,
        max_clip_seconds=options.max_clip_seconds,
        max_batch_frames=options.max_batch_frames,
        encoder_config={},
    ).lengths
    max_batch_frames = resolve_max_batch_frames(options.max_batch_frames, args.keras_backend, "float32", lengths[-1])
    batches = pipeline_batches(features, lengths, max_batch_frames)
    with Stopwatch() as encoder_only:
        model = encoder.default_encoder(seed=0)
        run_forward(model, batches)
    valid_frames = sum(clip.shape[0] for clip in features)
    padded_frames = sum(mel.shape[0] * mel.shape[1] for mel, _ in batches)
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "keras_backend": args.keras_backend,
        "corpus": {
            "files": args.num_files,
            "length_mix": args.length_mix,
            "long_fraction": args.long_fraction,
            "audio_seconds": round(corpus_seconds, 1),
            "clips": len(features),
            "records": summary["records"],
            "dead_letters": summary["dead_letters"],
        },
        "bucket_lengths": list(lengths),
        "max_batch_frames": max_batch_frames,
        "batches": len(batches),
        "compiled_shapes": len({mel.shape for mel, _ in batches}),
        "padding_efficiency": round(valid_frames / padded_frames, 3),
        "end_to_end_padding_efficiency": round(summary["padding_efficiency"], 3),
        "front_end": _rates(audio_seconds, front_end),
        "front_end_by_format": by_format,
        "end_to_end": _rates(audio_seconds, end_to_end),
        "encoder_only": _rates(audio_seconds, encoder_only),
    }
    report["end_to_end_vs_encoder_only"] = _ratios(report["end_to_end"], report["encoder_only"])
    report.update(front_end_report(folder / "corpus", options.max_clip_seconds, audio_seconds, args))
    if not args.skip_naive:
        naive = naive_batches(features, args.naive_batch_size)
        del model
        with Stopwatch() as naive_time:
            if args.naive_model == "keras_hub":
                run_keras_hub_forward(naive)
            else:
                run_forward(encoder.default_encoder(seed=0), naive)
        report["naive_model"] = args.naive_model
        report["naive_padding_efficiency"] = round(
            valid_frames / sum(mel.shape[0] * mel.shape[1] for mel, _ in naive), 3
        )
        report["naive"] = _rates(audio_seconds, naive_time)
        report["end_to_end_vs_naive"] = _ratios(report["end_to_end"], report["naive"])
    report["load_average_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
