"""Small real stand-ins for the reader's unit tests: a word tokenizer, and job outputs written by the job's own writers.

`WordTokenizer` speaks the part of transformers' tokenizer interface `TextTokenizer` uses: ids 0-6
are `<pad> <eos> <bos> <unk> <|audio> <|audio|> <audio|>`, then each word of `words` in order, so
`encode("hello world")` is hand-checkable.

`write_output` writes record files (any suffix), their Parquet index, dead letters and a
duplicates list under an `--output` prefix with `outputs.record_files`, `outputs.index` and
`outputs.layout`, as the job lays them out; each window's embedding is
`window_rows(clip key, T, D)`, a value that names its clip.
"""

import hashlib
import json

import numpy as np

from gemma4_audio_embed.outputs.index import write_index_file
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.outputs.record_files import write_record_file
from gemma4_audio_embed.outputs.schema import encoded_example

SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>", "<|audio>", "<|audio|>", "<audio|>")


class WordTokenizer:
    """Splits on spaces; unknown words are `<unk>` (3)."""

    def __init__(self, words, specials=SPECIALS):
        self.vocabulary = {token: index for index, token in enumerate([*specials, *words])}
        self.tokens = {index: token for token, index in self.vocabulary.items()}
        self.bos_token_id = self.vocabulary.get("<bos>")
        self.eos_token_id = self.vocabulary.get("<eos>")
        self.pad_token_id = self.vocabulary.get("<pad>")

    def convert_tokens_to_ids(self, token):
        return self.vocabulary.get(token, self.vocabulary.get("<unk>"))

    def convert_ids_to_tokens(self, token_id):
        return self.tokens.get(token_id)

    def encode(self, text, add_special_tokens=True):
        assert not add_special_tokens
        return [self.convert_tokens_to_ids(word) for word in text.split()]


def window_rows(clip_key: str, num_tokens: int, width: int) -> np.ndarray:
    """`float32 [T, D]`: row t is `seed + t`, with `seed` from the clip key's hash, so each clip's rows differ."""
    seed = int(hashlib.sha256(clip_key.encode()).hexdigest()[:4], 16) / 16
    return (seed + np.arange(num_tokens, dtype=np.float32)[:, None] + np.zeros((1, width), np.float32)).astype(
        np.float32
    )


def write_output(
    prefix: str,
    windows: list[dict],
    suffix: str = ".tfrecord",
    num_shards: int = 2,
    dead_letters=(),
    duplicates=(),
    embedding_dtype: str = "float32",
) -> None:
    """Writes an output of `windows` (`{"key", "num_tokens", "metadata", "shard"}`, width 4) under `prefix`.

    The rows are stored as `embedding_dtype` (`--output_dtype`).

    Each window goes to shard `shard` (the job hashes the key; here the test chooses), and each
    shard's records are sorted by (source, segment index, key) as the job's writer sorts them.
    `dead_letters` and `duplicates` are lists of JSON objects written as those files.
    """
    layout = OutputLayout(prefix, suffix)
    shards = {shard: [] for shard in range(num_shards)}
    for window in windows:
        input_key, segment_index = window["key"].rsplit("@", 1)
        rows = window_rows(window["key"], window["num_tokens"], 4)
        values = {
            "key": window["key"],
            "source": input_key.split("#")[0],
            "segment_index": int(segment_index),
            "start_seconds": 30.0 * int(segment_index),
            "duration_seconds": window["num_tokens"] / 25,
            "embedding_dtype": embedding_dtype,
            "audio_sha256": "",
            "model_fingerprint": "f" * 64,
            "metadata": json.dumps(window.get("metadata", {})),
        }
        index_row = {**values, "num_tokens": rows.shape[0], "embedding_dim": rows.shape[1]}
        shards[window["shard"]].append((index_row, encoded_example(embedding=rows, **values)))
    for shard, items in shards.items():
        items.sort(key=lambda item: (item[0]["source"], item[0]["segment_index"], item[0]["key"]))
        record_path, index_path = layout.shard_files(shard, num_shards)
        rows = [{**row, "record_file": record_path.rsplit("/", 1)[1]} for row, _ in items]
        write_index_file(index_path, rows, {})
        write_record_file(record_path, [record for _, record in items])
    for glob, entries in ((layout.dead_letter_glob, dead_letters), (layout.duplicates_glob, duplicates)):
        with open(glob.replace("*-of-*", "00000-of-00001"), "w") as f:
            f.writelines(json.dumps(entry) + "\n" for entry in entries)
