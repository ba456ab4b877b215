"""Dead letters grouped by why: one reason per entry, the input's own names and numbers taken out, so alike failures group.

`reason` turns an entry's `error_type` and `error` into the reason, `dead_letters` reads an
output's dead-letter files, and `top_reasons` counts the reasons of each stage with an example.
The run's closing lines and `gemma4-embed report` both group dead letters this way.
"""

import collections
import json
import re
import typing

from apache_beam.io.filesystems import FileSystems

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?!\w|\.\d)")
_QUOTED = re.compile(r"'[^']*'")


def reason(entry: dict) -> str:
    """`<error type>: <message>`, with the entry's key, input key and source replaced by `<input>`,
    quoted values by `'…'` and numbers by `N`, so the same failure of different inputs reads the same.

    Example: `InputError: <input> is truncated: its data chunk declares N bytes (N s), the file
    holds N bytes (N s).`
    """
    error = str(entry.get("error") or "")
    type_name = str(entry.get("error_type") or "Error")
    message = error.split(": ", 1)[1] if error.split(": ", 1)[0].endswith(type_name) and ": " in error else error
    for name in sorted(
        {entry.get(field) for field in ("key", "input_key", "source")} - {None, ""}, key=len, reverse=True
    ):
        message = message.replace(str(name), "<input>")
    message = _NUMBER.sub("N", _QUOTED.sub("'…'", message))
    return f"{type_name}: {message}"


def dead_letters(pattern: str, limit: int | None = None):
    """Yields the entries (dicts) of the dead-letter files matching `pattern`, in file order, at most `limit`."""
    count = 0
    for metadata in sorted(FileSystems.match([pattern])[0].metadata_list, key=lambda m: m.path):
        with FileSystems.open(metadata.path) as f:
            for line in f:
                if limit is not None and count >= limit:
                    return
                if line.strip():
                    count += 1
                    yield json.loads(line)


class Reason(typing.NamedTuple):
    """How many dead letters of one stage failed for one reason, with the first as an example."""

    stage: str
    reason: str
    count: int
    example_key: str | None
    example_error: str


def top_reasons(entries) -> list[Reason]:
    """The reasons of `entries` (dead-letter dicts), per stage, most frequent first (ties by reason)."""
    counts = collections.Counter()
    examples = {}
    for entry in entries:
        group = (entry.get("stage"), reason(entry))
        counts[group] += 1
        examples.setdefault(group, entry)
    ordered = sorted(counts.items(), key=lambda item: (str(item[0][0]), -item[1], item[0][1]))
    return [
        Reason(stage, text, count, examples[(stage, text)].get("key"), str(examples[(stage, text)].get("error")))
        for (stage, text), count in ordered
    ]
