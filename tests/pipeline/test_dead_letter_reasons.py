"""Specifications of pipeline/dead_letter_reasons.py: one reason per failure, whatever input it hit."""

import json

import pytest

from gemma4_audio_embed.pipeline.dead_letter_reasons import Reason
from gemma4_audio_embed.pipeline.dead_letter_reasons import dead_letters
from gemma4_audio_embed.pipeline.dead_letter_reasons import reason
from gemma4_audio_embed.pipeline.dead_letter_reasons import top_reasons


def _entry(stage, key, source, error_type, error):
    return {
        "stage": stage,
        "key": key,
        "input_key": key.rsplit("@", 1)[0],
        "source": source,
        "error_type": error_type,
        "error": error,
    }


TRUNCATED = _entry(
    "decode",
    "/in/a.wav",
    "/in/a.wav",
    "InputError",
    "gemma4_audio_embed.audio.decode.InputError: /in/a.wav is truncated: its data chunk declares 32000 bytes "
    "(1.000 s), the file holds 100 bytes (0.003 s).",
)
NOT_AUDIO = _entry(
    "decode",
    "/in/s.tar#b.wav",
    "/in/s.tar",
    "InputError",
    "gemma4_audio_embed.audio.decode.InputError: Cannot decode /in/s.tar#b.wav as audio: [Errno 1094995529] "
    "Invalid data found when processing input: '<none>'",
)
SHORT = _entry(
    "features",
    "/in/c.wav@3",
    "/in/c.wav",
    "ValueError",
    "ValueError: /in/c.wav@3 lasts 0.005 s, shorter than --min_clip_seconds=0.5.",
)


@pytest.mark.parametrize(
    "entry, text",
    [
        (
            TRUNCATED,
            "InputError: <input> is truncated: its data chunk declares N bytes (N s), the file holds N bytes (N s).",
        ),
        (
            NOT_AUDIO,
            "InputError: Cannot decode <input> as audio: [Errno N] Invalid data found when processing input: '…'",
        ),
        (SHORT, "ValueError: <input> lasts N s, shorter than --min_clip_seconds=N."),
        ({"error": "boom"}, "Error: boom"),
    ],
)
def test_reason_takes_out_the_input_and_its_numbers(entry, text):
    assert reason(entry) == text


def test_top_reasons_count_per_stage_most_frequent_first_with_the_first_as_example():
    other = _entry(
        "decode", "/in/z.wav", "/in/z.wav", "InputError", TRUNCATED["error"].replace("/in/a.wav", "/in/z.wav")
    )
    assert top_reasons([NOT_AUDIO, TRUNCATED, SHORT, other]) == [
        Reason("decode", reason(TRUNCATED), 2, "/in/a.wav", TRUNCATED["error"]),
        Reason("decode", reason(NOT_AUDIO), 1, "/in/s.tar#b.wav", NOT_AUDIO["error"]),
        Reason("features", reason(SHORT), 1, "/in/c.wav@3", SHORT["error"]),
    ]


def test_dead_letters_reads_every_file_in_order_up_to_a_limit(tmp_path):
    for name, entries in (
        ("o-dead-letter-00001-of-00002.jsonl", [SHORT]),
        ("o-dead-letter-00000-of-00002.jsonl", [TRUNCATED, NOT_AUDIO]),
    ):
        (tmp_path / name).write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    pattern = str(tmp_path / "o-dead-letter-*.jsonl")
    assert list(dead_letters(pattern)) == [TRUNCATED, NOT_AUDIO, SHORT]
    assert list(dead_letters(pattern, limit=2)) == [TRUNCATED, NOT_AUDIO]
