"""What a report shows, read from a finished output: its summary, index rows, dead letters and a sample of records.

Axis legend: N sampled records, D embedding width.
"""

import dataclasses
import json
import math

import numpy as np
import pyarrow.parquet
from apache_beam.io.filesystems import FileSystems

from gemma4_audio_embed import records
from gemma4_audio_embed.inputs.keys import input_key_of
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.outputs.runs import standing_dead_letters
from gemma4_audio_embed.outputs.schema import index_run_id
from gemma4_audio_embed.pipeline.dead_letter_reasons import dead_letters
from gemma4_audio_embed.pipeline.verify import record_files

INDEX_COLUMNS = ("key", "source", "duration_seconds", "num_tokens", "metadata")
DEFAULT_SAMPLE_RECORDS = 2000


@dataclasses.dataclass
class Corpus:
    """A finished output, as the report reads it.

    Attributes:
        output: str. The output prefix.
        summary: dict. `<output>-summary.json`.
        index: dict of lists. The index columns `INDEX_COLUMNS`, one entry per record, in index
            file order; `metadata` parsed from its JSON.
        dead_letters: list of dict. Every dead-letter entry that stands: not one of an earlier
            run that a later `--skip_existing` run superseded (`outputs.runs`).
        sample_keys: list of str. Keys of the records sampled for the embedding figures.
        sample_norms: `float32 [N]`. Each sampled record's mean L2 norm over its tokens.
        sample_means: `float32 [N, D]`. Each sampled record's mean over its tokens.
        sample_metadata: list of dict. Each sampled record's metadata.
    """

    output: str
    summary: dict
    index: dict
    dead_letters: list
    sample_keys: list
    sample_norms: np.ndarray
    sample_means: np.ndarray
    sample_metadata: list


def _matched(pattern: str) -> list[str]:
    return sorted(metadata.path for metadata in FileSystems.match([pattern])[0].metadata_list)


def _index(output: str, per_input: bool) -> tuple[dict, dict]:
    """The index columns, and input key -> the run whose `--skip_existing` index file lists it."""
    columns = {name: [] for name in INDEX_COLUMNS}
    written_by = {}
    for path in _matched(OutputLayout(output, per_input=per_input).index_glob):
        with FileSystems.open(path) as f:
            table = pyarrow.parquet.read_table(f, columns=list(INDEX_COLUMNS))
        for name in INDEX_COLUMNS:
            columns[name] += table.column(name).to_pylist()
        run_id = index_run_id(table.schema)
        if run_id is not None:
            written_by.update((input_key_of(key), run_id) for key in table.column("key").to_pylist())
    columns["metadata"] = [json.loads(text) if text else {} for text in columns["metadata"]]
    return columns, written_by


def _dead_letters(output: str, written_by: dict) -> list[dict]:
    """The output's dead letters, less those of earlier runs a later `--skip_existing` run superseded."""
    layout = OutputLayout(output)
    entries = [
        (layout.dead_letter_run(path), entry)
        for path in _matched(layout.dead_letter_glob)
        for entry in dead_letters(path)
    ]
    return standing_dead_letters(entries, written_by)


def _sample(files: list[str], limit: int) -> tuple[list, np.ndarray, np.ndarray, list]:
    """Up to `limit` records, an even share from each record file in name order."""
    keys, norms, means, metadata = [], [], [], []
    per_file = math.ceil(limit / max(len(files), 1))
    for path in files:
        for count, record in enumerate(records.read_records(path)):
            if count >= per_file or len(keys) >= limit:
                break
            embedding = record.embedding.astype(np.float64)  # [T, D]
            keys.append(record.key)
            norms.append(np.linalg.norm(embedding, axis=1).mean())
            means.append(embedding.mean(axis=0))
            metadata.append(record.metadata)
    width = len(means[0]) if means else 0
    return keys, np.asarray(norms, np.float32), np.asarray(means, np.float32).reshape(len(means), width), metadata


def read_corpus(output: str, sample_records: int = DEFAULT_SAMPLE_RECORDS) -> Corpus:
    """Reads what the report shows of the output at prefix `output` (local or `gs://`).

    Args:
        output: str. The run's `--output` prefix.
        sample_records: int. Records read for the embedding figures (an even share of each
            record file). Defaults to 2000.

    Raises:
        FileNotFoundError: when the output has no summary (not a finished run).
    """
    summary_path = OutputLayout(output).summary
    if not FileSystems.exists(summary_path):
        raise FileNotFoundError(f"{output} has no summary {summary_path}: give the --output prefix of a finished run.")
    with FileSystems.open(summary_path) as f:
        summary = json.loads(f.read())
    files, per_input = record_files(output)
    keys, norms, means, metadata = _sample(files, sample_records)
    index, written_by = _index(output, per_input)
    return Corpus(
        output=output,
        summary=summary,
        index=index,
        dead_letters=_dead_letters(output, written_by),
        sample_keys=keys,
        sample_norms=norms,
        sample_means=means,
        sample_metadata=metadata,
    )
