"""End-to-end tests for pipeline/main.py: the real graph on tiny generated corpora, tiny encoder.

Toy encoder: tests/conftest.py's TINY_ENCODER_CONFIG (output width 64, output_proj 48). A clip of
N samples at 16 kHz has floor((N - 1) / 160) valid frames and ceil(that / 4) tokens.
"""

import io
import json
import logging
import math
import pathlib
import sys

import keras
import numpy as np
import pytest
import soundfile
import soxr
from accounting import accounted_outputs
from fingerprints import files_fingerprint
from synthetic_audio import audio_bytes
from synthetic_audio import ffmpeg_encoded
from synthetic_audio import ffmpeg_reference
from synthetic_audio import tone
from synthetic_audio import write_audio
from synthetic_audio import write_hostile_files
from synthetic_audio import write_manifest
from synthetic_audio import write_parquet
from synthetic_audio import write_tar
from synthetic_audio import write_tfrecord
from testbed import TINY_ENCODER_CONFIG

from gemma4_audio_embed import encoder
from gemma4_audio_embed import records
from gemma4_audio_embed.metrics import counter_values
from gemma4_audio_embed.outputs import schema
from gemma4_audio_embed.pipeline.cli import run

# Clip A: 1.3 s mono at 16 kHz, N = 20800: 129 valid frames, 33 tokens.
# Clip B: 2.1 s stereo at 22.05 kHz, resampled to N = 33600: 209 valid frames, 53 tokens.
CLIP_A = tone(1.3, 16000, seed=1)
CLIP_B = tone(2.1, 22050, channels=2, seed=2)
FAST_FLAGS = ["--runner", "FnApiRunner", "--bucket_seconds", "4"]  # buckets of 432 and 3024 frames


def _expected_tokens(num_samples):
    return math.ceil(((num_samples - 1) // 160) / 4)


def _run(tmp_path, tiny_encoder_path, inputs, *flags):
    output = str(tmp_path / "out" / "embeddings")
    argv = ["--input", inputs, "--output", output, "--weights", str(tiny_encoder_path), *FAST_FLAGS, *flags]
    result = run(argv)
    return output, result


def _read_outputs(output, suffix=".tfrecord"):
    return accounted_outputs(output, f"{output}-*-of-*{suffix}")


@pytest.fixture(scope="module")
def tiny_model(tiny_encoder_path):
    return keras.saving.load_model(tiny_encoder_path)


def _reference_waveform(data: bytes) -> np.ndarray:
    """The clip decoded independently of the pipeline: soundfile, channel mean, one-shot soxr."""
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    mono = samples.mean(axis=1, dtype=np.float32)
    return mono if rate == 16000 else soxr.resample(mono, rate, 16000, quality="HQ")


def _check_against_direct_calls(found, tiny_model, waveforms, tiny_encoder_path):
    """Each record equals the encoder called eagerly on its whole clip, valid tokens only."""
    frontend = encoder.LogMelFrontend()
    fingerprint = files_fingerprint({"tiny.keras": tiny_encoder_path}, TINY_ENCODER_CONFIG)
    for record in found:
        waveform = waveforms[record.key]
        features, mask = frontend(waveform)
        expected = keras.ops.convert_to_numpy(tiny_model(features[None], mask[None]))[0]  # [T, 64]
        assert record.num_tokens == _expected_tokens(waveform.shape[0])
        assert record.duration_seconds == pytest.approx(waveform.shape[0] / 16000)
        assert record.model_fingerprint == fingerprint
        assert record.embedding.shape == (record.num_tokens, 64)
        expected = expected[: record.num_tokens]
        assert np.linalg.norm(record.embedding - expected) / np.linalg.norm(expected) <= 1e-5


def _check_tf_data_parses(output, found):
    tf = pytest.importorskip("tensorflow")
    files = tf.io.gfile.glob(f"{output}-*-of-*.tfrecord")
    parsed = {
        item["key"].numpy().decode(): item["embedding"].numpy()
        for item in tf.data.TFRecordDataset(files).map(records.tf_parse_example)
    }
    assert sorted(parsed) == [record.key for record in found]
    for record in found:
        np.testing.assert_array_equal(parsed[record.key], record.embedding)


def _format_corpus(tmp_path, input_format):
    """Writes clips A and B in `input_format`; returns (--input, {record key: reference waveform})."""
    folder = tmp_path / "in"
    folder.mkdir()
    wav, flac = audio_bytes(CLIP_A, 16000), audio_bytes(CLIP_B, 22050, format="FLAC")
    if input_format == "audio":
        (folder / "a.wav").write_bytes(wav)
        (folder / "b.flac").write_bytes(flac)
        keys = [f"{folder}/a.wav@0", f"{folder}/b.flac@0"]
        pattern = str(folder / "*")
    elif input_format == "tar":
        shard = write_tar(folder / "shard.tar", {"a.wav": wav, "a.json": b"{}", "b.flac": flac})
        keys = [f"{shard}#a.wav@0", f"{shard}#b.flac@0"]
        pattern = str(shard)
    elif input_format == "tfrecord":
        shard = write_tfrecord(folder / "shard.tfrecord", [{"audio": wav, "id": b"a"}, {"audio": flac}])
        keys = [f"{shard}#a@0", f"{shard}#1@0"]
        pattern = str(shard)
    elif input_format == "parquet":
        (folder / "b.flac").write_bytes(flac)
        shard = write_parquet(
            folder / "shard.parquet",
            [
                {"audio": {"bytes": wav, "path": "a.wav"}, "id": "a"},
                {"audio": {"bytes": None, "path": "b.flac"}},
            ],
        )
        keys = [f"{shard}#a@0", f"{shard}#1@0"]
        pattern = str(shard)
    else:  # manifest
        (folder / "a.wav").write_bytes(wav)
        (folder / "b.flac").write_bytes(flac)
        manifest = write_manifest(
            folder / "list.jsonl", [{"audio_filepath": "a.wav", "id": "a"}, {"path": str(folder / "b.flac")}]
        )
        keys = [f"{manifest}#a@0", f"{manifest}#2@0"]
        pattern = str(manifest)
    return pattern, {keys[0]: _reference_waveform(wav), keys[1]: _reference_waveform(flac)}


@pytest.mark.parametrize("input_format", ["audio", "tar", "tfrecord", "parquet", "manifest"])
def test_each_input_format_end_to_end(tmp_path, tiny_encoder_path, tiny_model, input_format):
    pattern, waveforms = _format_corpus(tmp_path, input_format)
    output, result = _run(tmp_path, tiny_encoder_path, pattern, "--input_format", input_format)
    found, dead, summary = _read_outputs(output)
    assert dead == []
    assert [record.key for record in found] == sorted(waveforms)
    assert [record.num_tokens for record in found] == [
        _expected_tokens(w.shape[0]) for _, w in sorted(waveforms.items())
    ]
    _check_against_direct_calls(found, tiny_model, waveforms, tiny_encoder_path)
    _check_tf_data_parses(output, found)
    tokens = sum(record.num_tokens for record in found)  # 33 + 53 = 86
    assert (summary["inputs"], summary["clips"], summary["records"], summary["dead_letters"]) == (2, 2, 2, 0)
    assert summary["tokens"] == tokens == 86
    assert counter_values(result.metrics())["tokens_embedded"] == 86


# (file name, container, codec, rate, channels, with video, muxer options): every format the
# README lists, written by FFmpeg; Ogg Vorbis and GSM 6.10 come from libsndfile (no FFmpeg encoder).
FFMPEG_FILES = [
    ("talk.m4a", "ipod", "aac", 16000, 1, False, None),
    ("browser.webm", "webm", "libopus", 48000, 2, False, None),
    ("voice.wma", "asf", "wmav2", 22050, 1, False, None),
    ("phone.amr", "amr", "libopencore_amrnb", 8000, 1, False, None),
    ("adpcm.wav", "wav", "adpcm_ms", 16000, 1, False, None),
    ("mulaw.wav", "wav", "pcm_mulaw", 8000, 1, False, None),
    ("alaw.wav", "wav", "pcm_alaw", 8000, 1, False, None),
    ("float.wav", "wav", "pcm_f32le", 44100, 2, False, None),
    ("mp3payload.wav", "wav", "libmp3lame", 16000, 1, False, None),
    ("big.rf64", "wav", "pcm_s16le", 16000, 1, False, {"rf64": "always"}),
    ("big.w64", "w64", "pcm_s24le", 44100, 2, False, None),
    ("clip.aiff", "aiff", "pcm_s16be", 22050, 1, False, None),
    ("clip.flac", "flac", "flac", 48000, 2, False, None),
    ("clip.mp3", "mp3", "libmp3lame", 44100, 2, False, None),
    ("clip.opus", "ogg", "libopus", 48000, 1, False, None),
    ("clip.mka", "matroska", "aac", 22050, 1, False, None),
    ("video.mp4", "mp4", "aac", 44100, 2, True, None),
]


def test_ffmpeg_formats_as_files_and_as_bytes_in_every_container(tmp_path, tiny_encoder_path, tiny_model):
    folder = tmp_path / "in"
    folder.mkdir()
    encoded = {
        name: ffmpeg_encoded(tone(1.2, rate, channels, seed=index), rate, container, codec, options, with_video=video)
        for index, (name, container, codec, rate, channels, video, options) in enumerate(FFMPEG_FILES)
    }
    encoded["vorbis.ogg"] = audio_bytes(tone(1.2, 22050, seed=40), 22050, format="OGG")
    encoded["gsm.wav"] = audio_bytes(tone(1.2, 8000, seed=41), 8000, subtype="GSM610")
    waveforms = {}
    for name, data in encoded.items():
        (folder / name).write_bytes(data)
        waveforms[f"{folder / name}@0"] = ffmpeg_reference(data)
    shard = write_tar(folder / "shard.tar", {f"member.{name}": data for name, data in encoded.items()})
    tfrecord = write_tfrecord(
        folder / "shard.tfrecord", [{"audio": data, "id": name.encode()} for name, data in encoded.items()]
    )
    parquet = write_parquet(
        folder / "shard.parquet",
        [{"audio": {"bytes": data, "path": None}, "id": name} for name, data in encoded.items()],
    )
    for name in encoded:
        reference = waveforms[f"{folder / name}@0"]
        waveforms.update(
            {f"{shard}#member.{name}@0": reference, f"{tfrecord}#{name}@0": reference, f"{parquet}#{name}@0": reference}
        )
    output, _ = _run(tmp_path, tiny_encoder_path, str(folder / "*"))
    found, dead, summary = _read_outputs(output)
    assert dead == []
    assert [record.key for record in found] == sorted(waveforms)
    _check_against_direct_calls(found, tiny_model, waveforms, tiny_encoder_path)
    assert summary["inputs"] == 4 * len(encoded)


def test_seventy_second_file_gives_three_windows(tmp_path, tiny_encoder_path, tiny_model):
    samples = tone(70.0, seed=9)
    path = write_audio(tmp_path / "long.wav", samples, 16000, subtype="FLOAT")
    output, _ = _run(tmp_path, tiny_encoder_path, str(path))
    found, dead, summary = _read_outputs(output)
    assert dead == []
    assert [(r.segment_index, r.start_seconds, r.duration_seconds) for r in found] == [
        (0, 0.0, 30.0),
        (1, 30.0, 30.0),
        (2, 60.0, 10.0),
    ]
    assert [r.num_tokens for r in found] == [750, 750, 250]  # floor(479999 / 160) = 2999 -> 750; 999 -> 250
    windows = {f"{path}@{index}": samples[480000 * index : 480000 * (index + 1)] for index in range(3)}
    _check_against_direct_calls(found, tiny_model, windows, tiny_encoder_path)
    assert summary["audio_hours"] == pytest.approx(70 / 3600)


def _hostile_corpus(folder: pathlib.Path):
    """Two good clips, every hostile file, and bad entries inside good containers.

    Returns (--input, {input key: expected stage, or "record"}).
    """
    folder.mkdir()
    expected = {str(folder / name): stage for name, stage in write_hostile_files(folder).items()}
    write_audio(folder / "good.wav", CLIP_A, 16000)
    (folder / "good.flac").write_bytes(audio_bytes(CLIP_B, 22050, format="FLAC"))
    shard = write_tar(folder / "mixed.tar", {"ok.wav": audio_bytes(CLIP_A, 16000), "textonly.txt": b"hello"})
    (folder / "broken.tar").write_bytes(b"\x00garbage" * 200)
    manifest = write_manifest(
        folder / "list.jsonl",
        [{"path": "good.wav", "id": "m1"}, "{not json", {"path": "missing.wav", "id": "gone"}],
    )
    expected.update(
        {
            str(folder / "good.wav"): "record",
            str(folder / "good.flac"): "record",
            f"{shard}#ok.wav": "record",
            f"{shard}#textonly": "read",
            str(folder / "broken.tar"): "read",
            f"{manifest}#m1": "record",
            f"{manifest}#2": "read",
            f"{manifest}#gone": "decode",
        }
    )
    return str(folder / "*"), expected


def _check_conservation(output, expected):
    found, dead, summary = _read_outputs(output)
    recorded = {record.key.rsplit("@", 1)[0] for record in found}
    dead_stages = {entry["input_key"]: entry["stage"] for entry in dead}
    assert recorded.isdisjoint(dead_stages)
    observed = {key: "record" for key in recorded} | dead_stages
    assert observed == expected
    assert all(entry["error"] and entry["source"] for entry in dead)
    assert all(np.isfinite(record.embedding).all() for record in found)
    assert summary["inputs"] == len(expected) == 15
    assert summary["records"] == len(found) == 4
    assert summary["dead_letters"] == len(dead) == 11
    assert summary["dead_letters_by_stage"] == {
        "read": 3,
        "decode": 6,
        "features": 2,
        "inference": 0,
        "output": 0,
    }
    assert summary["clips"] == 6  # 4 records + nan.wav + one_sample.wav
    return found, dead


def test_hostile_corpus_every_input_is_accounted_for(tmp_path, tiny_encoder_path):
    pattern, expected = _hostile_corpus(tmp_path / "in")
    output, result = _run(tmp_path, tiny_encoder_path, pattern)
    _check_conservation(output, expected)
    counters = counter_values(result.metrics())
    assert {name: counters[name] for name in ("inputs_read", "clips_read", "clips_embedded", "dead_letters")} == {
        "inputs_read": 15,
        "clips_read": 6,
        "clips_embedded": 4,
        "dead_letters": 11,
    }
    nan_entry = next(entry for entry in _read_outputs(output)[1] if entry["input_key"].endswith("nan.wav"))
    assert nan_entry["key"].endswith("nan.wav@0") and "finite" in nan_entry["error"]


@pytest.mark.parametrize(
    "model_flags",
    [(), ("--no_share_model_across_processes",)],
    ids=["one_model_shared_by_the_workers", "one_model_per_worker"],
)
def test_hostile_corpus_under_multi_processing(tmp_path, tiny_encoder_path, model_flags):
    pattern, expected = _hostile_corpus(tmp_path / "in")
    output, _ = _run(
        tmp_path,
        tiny_encoder_path,
        pattern,
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
        *model_flags,
    )
    _check_conservation(output, expected)


def test_direct_runner_stays_local(tmp_path, tiny_encoder_path, caplog):
    # DirectRunner skips Prism (and its download) for graphs with exception-handling DoFns and
    # runs on the FnApiRunner; see docs/operations.md, "Runners".
    pattern, expected = _hostile_corpus(tmp_path / "in")
    output = str(tmp_path / "out" / "embeddings")
    argv = [
        "--input",
        pattern,
        "--output",
        output,
        "--weights",
        str(tiny_encoder_path),
        "--runner",
        "DirectRunner",
    ]
    with caplog.at_level(logging.INFO):
        run(argv + ["--bucket_seconds", "4"])
    assert "PrismRunner" not in caplog.text
    _check_conservation(output, expected)


def test_bfloat16_output_round_trips_through_both_readers(tmp_path, tiny_encoder_path, tiny_model):
    pattern, waveforms = _format_corpus(tmp_path, "audio")
    output, _ = _run(tmp_path, tiny_encoder_path, pattern, "--output_dtype", "bfloat16")
    found, _, _ = _read_outputs(output)
    frontend = encoder.LogMelFrontend()
    for record in found:
        assert record.embedding_dtype == "bfloat16"
        features, mask = frontend(waveforms[record.key])
        expected = keras.ops.convert_to_numpy(tiny_model(features[None], mask[None]))[0, : record.num_tokens]
        # bfloat16 keeps 8 significant bits: half a unit in the last place is 2^-8 relative.
        np.testing.assert_allclose(record.embedding, expected, rtol=2**-8, atol=1e-6)
        assert np.array_equal(
            record.embedding, schema.float32_from_bfloat16_bits(schema.bfloat16_bits(record.embedding))
        )
    _check_tf_data_parses(output, found)


def test_output_flags_tower_float16_gzip_shards(tmp_path, tiny_encoder_path):
    pattern, _ = _format_corpus(tmp_path, "audio")
    output, _ = _run(
        tmp_path,
        tiny_encoder_path,
        pattern,
        "--output_layer",
        "tower",
        "--output_dtype",
        "float16",
        "--output_compression",
        "gzip",
        "--num_shards",
        "2",
    )
    found, _, summary = _read_outputs(output, suffix=".tfrecord.gz")
    shards = sorted(path.name for path in (tmp_path / "out").glob("embeddings-*.tfrecord.gz"))
    assert shards == ["embeddings-00000-of-00002.tfrecord.gz", "embeddings-00001-of-00002.tfrecord.gz"]
    assert [(record.embedding_dim, record.embedding_dtype) for record in found] == [(48, "float16")] * 2
    assert summary["outputs"]["records"].endswith("-*-of-*.tfrecord.gz")


def _upload(data: bytes, uri: str) -> None:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.create(uri) as f:
        f.write(data)


def test_gcs_inputs_outputs_and_hf_checkpoint(tmp_path, gcs_bucket):
    """Inputs, outputs and a Hugging Face checkpoint folder on gs://; records match transformers."""
    pytest.importorskip("transformers")
    sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "encoder"))
    from hf_oracle import make_checkpoint
    from hf_oracle import reference_outputs

    hf_model = make_checkpoint(tmp_path / "hf")  # tiny random Gemma 4, text hidden size 40
    for path in (tmp_path / "hf").iterdir():
        _upload(path.read_bytes(), f"{gcs_bucket}/model/hf/{path.name}")
    wav = audio_bytes(CLIP_A, 16000)
    _upload(wav, f"{gcs_bucket}/in/a.wav")
    _upload(write_tar(tmp_path / "s.tar", {"b.wav": wav}).read_bytes(), f"{gcs_bucket}/in/s.tar")
    _upload(b"not audio", f"{gcs_bucket}/in/bad.wav")
    output = f"{gcs_bucket}/out/embeddings"
    run(
        [
            "--input",
            f"{gcs_bucket}/in/*",
            "--output",
            output,
            "--hf_checkpoint",
            f"{gcs_bucket}/model/hf",
            *FAST_FLAGS,
        ]
    )

    found, (dead,), summary = accounted_outputs(output)
    assert [record.key for record in found] == [f"{gcs_bucket}/in/a.wav@0", f"{gcs_bucket}/in/s.tar#b.wav@0"]
    features, mask = encoder.LogMelFrontend()(_reference_waveform(wav))  # 16-bit PCM, as stored
    reference, _ = reference_outputs(hf_model, features[None], mask[None])  # [1, T, 40]
    for record in found:
        assert record.embedding.shape == (_expected_tokens(CLIP_A.shape[0]), 40)
        expected = reference[0, : record.num_tokens]
        assert np.abs(record.embedding - expected).max() / np.abs(expected).max() <= 1e-5
    assert (dead["key"], dead["stage"]) == (f"{gcs_bucket}/in/bad.wav", "decode")
    assert (summary["inputs"], summary["records"], summary["dead_letters"]) == (3, 2, 1)


def test_launch_fails_fast_on_bad_flags(tmp_path):
    with pytest.raises(ValueError, match="--input is required"):
        run(["--output", str(tmp_path / "o")])
    with pytest.raises(ValueError, match="matches no file"):
        run(["--input", str(tmp_path / "*.wav"), "--output", str(tmp_path / "o")])


# --- The command line: --help and launch errors (`main`, `python -m gemma4_audio_embed`). ---


def _embed_flags():
    """Every flag `EmbedOptions` defines for users, read from the class (not the hidden `--run_id` the launch sets)."""
    import argparse

    from gemma4_audio_embed.pipeline.options import EmbedOptions

    parser = argparse.ArgumentParser(add_help=False)
    EmbedOptions._add_argparse_args(parser)
    return [flag for action in parser._actions if action.help != argparse.SUPPRESS for flag in action.option_strings]


def _check_help(text):
    flags = _embed_flags()
    assert {"--input", "--output", "--keras_hub_preset", "--no_share_model_across_processes"} <= set(flags)
    missing = [flag for flag in flags if flag not in text]
    assert missing == []
    for group in ("inputs:", "model:", "output:", "batching and runtime:", "console:"):
        assert f"\n{group}\n" in text
    assert "(default: 30.0)" in text and "(default: float32)" in text
    assert text.rstrip().splitlines()[-1] == "Beam's runner flags pass through: --runner, --project, --region, ..."


def test_help_of_the_console_script_lists_every_flag(monkeypatch, capsys):
    from gemma4_audio_embed.pipeline.cli import main

    monkeypatch.setattr(sys, "argv", ["gemma4-embed", "--help"])  # what the console script runs
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: gemma4-embed --input PATTERN --output PREFIX")
    _check_help(out)


def _python_m_pipeline(*flags, env=None):
    import os
    import subprocess

    root = str(pathlib.Path(__file__).resolve().parents[2])
    env = dict(env or os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "gemma4_audio_embed", *flags],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=300,
    )


def test_help_of_python_m_pipeline_lists_every_flag():
    done = _python_m_pipeline("--help")
    assert done.returncode == 0
    _check_help(done.stdout)


def _write_folder(folder, files):
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return str(folder)


@pytest.mark.parametrize(
    "flags, message",
    [
        ([], "--input is required"),
        (["--input", "{wav}"], "--output is required"),
        (["--input", "{tmp}/*.flac", "--output", "{out}"], "--input pattern '.*\\*.flac' matches no file."),
        (
            ["--input", "{wav}", "--output", "{out}", "--compute_dtype", "f16"],
            "argument --compute_dtype: invalid choice: 'f16'",
        ),
        (
            ["--input", "{wav}", "--output", "{out}", "--weights", "{keras}", "--keras_hub_preset", "p"],
            "Pass at most one of --hf_checkpoint, --weights, --keras_hub_preset.",
        ),
        (
            ["--input", "{wav}", "--output", "{out}", "--hf_checkpoint", "{tmp}/none"],
            "No checkpoint folder '.*/none', and it is a local path, so no Hub request is made",
        ),
        (
            ["--input", "{wav}", "--output", "{out}", "--hf_checkpoint", "{empty}"],
            "--hf_checkpoint .*: Expected config.json in",
        ),
        (
            ["--input", "{wav}", "--output", "{out}", "--hf_checkpoint", "{text_only}"],
            "config.json has no audio_config",
        ),
        (["--input", "{wav}", "--output", "{out}", "--weights", "{wav}"], "--weights .*a.wav' is not a .keras file"),
        (
            ["--input", "{wav}", "--output", "{out}", "--weights", "{other_keras}"],
            "holds a Sequential, not a Gemma4AudioEncoder",
        ),
        (
            ["--input", "{wav}", "--output", "{out}", "--keras_hub_preset", "{text_only}"],
            "--keras_hub_preset .*has no audio encoder",
        ),
        (["--input", "{wav}", "--output", "{out}", "--runner", "Nope"], "--runner 'Nope': Unexpected pipeline runner"),
    ],
    ids=[
        "no-input",
        "no-output",
        "no-match",
        "bad-choice",
        "two-sources",
        "no-folder",
        "no-config",
        "no-audio-config",
        "not-keras",
        "other-keras-model",
        "preset-without-audio",
        "unknown-runner",
    ],
)
def test_launch_errors_are_one_line_exit_2_and_start_nothing(
    tmp_path, tiny_encoder_path, capsys, caplog, flags, message
):
    import re
    import zipfile

    from gemma4_audio_embed.pipeline.cli import main

    wav = write_audio(tmp_path / "a.wav", CLIP_A, 16000)
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as archive:
        archive.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {}}))
        archive.writestr("model.weights.h5", b"")
    values = {
        "other_keras": str(tmp_path / "other.keras"),
        "tmp": str(tmp_path),
        "wav": str(wav),
        "out": str(tmp_path / "out" / "e"),
        "keras": str(tiny_encoder_path),
        "empty": _write_folder(tmp_path / "empty", {}),
        "text_only": _write_folder(
            tmp_path / "text_only", {"config.json": json.dumps({"model_type": "gemma4_text", "config": {}})}
        ),
    }
    with caplog.at_level(logging.INFO), pytest.raises(SystemExit) as exit_info:
        main([flag.format(**values) for flag in flags])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith("gemma4-embed: error: ") and re.search(message, line), line
    assert "Traceback" not in captured.err + captured.out
    assert not [record for record in caplog.records if record.name.startswith("apache_beam")]
    assert not (tmp_path / "out").exists()


def test_the_console_shows_no_native_start_up_lines_and_closes_with_what_was_done(tmp_path, tiny_encoder_path):
    import os

    folder = tmp_path / "in"
    folder.mkdir()
    write_audio(folder / "a.wav", CLIP_A, 16000)
    (folder / "b.flac").write_bytes(audio_bytes(CLIP_B, 22050, format="FLAC"))
    (folder / "c.wav").write_bytes(b"RIFF, but not audio")
    output = str(tmp_path / "out" / "e")
    flags = ["--input", str(folder / "*"), "--output", output, "--weights", str(tiny_encoder_path)]
    # TensorFlow, the default backend, is the one that prints start-up lines on its own.
    done = _python_m_pipeline(*flags, *FAST_FLAGS, env={**os.environ, "KERAS_BACKEND": "tensorflow"})
    assert done.returncode == 0, done.stderr
    # Without a terminal, progress is a line every 30 s; nothing else reaches stderr.
    assert [line for line in done.stderr.splitlines() if not line.startswith("gemma4-embed: ")] == []
    summary = json.loads(pathlib.Path(f"{output}-summary.json").read_text())
    assert (summary["records"], summary["dead_letters"]) == (2, 1)
    lines = done.stdout.splitlines()
    assert lines[0].startswith(
        f"Embedded 2 clips ({round(summary['audio_hours'] * 3600)} s of audio, 86 tokens) from 3 inputs in "
    )
    assert lines[1:3] == [
        "Dead letters: 1 (decode 1).",
        "  decode: 1x InputError: Cannot decode <input> as audio: Invalid data found when processing input "
        f"(FFmpeg finds no audio container it reads at the start of the file). e.g. {folder / 'c.wav'}",
    ]
    assert lines[-1] == f"Summary: {output}-summary.json"
    assert f"Records: {output}-*-of-*.tfrecord" in lines


def test_quiet_prints_nothing_and_the_summary_file_is_written(tmp_path, tiny_encoder_path, capsys):
    wav = write_audio(tmp_path / "a.wav", CLIP_A, 16000)
    output, _ = _run(tmp_path, tiny_encoder_path, str(wav), "--quiet")
    assert capsys.readouterr().out == ""
    assert json.loads(pathlib.Path(f"{output}-summary.json").read_text())["records"] == 1


def test_the_closing_lines_of_a_skip_existing_rerun_list_its_own_dead_letters_only(tmp_path, tiny_encoder_path, capsys):
    corpus = tmp_path / "in"
    corpus.mkdir()
    write_audio(corpus / "a.wav", tone(1.0), 16000)
    (corpus / "c.wav").write_bytes(b"never audio")  # dead-lettered by each run
    output = tmp_path / "out" / "emb"
    argv = ["--input", f"{corpus}/*.wav", "--output", str(output), "--weights", str(tiny_encoder_path)]
    run([*argv, "--skip_existing", *FAST_FLAGS])
    capsys.readouterr()
    run([*argv, "--skip_existing", *FAST_FLAGS])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:4] == [
        "Skipped 1 input file that already had records (--skip_existing).",
        "Dead letters: 1 (decode 1).",
        "  decode: 1x InputError: Cannot decode <input> as audio: Invalid data found when processing input "
        f"(FFmpeg finds no audio container it reads at the start of the file). e.g. {corpus / 'c.wav'}",
    ]
