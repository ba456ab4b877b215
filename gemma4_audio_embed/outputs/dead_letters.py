"""Dead letters: what each failing step emits, its JSONL entries, and the sink that writes them.

Every step that can fail on one input or clip runs under Beam's `with_exception_handling`,
whose dead letters are `(element, (exception type, repr, traceback lines))`. Readers that find
a bad entry inside a good file emit the same form themselves (`dead_letter`). Each becomes
one JSON object per input or clip, with `source`, `key`, `input_key`, `stage` and `error`.

An entry is bounded whatever the input: `error` keeps its first `MAX_ERROR_CHARS` characters,
`traceback` its first and last `MAX_TRACEBACK_CHARS // 2`, and of the failures in one bundle
that share an input file, stage and error type (200k manifest lines naming missing files),
only the first `TRACEBACKS_PER_CAUSE` carry a traceback: the others say which one does.
"""

import json

import apache_beam as beam
from apache_beam.io.filesystem import FileMetadata

from gemma4_audio_embed.audio.clips import Clip
from gemma4_audio_embed.audio.clips import ClipInfo
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.keys import input_file
from gemma4_audio_embed.inputs.keys import key_part
from gemma4_audio_embed.inputs.keys import undecodable_escaped
from gemma4_audio_embed.inputs.sources import BadInput
from gemma4_audio_embed.metrics import DEAD_LETTERS
from gemma4_audio_embed.metrics import TALLY_TAG
from gemma4_audio_embed.metrics import TallyingDoFn
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.reprs import ConfigRepr

STAGES = ("read", "decode", "features", "inference", "output")
MAX_ERROR_CHARS = 1000
MAX_TRACEBACK_CHARS = 4000
TRACEBACKS_PER_CAUSE = 3


def _capped(text: str, limit: int, keep_tail: bool = False) -> str:
    """`text` cut to about `limit` characters, saying how much was cut (its head, or head and tail)."""
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    if keep_tail:
        return f"{text[: limit // 2]}[... {cut} characters cut ...]{text[-(limit // 2) :]}"
    return f"{text[:limit]}[... {cut} characters cut]"


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
        return [{"source": undecodable_escaped(element.source), "key": element.key, "input_key": element.key}]
    if isinstance(element, FileMetadata):
        key = key_part(element.path)
        return [{"source": undecodable_escaped(element.path), "key": key, "input_key": key}]
    if isinstance(element, Clip):
        return [_clip_fields(element.info)]
    if isinstance(element, tuple) and element and isinstance(element[0], ClipInfo):  # (ClipInfo, features or result)
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
            "error": _capped(undecodable_escaped(error), MAX_ERROR_CHARS),
            "error_type": type_name,
            "traceback": _capped(undecodable_escaped("".join(traceback_lines)), MAX_TRACEBACK_CHARS, keep_tail=True),
        }
        for fields in _affected(element)
    ]


class FormatDeadLetters(ConfigRepr, TallyingDoFn):
    """Turns a stage's dead letters into JSON lines; tallies them in `dead_letters` and `dead_letters_<stage>`.

    Args:
        stage: str. One of `STAGES`.
    """

    def __init__(self, stage: str):
        if stage not in STAGES:
            raise ValueError(f"`stage` must be one of {STAGES}. Received: stage={stage!r}")
        self.stage = stage

    def start_bundle(self):
        super().start_bundle()
        self._first_of_cause = {}  # (input file, error type) -> [key of its first entry, entries so far]

    def process(self, element):
        for entry in dead_letter_entries(self.stage, element):
            self.tally.add(DEAD_LETTERS)
            self.tally.add(f"{DEAD_LETTERS}_{self.stage}")
            cause = (input_file(entry["input_key"] or ""), entry["error_type"])
            first = self._first_of_cause.setdefault(cause, [entry["key"], 0])
            first[1] += 1
            if first[1] > TRACEBACKS_PER_CAUSE:
                entry["traceback"] = f"(as for {first[0]}: the same error type from the same input file)"
            yield json.dumps(entry, sort_keys=True)


class WriteDeadLetters(ConfigRepr, beam.PTransform):
    """Writes `{stage: dead letters}` to this run's `<output>-dead-letter-<run>-SSSSS-of-NNNNN.jsonl`.

    The input is a dict from stage name to a PCollection of Beam dead letters. One shard is
    written (an empty one when nothing failed), so a reader always finds the file; every run
    writes its own, so a rerun keeps the earlier runs' files.

    Args:
        layout: OutputLayout. The job's outputs.
        run_id: str. This run's id (`OutputLayout.dead_letter_prefix`).

    Returns:
        `(names of the files written, tally)`.
    """

    def __init__(self, layout: OutputLayout, run_id: str):
        super().__init__()
        self.layout = layout
        self.run_id = run_id

    def expand(self, dead_letters_by_stage):
        formatted = [
            (
                pcoll
                if not isinstance(pcoll, (list, tuple))
                else pcoll | f"Flatten{stage.capitalize()}" >> beam.Flatten()
            )
            | f"Format{stage.capitalize()}"
            >> beam.ParDo(FormatDeadLetters(stage)).with_outputs(TALLY_TAG, main="lines")
            for stage, pcoll in dead_letters_by_stage.items()
        ]
        written = (
            [outputs.lines for outputs in formatted]
            | "Flatten" >> beam.Flatten()
            | "Write"
            >> beam.io.WriteToText(self.layout.dead_letter_prefix(self.run_id), file_name_suffix=".jsonl", num_shards=1)
        )
        tally = [outputs[TALLY_TAG] for outputs in formatted] | "FlattenTallies" >> beam.Flatten()
        return written, tally
