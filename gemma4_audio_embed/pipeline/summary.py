"""The run summary, `<output>-summary.json`: the job's own count of what it did, written as its last step.

Each step tallies what it sees (`metrics.Tally`); `WriteSummary` sums the tallies inside the
graph and writes the summary once every record, index, dead-letter and duplicates file is
written, checked against those counts (`outputs.output_check`) and moved into place
(`outputs.commit`); then it releases the output lock (`outputs.lock`). So the summary is
complete on any runner, launched with or without waiting (the Flex Template submits and
leaves), its presence marks a complete output, and `verify` can hold the files to it.
"""

import json
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from gemma4_audio_embed.constants import SAMPLE_RATE
from gemma4_audio_embed.metrics import AUDIO_SAMPLES_EMBEDDED
from gemma4_audio_embed.metrics import CLIPS_EMBEDDED
from gemma4_audio_embed.metrics import CLIPS_READ
from gemma4_audio_embed.metrics import DEAD_LETTERS
from gemma4_audio_embed.metrics import ENTRIES_SKIPPED
from gemma4_audio_embed.metrics import FRAMES_COMPUTED
from gemma4_audio_embed.metrics import FRAMES_VALID
from gemma4_audio_embed.metrics import INPUTS_READ
from gemma4_audio_embed.metrics import INPUTS_SKIPPED
from gemma4_audio_embed.metrics import REPEATED_AUDIO
from gemma4_audio_embed.metrics import REPEATED_IDS
from gemma4_audio_embed.metrics import SETTINGS
from gemma4_audio_embed.metrics import TOKENS_EMBEDDED
from gemma4_audio_embed.metrics import UNDECODABLE_NAMES
from gemma4_audio_embed.metrics import audio_properties
from gemma4_audio_embed.metrics import summed_tallies
from gemma4_audio_embed.outputs.atomic import write_atomically
from gemma4_audio_embed.outputs.dead_letters import STAGES
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.outputs.lock import release_run_lock
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


def run_summary(
    counts: dict,
    wall_seconds: float,
    outputs: dict[str, str],
    model: str,
    settings: dict = None,
    run_id: str = None,
    dead_letter_files: list = (),
) -> dict:
    """The summary of a finished run.

    Args:
        counts: `{name: value}` of the `metrics` count names (`summed_tallies`).
        wall_seconds: float. Time from launch to the end of the job.
        outputs: dict. Globs of the record, index, dead-letter (and duplicates) files.
        model: str. Where the weights came from (`ModelSource.describe`).
        settings: dict or None. `worker_settings`: the devices the encoder ran on, the batch
            budget and where log-mel ran.
        run_id: str or None. The run's id.
        dead_letter_files: list of str. This run's dead-letter files (earlier runs' are kept
            beside them, under their own run ids).

    Returns:
        A JSON-ready dict: inputs (each one has records, dead letters or is among
        `entries_skipped`, e.g. `._*` AppleDouble tar members), `repeated_ids` (inputs whose
        id or member name repeats in its file, given distinct keys), `undecodable_names` (inputs
        whose file or member name is not UTF-8, its bytes `%XX` in the key), input files skipped as
        already done (`--skip_existing`), clips, `repeated_audio` (clips whose decoded window
        equals that of a clip with a smaller key; with `--dedup` they are not embedded), records,
        dead letters (all and per stage), audio hours and tokens written, `padding_efficiency`
        (valid mel frames over the frames of the batches `PackClips` formed, padding included;
        None when no batch ran), wall time and
        audio-seconds embedded per wall-second, and `inputs_by_audio`: the inputs the decoder
        opened by container format, sample rate (Hz) and channels, e.g.
        `{"format": {"wav": 3}, "sample_rate": {"16000": 3}, "channels": {"1": 3}}`.
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
        "padding_efficiency": (
            counts.get(FRAMES_VALID, 0) / counts[FRAMES_COMPUTED] if counts.get(FRAMES_COMPUTED) else None
        ),
        "wall_seconds": wall_seconds,
        "audio_seconds_per_second": audio_seconds / wall_seconds if wall_seconds > 0 else 0.0,
        "inputs_by_audio": audio_properties(counts),
        "model": model,
        "outputs": outputs,
        "run_id": run_id,
        "dead_letter_files": sorted(dead_letter_files),
        **(settings or {}),
    }


def summary_json(summary: dict) -> bytes:
    """The summary file's bytes: indented, sorted JSON and a newline."""
    return (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode()


class _WriteSummaryFile(ConfigRepr, beam.DoFn):
    def __init__(self, layout: OutputLayout, run_id: str, outputs: dict, model: str, launch_time: float):
        self.layout = layout
        self.run_id = run_id
        self.outputs = outputs
        self.model = model
        self.launch_time = launch_time

    def process(self, _, tallies, committed, dead_letter_files):
        totals = summed_tallies(tallies)
        summary = run_summary(
            {name: value for name, value in totals.items() if name not in SETTINGS},
            wall_seconds=time.time() - self.launch_time,
            outputs=self.outputs,
            model=self.model,
            settings=worker_settings(totals),
            run_id=self.run_id,
            dead_letter_files=[FileSystems.split(path)[1] for path in dead_letter_files],
        )
        write_atomically(self.layout.summary, summary_json(summary))
        release_run_lock(self.layout.lock, self.run_id)
        yield summary


class WriteSummary(ConfigRepr, beam.PTransform):
    """Sums the job's tallies, writes the summary once the output is committed, and releases the output lock.

    Applied to the job's tallies (`metrics.TALLY_TAG` outputs, `(name, value)`), flattened.

    Args:
        layout: OutputLayout. The job's outputs (`summary`, `lock`).
        run_id: str. This run's id.
        committed: PCollection of one element, emitted once the output is checked and in place
            (`outputs.commit.CommitOutput`).
        dead_letter_files: PCollection of str. This run's dead-letter files, named in the summary.
        outputs: dict. The globs it lists (`OutputLayout.outputs`).
        model: str. `ModelSource.describe()`.
        launch_time: float. Epoch seconds at launch, for `wall_seconds`.

    Returns:
        A PCollection of the one summary dict.
    """

    def __init__(
        self,
        *,
        layout: OutputLayout,
        run_id: str,
        committed,
        dead_letter_files,
        outputs: dict,
        model: str,
        launch_time: float,
    ):
        super().__init__()
        self.layout = layout
        self.run_id = run_id
        self.committed = committed
        self.dead_letter_files = dead_letter_files
        self.outputs = outputs
        self.model = model
        self.launch_time = launch_time

    def expand(self, tallies):
        return (
            tallies.pipeline
            | "Once" >> beam.Create([None])
            | "Write"
            >> beam.ParDo(
                _WriteSummaryFile(self.layout, self.run_id, self.outputs, self.model, self.launch_time),
                beam.pvalue.AsList(tallies),
                beam.pvalue.AsSingleton(self.committed),
                beam.pvalue.AsList(self.dead_letter_files),
            )
        )
