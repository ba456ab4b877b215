"""Dead letters: what each failing step emits, its JSONL entries, and the sink that writes them.

Every step that can fail on one input or clip runs under Beam's `with_exception_handling`,
whose dead letters are `(element, (exception type, repr, traceback lines))`. Readers that find
a bad entry inside a good file emit the same form themselves (`dead_letter`). Each becomes
one JSON object per input or clip, with `source`, `key`, `input_key`, `stage` and `error`.
"""

import json
import traceback

import apache_beam as beam
from apache_beam.io.filesystem import FileMetadata
from apache_beam.pvalue import TaggedOutput

from transforms.elements import Clip
from transforms.elements import ClipInfo
from transforms.elements import EncodedAudio
from transforms.elements import key_part
from transforms.metrics import DEAD_LETTERS
from transforms.metrics import counter
from transforms.sources import BadInput

DEAD_LETTER_TAG = "dead_letter"
STAGES = ("read", "decode", "features", "inference", "output")


def dead_letter(element, error: Exception) -> TaggedOutput:
    """Returns `element` as a dead letter in Beam's form, for an error found without raising."""
    lines = traceback.format_exception_only(type(error), error)
    return TaggedOutput(DEAD_LETTER_TAG, (element, (type(error), repr(error), lines)))


def _clip_fields(info: ClipInfo) -> dict:
    return {
        "source": info.source,
        "key": info.key,
        "input_key": info.input_key,
        "segment_index": info.segment_index,
        "start_seconds": info.start_seconds,
    }


def _affected(element) -> list[dict]:
    """The inputs or clips a failed element stands for, as JSON fields."""
    if isinstance(element, (EncodedAudio, BadInput)):
        return [{"source": element.source, "key": element.key, "input_key": element.key}]
    if isinstance(element, FileMetadata):
        key = key_part(element.path)
        return [{"source": element.path, "key": key, "input_key": key}]
    if isinstance(element, Clip):
        return [_clip_fields(element.info)]
    if (
        isinstance(element, tuple) and element and isinstance(element[0], ClipInfo)
    ):  # (ClipInfo, features or result)
        return [_clip_fields(element[0])]
    if isinstance(element, list):  # a batch of (ClipInfo, features) that failed inference together
        return [fields for item in element for fields in _affected(item)]
    return [{"source": None, "key": None, "input_key": None, "element": repr(element)[:500]}]


def dead_letter_entries(stage: str, dead_letter_element) -> list[dict]:
    """Turns one Beam dead letter from `stage` into JSON-ready entries, one per input or clip."""
    element, (exc_type, exc_repr, traceback_lines) = dead_letter_element
    error = traceback_lines[-1].strip() if traceback_lines else exc_repr
    type_name = getattr(exc_type, "__qualname__", str(exc_type))
    return [
        {
            **fields,
            "stage": stage,
            "error": error,
            "error_type": type_name,
            "traceback": "".join(traceback_lines),
        }
        for fields in _affected(element)
    ]


class FormatDeadLetters(beam.DoFn):
    """Turns a stage's dead letters into JSON lines and counts them.

    Args:
        stage: str. One of `STAGES`.
    """

    def __init__(self, stage: str):
        if stage not in STAGES:
            raise ValueError(f"`stage` must be one of {STAGES}. Received: stage={stage!r}")
        self.stage = stage

    def setup(self):
        self._total = counter(DEAD_LETTERS)
        self._per_stage = counter(f"{DEAD_LETTERS}_{self.stage}")

    def process(self, element):
        for entry in dead_letter_entries(self.stage, element):
            self._total.inc()
            self._per_stage.inc()
            yield json.dumps(entry, sort_keys=True)


class WriteDeadLetters(beam.PTransform):
    """Writes `{stage: dead letters}` to `<output_prefix>-dead-letter-SSSSS-of-NNNNN.jsonl`.

    The input is a dict from stage name to a PCollection of Beam dead letters. One shard is
    written (an empty one when nothing failed), so a reader always finds the file.

    Args:
        output_prefix: str. Path or URI prefix of the job's outputs.
    """

    def __init__(self, output_prefix: str):
        super().__init__()
        self.output_prefix = output_prefix

    def expand(self, dead_letters_by_stage):
        lines = [
            pcoll | f"Format{stage.capitalize()}" >> beam.ParDo(FormatDeadLetters(stage))
            for stage, pcoll in dead_letters_by_stage.items()
        ]
        return (
            lines
            | "Flatten" >> beam.Flatten()
            | "Write"
            >> beam.io.WriteToText(
                f"{self.output_prefix}-dead-letter", file_name_suffix=".jsonl", num_shards=1
            )
        )
