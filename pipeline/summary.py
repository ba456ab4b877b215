"""The run summary: counters of a finished job as JSON, written to `<output>-summary.json`."""

import json

from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter

from transforms.dead_letters import STAGES
from transforms.elements import SAMPLE_RATE
from transforms.metrics import AUDIO_SAMPLES_EMBEDDED
from transforms.metrics import CLIPS_EMBEDDED
from transforms.metrics import CLIPS_READ
from transforms.metrics import DEAD_LETTERS
from transforms.metrics import DEVICES
from transforms.metrics import ENTRIES_SKIPPED
from transforms.metrics import FEATURES_ON_DEVICE
from transforms.metrics import MAX_BATCH_FRAMES
from transforms.metrics import INPUTS_READ
from transforms.metrics import NAMESPACE
from transforms.metrics import REPEATED_AUDIO
from transforms.metrics import REPEATED_IDS
from transforms.metrics import TOKENS_EMBEDDED
from transforms.per_input_records import INPUTS_SKIPPED


def _metric_values(metric_results, kind: str):
    """`(name, value)` of each metric of `kind` (`counters`, `string_sets`) in the pipeline's
    namespace, per step: committed where the runner commits, else attempted."""
    for result in metric_results.query(MetricsFilter().with_namespace(NAMESPACE))[kind]:
        yield result.key.metric.name, result.committed if result.committed is not None else result.attempted


def counter_values(metric_results) -> dict[str, int]:
    """Sums each counter of the pipeline's namespace over steps: `{name: value}`.

    Args:
        metric_results: `PipelineResult.metrics()` of a finished job.
    """
    values = {}
    for name, value in _metric_values(metric_results, "counters"):
        values[name] = values.get(name, 0) + value
    return values


def worker_settings(metric_results) -> dict:
    """What the workers chose for themselves, from the pipeline's string sets:
    `{"devices": ..., "max_batch_frames": ..., "features_on_device": ...}`.

    Each value is the one JSON value the workers reported (e.g. `{"count": 4, "kind": "cpu"}`,
    `8192`), a list of them when workers differ, or None when no clip arrived.

    Args:
        metric_results: `PipelineResult.metrics()` of a finished job.
    """
    values = {}
    for name, value in _metric_values(metric_results, "string_sets"):
        values.setdefault(name, set()).update(value)
    settings = {}
    for name in (DEVICES, MAX_BATCH_FRAMES, FEATURES_ON_DEVICE):
        reported = [json.loads(text) for text in sorted(values.get(name, ()))]
        settings[name] = reported[0] if len(reported) == 1 else (reported or None)
    return settings


def run_summary(
    counters: dict[str, int], wall_seconds: float, outputs: dict[str, str], model: str, settings: dict = None
) -> dict:
    """The summary of a finished run.

    Args:
        counters: `{name: value}` from `counter_values`.
        wall_seconds: float. Time from launch to the end of the job.
        outputs: dict. Patterns of the record and dead-letter files.
        model: str. Where the weights came from.
        settings: dict or None. `worker_settings`: the devices the encoder ran on and the
            batch budget.

    Returns:
        A JSON-ready dict: inputs (each one has records, dead letters or is among
        `entries_skipped`, e.g. `._*` AppleDouble tar members), `repeated_ids` (inputs whose
        id or member name repeats in its file, given distinct keys), input files skipped as
        already done (`--skip_existing`), clips, `repeated_audio` (clips whose decoded window
        equals that of a clip with a smaller key; with `--dedup` they are not embedded), records, dead letters (all and per stage),
        audio hours and tokens written, wall time and audio-seconds embedded per wall-second.
    """
    audio_seconds = counters.get(AUDIO_SAMPLES_EMBEDDED, 0) / SAMPLE_RATE
    return {
        "inputs": counters.get(INPUTS_READ, 0),
        "entries_skipped": counters.get(ENTRIES_SKIPPED, 0),
        "repeated_ids": counters.get(REPEATED_IDS, 0),
        "input_files_skipped": counters.get(INPUTS_SKIPPED, 0),
        "clips": counters.get(CLIPS_READ, 0),
        "repeated_audio": counters.get(REPEATED_AUDIO, 0),
        "records": counters.get(CLIPS_EMBEDDED, 0),
        "dead_letters": counters.get(DEAD_LETTERS, 0),
        "dead_letters_by_stage": {stage: counters.get(f"{DEAD_LETTERS}_{stage}", 0) for stage in STAGES},
        "audio_hours": audio_seconds / 3600,
        "tokens": counters.get(TOKENS_EMBEDDED, 0),
        "wall_seconds": wall_seconds,
        "audio_seconds_per_second": audio_seconds / wall_seconds if wall_seconds > 0 else 0.0,
        "model": model,
        "outputs": outputs,
        **(settings or {}),
    }


def write_summary(path: str, summary: dict) -> None:
    """Writes `summary` as indented JSON to `path` (local or `gs://`)."""
    with FileSystems.create(path) as f:
        f.write((json.dumps(summary, indent=2, sort_keys=True) + "\n").encode())
