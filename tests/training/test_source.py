"""`TrainingSource` over outputs written by the job's writers (tests/training/fakes.py): grouping, order, random access, accounting.

Corpus (width 4; ids of `WordTokenizer(WORDS)`: hello 7, world 8, good 9, day 10, Transcribe: 11):
- `m.jsonl#a`: windows 0 (3 rows, shard 1) and 1 (2 rows, shard 0), text "hello world";
- `m.jsonl#b`: window 0 (4 rows, shard 0), text "good day".
With the default template the example of `a` is
`<bos> <|audio> <|audio|> x 3 <audio|> <|audio> <|audio|> x 2 <audio|> Transcribe: hello world <eos>`:
ids `2 4 5 5 5 6 4 5 5 6 11 7 8 1`, labels -100 x 11 then `7 8 1`.
"""

import pickle
import time

import numpy as np
import pyarrow.parquet
import pytest
from fakes import WordTokenizer
from fakes import window_rows
from fakes import write_output
from synthetic_audio import tone
from synthetic_audio import write_audio

from gemma4_audio_embed.outputs.index import write_index_file
from gemma4_audio_embed.outputs.record_files import write_record_file
from gemma4_audio_embed.outputs.schema import bfloat16_bits
from gemma4_audio_embed.outputs.schema import float32_from_bfloat16_bits
from gemma4_audio_embed.pipeline.cli import run
from gemma4_audio_embed.records import record_file_payloads
from gemma4_audio_embed.training import PromptTemplate
from gemma4_audio_embed.training import TrainingSource
from gemma4_audio_embed.training.output_index import output_inputs

WORDS = ["hello", "world", "good", "day", "Transcribe:"]
A, B = "m.jsonl#a", "m.jsonl#b"
WINDOWS = [
    {"key": f"{A}@0", "num_tokens": 3, "metadata": {"text": "hello world"}, "shard": 1},
    {"key": f"{A}@1", "num_tokens": 2, "metadata": {"text": "hello world"}, "shard": 0},
    {"key": f"{B}@0", "num_tokens": 4, "metadata": {"text": "good day"}, "shard": 0},
]
A_IDS = [2, 4, 5, 5, 5, 6, 4, 5, 5, 6, 11, 7, 8, 1]
A_LABELS = [-100] * 11 + [7, 8, 1]
B_IDS = [2, 4, 5, 5, 5, 5, 6, 11, 9, 10, 1]


def _source(tmp_path, windows=WINDOWS, suffix=".tfrecord", template=None, **files):
    prefix = str(tmp_path / "out" / "embeddings")
    (tmp_path / "out").mkdir(exist_ok=True)
    write_output(prefix, windows, suffix, **files)
    return prefix, lambda **kwargs: TrainingSource(prefix, WordTokenizer(WORDS), template, **kwargs)


@pytest.mark.parametrize("suffix", [".tfrecord", ".array_record"])
def test_each_input_is_one_example_with_its_windows_in_order(tmp_path, suffix):
    _, make = _source(tmp_path, suffix=suffix)
    source = make()
    assert len(source) == 2 and source.keys == [A, B] and source.skipped == {}
    np.testing.assert_array_equal(source.lengths, [14, 11])
    example = source[0]
    assert example.key == A and example.clip_keys == (f"{A}@0", f"{A}@1")
    np.testing.assert_array_equal(example.token_ids, A_IDS)
    np.testing.assert_array_equal(example.labels, A_LABELS)
    for rows, window in zip(example.embeddings, WINDOWS[:2]):  # from two shards, in window order
        np.testing.assert_array_equal(rows, window_rows(window["key"], window["num_tokens"], 4))
    np.testing.assert_array_equal(source[1].token_ids, B_IDS)


def test_the_template_places_metadata_fields(tmp_path):
    template = PromptTemplate(prompt="Transcribe: {lang} <audio>", answer="{text}")
    windows = [{**window, "metadata": {**window["metadata"], "lang": "day"}} for window in WINDOWS]
    _, make = _source(tmp_path, windows, template=template)
    np.testing.assert_array_equal(make()[1].token_ids, [2, 11, 10, 4, 5, 5, 5, 5, 6, 9, 10, 1])


def test_a_missing_window_makes_its_input_incomplete(tmp_path):
    _, make = _source(tmp_path, [WINDOWS[1], WINDOWS[2]])
    with pytest.raises(
        ValueError, match=rf"1 incomplete input\(s\), e.g. {A}: windows \[0\] have no record \(present: \[1\]\)"
    ):
        make()
    source = make(on_incomplete="skip")
    assert source.keys == [B] and list(source.skipped) == [A]


def test_a_dead_letter_makes_its_input_incomplete(tmp_path):
    dead = {
        "key": f"{A}@2",
        "input_key": A,
        "stage": "decode",
        "error": "InputError: decoding failed after 2 window(s)",
    }
    _, make = _source(tmp_path, dead_letters=[dead])
    source = make(on_incomplete="skip")
    assert source.keys == [B]
    assert source.skipped == {
        A: f"dead letter at stage 'decode' for {A}@2: InputError: decoding failed after 2 window(s)"
    }


@pytest.mark.parametrize(
    "metadata, reason",
    [
        ({"language": "en"}, r"its metadata lacks the template's fields \['text'\]"),
        ({"text": None}, r"its metadata lacks the template's fields \['text'\]"),
        # " {text}" would teach a lone space, then <eos>.
        ({"text": ""}, r"its answer ' ' is empty"),
        # <|audio|> would add a placeholder run without rows; <eos> would end the answer early.
        ({"text": "good <eos> day <|audio|>"}, r"its text .* holds the special token\(s\) \['audio', 'eos'\]"),
    ],
)
def test_metadata_that_makes_no_answer_makes_its_input_incomplete(tmp_path, metadata, reason):
    _, make = _source(tmp_path, [WINDOWS[0], WINDOWS[1], {**WINDOWS[2], "metadata": metadata}])
    with pytest.raises(ValueError, match=rf"1 incomplete input\(s\), e.g. {B}: {reason}"):
        make()
    assert make(on_incomplete="skip").keys == [A]


def test_a_deduplicated_window_borrows_the_record_it_repeats(tmp_path):
    """With --dedup, `b`'s window 1 repeats `a`'s window 1: `b` trains on that record's rows."""
    duplicate = {"key": f"{B}@1", "input_key": B, "duplicate_of": f"{A}@1", "audio_sha256": ""}
    wholly_repeated = {"key": "m.jsonl#c@0", "input_key": "m.jsonl#c", "duplicate_of": f"{B}@0", "audio_sha256": ""}
    _, make = _source(tmp_path, duplicates=[duplicate, wholly_repeated])
    source = make(on_incomplete="skip")
    assert source.keys == [A, B]
    example = source[1]
    assert example.clip_keys == (f"{B}@0", f"{A}@1")
    np.testing.assert_array_equal(example.embeddings[1], window_rows(f"{A}@1", 2, 4))
    assert list(source.skipped) == ["m.jsonl#c"]  # no record holds its own metadata (its transcript)


def test_an_index_that_disagrees_with_its_record_file_is_named(tmp_path):
    prefix, make = _source(tmp_path)
    record_file = f"{prefix}-00000-of-00002.tfrecord"  # holds b@0, then a@1
    write_record_file(record_file, list(record_file_payloads(record_file))[::-1])
    source = make()
    with pytest.raises(
        ValueError, match=rf"{record_file}: record 1 is '{B}@0' with 4 tokens, but the index lists '{A}@1' with 2"
    ):
        source[0]


def test_a_gzip_output_cannot_be_read_at_random(tmp_path):
    _, make = _source(tmp_path, suffix=".tfrecord.gz")
    with pytest.raises(ValueError, match="cannot be read at random; embed with --output_format array_record"):
        make()[0]


def test_a_prefix_without_an_index_is_refused(tmp_path):
    with pytest.raises(ValueError, match="has no index files"):
        TrainingSource(str(tmp_path / "nothing"), WordTokenizer(WORDS))


def test_a_pickled_source_reads_the_same_examples(tmp_path):
    _, make = _source(tmp_path, suffix=".array_record")
    source = make()
    source[0]  # opens the files in this process
    copy = pickle.loads(pickle.dumps(source))
    for index in range(len(source)):
        np.testing.assert_array_equal(copy[index].token_ids, source[index].token_ids)
        for ours, theirs in zip(copy[index].embeddings, source[index].embeddings):
            np.testing.assert_array_equal(ours, theirs)


def test_on_incomplete_takes_raise_or_skip(tmp_path):
    _, make = _source(tmp_path)
    with pytest.raises(ValueError, match="`on_incomplete` must be one of"):
        make(on_incomplete="drop")


def test_a_truncated_tfrecord_file_is_named_on_its_first_read(tmp_path):
    prefix, make = _source(tmp_path)
    record_file = f"{prefix}-00001-of-00002.tfrecord"  # holds a@0
    with open(record_file, "r+b") as f:
        f.truncate(f.seek(0, 2) - 5)
    source = make()
    with pytest.raises(ValueError, match=rf"{record_file}: record 0 is truncated"):
        source[0]


def test_an_output_with_no_complete_input_is_refused_even_when_skipping(tmp_path):
    dead = [
        {"key": f"{key}@0", "input_key": key, "stage": "decode", "error": "InputError: not audio"} for key in (A, B)
    ]
    _, make = _source(tmp_path, windows=[], dead_letters=dead)
    with pytest.raises(ValueError, match=rf"no complete input to train on; 2 incomplete input\(s\), e.g. {A}: dead"):
        make(on_incomplete="skip")


def test_a_window_listed_by_two_index_files_is_refused(tmp_path):
    """Two runs' files under one prefix (here 2 shards, then 3 of another model): which rows are right is unknowable."""
    prefix, _ = _source(tmp_path)
    write_output(prefix, [{**window, "shard": 2} for window in WINDOWS], num_shards=3)
    with pytest.raises(
        ValueError,
        match=rf"'{A}@0' is listed by two index files: \S+-index-00001-of-00002.parquet and \S+-00002-of-00003",
    ):
        TrainingSource(prefix, WordTokenizer(WORDS))


def test_bfloat16_records_are_widened_exactly(tmp_path):
    """`--output_dtype bfloat16`: rows come back float32, each the bfloat16 value (`seed + t` rounded to 8 bits)."""
    _, make = _source(tmp_path, suffix=".array_record", embedding_dtype="bfloat16")
    example = make()[0]
    for rows, window in zip(example.embeddings, WINDOWS[:2]):
        exact = window_rows(window["key"], window["num_tokens"], 4)
        assert rows.dtype == np.float32
        np.testing.assert_array_equal(rows, float32_from_bfloat16_bits(bfloat16_bits(exact)))
        assert not np.array_equal(rows, exact)  # the rounding is visible


def test_an_index_whose_token_count_disagrees_with_the_record_is_named(tmp_path):
    prefix, make = _source(tmp_path)
    index_file = f"{prefix}-index-00001-of-00002.parquet"  # lists a@0, 3 tokens
    rows = pyarrow.parquet.read_table(index_file).to_pylist()
    write_index_file(index_file, [{**row, "num_tokens": 4} for row in rows], {})
    with pytest.raises(ValueError, match=rf"record 0 is '{A}@0' with 3 tokens, but the index lists '{A}@0' with 4"):
        make()[0]


def test_a_dead_letter_of_an_attempt_a_later_skip_existing_run_redid_leaves_its_input_complete(
    tmp_path, tiny_encoder_path
):
    corpus = tmp_path / "in"
    corpus.mkdir()
    write_audio(corpus / "a.wav", tone(1.0, seed=1), 16000)
    (corpus / "b.wav").write_bytes(b"not audio yet")  # dead-lettered by the first run, fixed for the second
    (corpus / "c.wav").write_bytes(b"never audio")  # dead-lettered by both
    output = str(tmp_path / "out" / "emb")
    argv = ["--input", f"{corpus}/*.wav", "--output", output, "--weights", str(tiny_encoder_path), "--skip_existing"]
    run([*argv, "--runner", "FnApiRunner", "--bucket_seconds", "4"])
    assert sorted(output_inputs(output).incomplete) == [str(corpus / "b.wav"), str(corpus / "c.wav")]
    time.sleep(1)  # run ids order runs by their launch second
    write_audio(corpus / "b.wav", tone(1.5, seed=2), 16000)
    run([*argv, "--runner", "FnApiRunner", "--bucket_seconds", "4"])
    found = output_inputs(output)
    assert [item.key for item in found.complete] == [str(corpus / "a.wav"), str(corpus / "b.wav")]
    assert list(found.incomplete) == [str(corpus / "c.wav")]
    assert "dead letter at stage 'decode'" in found.incomplete[str(corpus / "c.wav")]
