"""Specifications of pipeline/console.py: which native lines are noise, each warning once, the closing lines."""

import logging
import subprocess
import sys

import pytest
from testbed import REPO_ROOT

from gemma4_audio_embed.pipeline.console import DEFAULT
from gemma4_audio_embed.pipeline.console import QUIET
from gemma4_audio_embed.pipeline.console import VERBOSE
from gemma4_audio_embed.pipeline.console import OnceFilter
from gemma4_audio_embed.pipeline.console import closing_lines
from gemma4_audio_embed.pipeline.console import is_native_noise
from gemma4_audio_embed.pipeline.console import verbosity
from gemma4_audio_embed.pipeline.dead_letter_reasons import Reason

# What TensorFlow 2.21 and XLA print on a CPU machine (copied from a run), and what must pass.
NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796458791.392607     799 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    "not be used.",
    "I0000 00:00:1796458791.474490     799 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate "
    "compiler flags.",
    "E0000 00:00:1796458799.520645     799 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed "
    "call to cuInit: UNKNOWN ERROR (303)",
    "I0000 00:00:1796458803.730891    1098 device_compiler.h:208] Compiled cluster using XLA!  This line is logged "
    "at most once for the lifetime of the process.",
    "W0000 00:00:1796458803.1    1098 allocator.cc:1] Allocation of 1000 exceeds 10% of free system memory.",
]
KEPT = [
    "E0000 00:00:1796458799.520645     799 some_kernel.cc:52] Internal: a real failure",
    "F0000 00:00:1796458799.520645     799 check.cc:1] Check failed: fatal",
    "Traceback (most recent call last):",
    "gemma4-embed: error: --input is required",
]


@pytest.mark.parametrize("line", NOISE)
def test_native_start_up_lines_are_noise(line):
    assert is_native_noise(line + "\n")


@pytest.mark.parametrize("line", KEPT)
def test_native_errors_and_python_lines_pass(line):
    assert not is_native_noise(line + "\n")


@pytest.mark.parametrize(
    "argv, level", [([], DEFAULT), (["--quiet"], QUIET), (["--verbose"], VERBOSE), (["--quiet", "--verbose"], VERBOSE)]
)
def test_verbosity_from_the_command_line(argv, level):
    assert verbosity(["--input", "x", *argv]) == level


def test_each_distinct_warning_passes_once_and_other_levels_always():
    once = OnceFilter()

    def record(level, message, name="root"):
        return logging.LogRecord(name, level, __file__, 1, message, (), None)

    assert once.filter(record(logging.WARNING, "RANDOM weights"))
    assert not once.filter(record(logging.WARNING, "RANDOM weights"))
    assert once.filter(record(logging.WARNING, "RANDOM weights", name="other"))
    assert once.filter(record(logging.ERROR, "failed")) and once.filter(record(logging.ERROR, "failed"))


def test_the_native_stderr_filter_drops_noise_of_native_code_and_children_and_keeps_the_rest():
    child = f"import os; os.write(2, {NOISE[0].encode()!r} + bytes([10]))"  # a child process's native line
    code = f"""
import os, subprocess, sys
from gemma4_audio_embed.pipeline.console import NativeStderrFilter
with NativeStderrFilter():
    os.write(2, {NOISE[1].encode()!r} + bytes([10]))  # as a C library writes it
    os.write(2, b"E0000 00:00:1.0 1 k.cc:1] a real native error" + bytes([10]))
    subprocess.run([sys.executable, "-c", {child!r}])
    print("python's own stderr", file=sys.stderr)
print("after the block", file=sys.stderr)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(REPO_ROOT)}, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert sorted(done.stderr.splitlines()) == sorted(
        ["E0000 00:00:1.0 1 k.cc:1] a real native error", "python's own stderr", "after the block"]
    )


SUMMARY = {
    "records": 1234,
    "audio_hours": 0.5234,
    "tokens": 47100,
    "inputs": 500,
    "wall_seconds": 130.2,
    "audio_seconds_per_second": 14.47,
    "dead_letters": 3,
    "dead_letters_by_stage": {"read": 1, "decode": 2, "features": 0, "inference": 0, "output": 0},
    "repeated_audio": 0,
    "outputs": {"records": "o-*-of-*.tfrecord", "dead_letters": "o-dead-letter-*.jsonl", "index": "o-index-*.parquet"},
}


def test_closing_lines_say_what_was_done_why_inputs_failed_and_where_the_outputs_are():
    reasons = [
        Reason("decode", "InputError: Cannot decode <input> as audio: …", 2, "in/x.wav", "…"),
        Reason("read", "ValueError: <input>: no audio member", 1, "in/s.tar#k", "…"),
    ]
    assert closing_lines(SUMMARY, reasons, dead_letters_read=3, dead_letters_limit=100) == [
        "Embedded 1,234 clips (31 min 24 s of audio, 47,100 tokens) from 500 inputs in 2 min 10 s: 14.5 "
        "audio-seconds per second.",
        "Dead letters: 3 (read 1, decode 2).",
        "  read: 1x ValueError: <input>: no audio member e.g. in/s.tar#k",
        "  decode: 2x InputError: Cannot decode <input> as audio: … e.g. in/x.wav",
        "Records: o-*-of-*.tfrecord",
        "Index: o-index-*.parquet",
        "Dead-letter files: o-dead-letter-*.jsonl",
    ]
    clean = SUMMARY | {"dead_letters": 0, "dead_letters_by_stage": {"read": 0}, "repeated_audio": 2}
    assert closing_lines(clean, [], 0, 100)[0].startswith("Embedded 1,234 clips (31 min 24 s of audio,")
    assert closing_lines(clean, [], 0, 100)[1:3] == [
        "No dead letters.",
        "Repeated audio: 2 clips repeat another clip's audio.",
    ]


def test_closing_lines_count_one_clip_in_the_singular_and_hours_of_audio_in_hours():
    one = SUMMARY | {"records": 1, "tokens": 1, "inputs": 1, "audio_hours": 2.5}
    assert closing_lines(one, [], 0, 100)[0].startswith("Embedded 1 clip (2.50 h of audio, 1 token) from 1 input in ")


def test_closing_lines_say_how_many_other_reasons_a_stage_has_beyond_its_top_three():
    reasons = [Reason("decode", f"InputError: reason {i}", 5 - i, f"in/{i}.wav", "…") for i in range(5)]
    summary = SUMMARY | {"dead_letters": 15, "dead_letters_by_stage": {"decode": 15}}
    lines = closing_lines(summary, reasons, dead_letters_read=15, dead_letters_limit=100)
    assert lines[1:6] == [
        "Dead letters: 15 (decode 15).",
        "  decode: 5x InputError: reason 0 e.g. in/0.wav",
        "  decode: 4x InputError: reason 1 e.g. in/1.wav",
        "  decode: 3x InputError: reason 2 e.g. in/2.wav",
        "  decode: 2 other reasons (3 dead letters); `gemma4-embed report` lists them all.",
    ]


@pytest.mark.parametrize(
    "hours, audio", [(0.9999, "1.00 h"), (0.5 / 3600, "0.5 s"), (59.6 / 3600, "1 min 00 s"), (1 / 3600, "1 s")]
)
def test_closing_lines_give_the_audio_as_a_duration_under_an_hour_and_in_hours_from_one(hours, audio):
    assert closing_lines(SUMMARY | {"audio_hours": hours}, [], 0, 100)[0].startswith(
        f"Embedded 1,234 clips ({audio} of audio,"
    )


def test_closing_lines_of_a_rerun_with_nothing_left_say_so():
    rerun = SUMMARY | {"records": 0, "inputs": 0, "tokens": 0, "audio_hours": 0.0, "input_files_skipped": 1}
    rerun |= {"dead_letters": 0, "dead_letters_by_stage": {}}
    assert closing_lines(rerun, [], 0, 100)[:2] == [
        "Nothing new to embed: 1 input file already has records (--skip_existing).",
        "No dead letters in this run.",
    ]


def test_closing_lines_count_the_input_files_skip_existing_skipped():
    resumed = SUMMARY | {"input_files_skipped": 12}
    assert closing_lines(resumed, [], 0, 100)[1] == "Skipped 12 input files that already had records (--skip_existing)."


def test_closing_lines_say_one_repeated_clip_in_the_singular():
    one = SUMMARY | {"dead_letters": 0, "dead_letters_by_stage": {}, "repeated_audio": 1}
    assert closing_lines(one, [], 0, 100)[1:3] == [
        "No dead letters.",
        "Repeated audio: 1 clip repeats another clip's audio.",
    ]


def test_a_ctrl_c_inside_a_garbage_collection_callback_is_kept_for_the_launch_to_act_on():
    """Python drops a KeyboardInterrupt raised inside a gc callback (JAX's, at start-up): the job ran on."""
    probe = (
        "import gc, os, signal\n"
        "from gemma4_audio_embed.pipeline import console\n"
        "console.defer_interrupts()\n"
        "gc.callbacks.append(lambda phase, info: os.kill(os.getpid(), signal.SIGINT) if phase == 'start' else None)\n"
        "gc.collect()\n"
        "gc.callbacks.clear()\n"
        "try:\n"
        "    console.raise_if_interrupted()\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "interrupted\n" and "Traceback" not in done.stderr
