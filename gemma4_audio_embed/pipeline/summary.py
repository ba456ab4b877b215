"""The run summary, `<output>-summary.json`: the job's own count of what it did, written as its last step.

Each step tallies what it sees (`metrics.Tally`); `WriteSummary` sums the tallies inside the
graph and writes the summary once every record, index, dead-letter and duplicates file is
written. So the summary is complete on any runner, launched with or without waiting (the
Flex Template submits and leaves), and `verify` can hold the files to it.
"""

import json
import time

import apache_beam as beam

from gemma4_audio_embed.constants import SAMPLE_RATE
from gemma4_audio_embed.metrics import AUDIO_SAMPLES_EMBEDDED
from gemma4_audio_embed.metrics import CLIPS_EMBEDDED
from gemma4_audio_embed.metrics import CLIPS_READ
from gemma4_audio_embed.metrics import DEAD_LETTERS
from gemma4_audio_embed.metrics import ENTRIES_SKIPPED
from gemma4_audio_embed.metrics import INPUTS_READ
from gemma4_audio_embed.metrics import INPUTS_SKIPPED
from gemma4_audio_embed.metrics import REPEATED_AUDIO
from gemma4_audio_embed.metrics import REPEATED_IDS
from gemma4_audio_embed.metrics import SETTINGS
from gemma4_audio_embed.metrics import TOKENS_EMBEDDED
from gemma4_audio_embed.metrics import UNDECODABLE_NAMES
from gemma4_audio_embed.metrics import summed_tallies
from gemma4_audio_embed.outputs.atomic import write_atomically
from gemma4_audio_embed.outputs.dead_letters import STAGES
from gemma4_audio_embed.reprs import ConfigRepr


def worker_settings(totals: dict) -> dict:
    """What the workers chose for themselves, from the summed tallies' settings:
    `{"devices": ..., "max_batch_frames": ..., "features_on_device": ...}`.

    Each value is the one JSON value the workers reported (e.g. `{"count": 4, "kind": "cpu"}`,
    `8192`), a sorted list of them when workers differ, or None when no clip arrived.
    """
    settings = {}
    for name in SETTINGS:
        reported = [json.loads(text) for text in sorted(totals.get(name, ()))]
        settings[name] = reported[0] if len(reported) == 1 else (reported or None)
    return settings


def run_summary(counts: dict, wall_seconds: float, outputs: dict[str, str], model: str, settings: dict = None) -> dict:
    """The summary of a finished run.

    Args:
        counts: `{name: value}` of the `metrics` count names (`summed_tallies`).
        wall_seconds: float. Time from launch to the end of the job.
        outputs: dict. Globs of the record, index, dead-letter (and duplicates) files.
        model: str. Where the weights came from (`ModelSource.describe`).
        settings: dict or None. `worker_settings`: the devices the encoder ran on, the batch
            budget and where log-mel ran.

    Returns:
        A JSON-ready dict: inputs (each one has records, dead letters or is among
        `entries_skipped`, e.g. `._*` AppleDouble tar members), `repeated_ids` (inputs whose
        id or member name repeats in its file, given distinct keys), `undecodable_names` (inputs
        whose file or member name is not UTF-8, its bytes `%XX` in the key), input files skipped as
        already done (`--skip_existing`), clips, `repeated_audio` (clips whose decoded window
        equals that of a clip with a smaller key; with `--dedup` they are not embedded), records,
        dead letters (all and per stage), audio hours and tokens written, wall time and
        audio-seconds embedded per wall-second.
    """
    audio_seconds = counts.get(AUDIO_SAMPLES_EMBEDDED, 0) / SAMPLE_RATE
    return {
        "inputs": counts.get(INPUTS_READ, 0),
        "entries_skipped": counts.get(ENTRIES_SKIPPED, 0),
        "repeated_ids": counts.get(REPEATED_IDS, 0),
        "undecodable_names": counts.get(UNDECODABLE_NAMES, 0),
        "input_files_skipped": counts.get(INPUTS_SKIPPED, 0),
        "clips": counts.get(CLIPS_READ, 0),
        "repeated_audio": counts.get(REPEATED_AUDIO, 0),
        "records": counts.get(CLIPS_EMBEDDED, 0),
        "dead_letters": counts.get(DEAD_LETTERS, 0),
        "dead_letters_by_stage": {stage: counts.get(f"{DEAD_LETTERS}_{stage}", 0) for stage in STAGES},
        "audio_hours": audio_seconds / 3600,
        "tokens": counts.get(TOKENS_EMBEDDED, 0),
        "wall_seconds": wall_seconds,
        "audio_seconds_per_second": audio_seconds / wall_seconds if wall_seconds > 0 else 0.0,
        "model": model,
        "outputs": outputs,
        **(settings or {}),
    }


def summary_json(summary: dict) -> bytes:
    """The summary file's bytes: indented, sorted JSON and a newline."""
    return (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode()


class _WriteSummaryFile(beam.DoFn):
    def __init__(self, path: str, outputs: dict, model: str, launch_time: float):
        self.path = path
        self.outputs = outputs
        self.model = model
        self.launch_time = launch_time

    def process(self, _, tallies, *written):
        totals = summed_tallies(tallies)
        summary = run_summary(
            {name: value for name, value in totals.items() if name not in SETTINGS},
            wall_seconds=time.time() - self.launch_time,
            outputs=self.outputs,
            model=self.model,
            settings=worker_settings(totals),
        )
        write_atomically(self.path, summary_json(summary))
        yield summary


class WriteSummary(ConfigRepr, beam.PTransform):
    """Sums the job's tallies and writes the summary to `path` after every `written` collection is complete.

    Applied to the job's tallies (`metrics.TALLY_TAG` outputs, `(name, value)`), flattened.

    Args:
        path: str. The summary file (`OutputLayout.summary`).
        written: sequence of PCollections the summary waits for (file names written, counts).
        outputs: dict. The globs it lists (`OutputLayout.outputs`).
        model: str. `ModelSource.describe()`.
        launch_time: float. Epoch seconds at launch, for `wall_seconds`.

    Returns:
        A PCollection of the one summary dict.
    """

    def __init__(self, *, path: str, written, outputs: dict, model: str, launch_time: float):
        super().__init__()
        self.path = path
        self.written = list(written)
        self.outputs = outputs
        self.model = model
        self.launch_time = launch_time

    def expand(self, tallies):
        waits = [
            pcoll | f"Wait{position}" >> beam.combiners.Count.Globally() for position, pcoll in enumerate(self.written)
        ]
        return (
            tallies.pipeline
            | "Once" >> beam.Create([None])
            | "Write"
            >> beam.ParDo(
                _WriteSummaryFile(self.path, self.outputs, self.model, self.launch_time),
                beam.pvalue.AsList(tallies),
                *[beam.pvalue.AsSingleton(wait) for wait in waits],
            )
        )
