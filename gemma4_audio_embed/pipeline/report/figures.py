"""The report's figures: each a matplotlib `Figure` with the numbers it plots, so a test can hold them to the output.

Every builder returns a `Panel`; `panels` returns them all in page order. Numbers are plain
JSON data: counts per histogram bin with the bin edges, counts per value, the sums.
"""

import collections
import typing

import numpy as np
from matplotlib.figure import Figure

from gemma4_audio_embed.pipeline.console import counted
from gemma4_audio_embed.pipeline.dead_letter_reasons import top_reasons
from gemma4_audio_embed.pipeline.report.corpus import Corpus

MAX_BINS = 60
MAX_VALUES = 15  # values shown per categorical field; the rest are summed as "(other)"
MAX_CATEGORIES = 20  # a string field with more distinct values is text: its lengths are plotted
TEXT_CHARACTERS = 40  # a string field this long on average is text too (transcripts, captions)
MAX_METADATA_FIELDS = 8
MAX_COLORS = 10  # groups coloured in the map; the rest are grey
OTHER = "(other)"
BAR_COLOR = "#4878a8"


class Panel(typing.NamedTuple):
    """One figure of the report.

    Attributes:
        id: str. Unique, for anchors and tests (`durations`, `metadata-language`, ...).
        title: str.
        caption: str. The figure's numbers in a sentence.
        numbers: dict. What is plotted, as JSON data.
        figure: matplotlib `Figure`.
    """

    id: str
    title: str
    caption: str
    numbers: dict
    figure: Figure


def _figure(width: float = 6.4, height: float = 3.0) -> Figure:
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _histogram(values, bins: int | None = None) -> dict:
    """`{"edges": [...], "counts": [...]}` of `values`: at most `MAX_BINS` equal bins (`bins` if given)."""
    values = np.asarray(values, np.float64)
    if values.size == 0:
        return {"edges": [], "counts": []}
    distinct = np.unique(values).size
    count = bins or max(1, min(MAX_BINS, distinct))
    low, high = float(values.min()), float(values.max())
    counts, edges = np.histogram(values, bins=count, range=(low, high if high > low else low + 1.0))
    return {"edges": edges.tolist(), "counts": counts.astype(int).tolist()}


def _draw_histogram(figure: Figure, histogram: dict, xlabel: str, ylabel: str = "records") -> None:
    axes = figure.add_subplot()
    if histogram["counts"]:
        edges = np.asarray(histogram["edges"])
        axes.bar(edges[:-1], histogram["counts"], width=np.diff(edges), align="edge", color=BAR_COLOR)
    else:
        axes.text(0.5, 0.5, "none", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)


def _draw_counts(axes, counts: dict, xlabel: str) -> None:
    names = list(counts)
    axes.barh(range(len(names)), list(counts.values()), color=BAR_COLOR)
    axes.set_yticks(range(len(names)), [str(name)[:40] for name in names])
    axes.invert_yaxis()
    axes.set_xlabel(xlabel)
    if not names:
        axes.text(0.5, 0.5, "none", ha="center", va="center", transform=axes.transAxes)


def durations(corpus: Corpus) -> Panel:
    seconds = corpus.index["duration_seconds"]
    histogram = _histogram(seconds)
    figure = _figure()
    _draw_histogram(figure, histogram, "clip duration (s)")
    total = float(np.sum(seconds)) if seconds else 0.0
    numbers = {"records": len(seconds), "total_seconds": total, **histogram}
    caption = (
        f"{counted(len(seconds), 'record')}, {total / 3600:.2f} h; median {np.median(seconds) if seconds else 0:.1f} s."
    )
    return Panel("durations", "Clip durations", caption, numbers, figure)


def tokens(corpus: Corpus) -> Panel:
    counts = corpus.index["num_tokens"]
    histogram = _histogram(counts)
    figure = _figure()
    _draw_histogram(figure, histogram, "tokens per clip (25 per second)")
    numbers = {"records": len(counts), "total_tokens": int(np.sum(counts)) if counts else 0, **histogram}
    caption = f"{counted(numbers['total_tokens'], 'token')} in {counted(len(counts), 'record')}."
    return Panel("tokens", "Tokens per clip", caption, numbers, figure)


def audio(corpus: Corpus) -> Panel:
    properties = corpus.summary.get("inputs_by_audio") or {"format": {}, "sample_rate": {}, "channels": {}}
    figure = _figure(9.6, 2.8)
    labels = {"format": "container format", "sample_rate": "sample rate (Hz)", "channels": "channels"}
    for position, (name, label) in enumerate(labels.items()):
        axes = figure.add_subplot(1, 3, position + 1)
        _draw_counts(axes, properties.get(name, {}), "inputs")
        axes.set_title(label, fontsize=10)
    opened = sum(properties.get("format", {}).values())
    caption = f"{counted(opened, 'input')} opened by the last run's decoder, by what they were stored as."
    return Panel("audio", "Inputs by format, sample rate and channels", caption, properties, figure)


def dead_letter_panel(corpus: Corpus) -> Panel:
    """The output's standing dead letters (`Corpus.dead_letters`: every run's, less those a later
    `--skip_existing` run superseded) by stage and reason; one run's are its summary's."""
    by_stage = dict.fromkeys(corpus.summary["dead_letters_by_stage"], 0)
    for entry in corpus.dead_letters:
        by_stage[entry.get("stage")] = by_stage.get(entry.get("stage"), 0) + 1
    reasons = top_reasons(corpus.dead_letters)
    figure = _figure(6.4, 2.4)
    _draw_counts(figure.add_subplot(), by_stage, "dead letters")
    numbers = {"by_stage": by_stage, "reasons": [reason._asdict() for reason in reasons]}
    caption = (
        f"{counted(len(corpus.dead_letters), 'dead letter')}; {counted(len(reasons), 'distinct reason')} (table below)."
    )
    return Panel("dead-letters", "Dead letters by stage", caption, numbers, figure)


def _have(count: int, records: int) -> str:
    """`1 of 7 records has`, `2 of 7 records have`."""
    return f"{count:,} of {counted(records, 'record')} {'has' if count == 1 else 'have'}"


def _field_kind(values: list) -> str | None:
    """`values` (a categorical field), `lengths` (text), `numbers`, or None (lists, objects, mixed)."""
    if all(isinstance(value, str) for value in values):
        is_text = len(set(values)) > MAX_CATEGORIES or sum(map(len, values)) > TEXT_CHARACTERS * len(values)
        return "lengths" if is_text else "values"
    if all(isinstance(value, bool) for value in values):
        return "values"
    if all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values):
        return "values" if len(set(values)) <= MAX_CATEGORIES else "numbers"
    return None


def _value_counts(values: list) -> dict:
    """Counts of the `MAX_VALUES` most frequent values (ties by value), the rest summed as `OTHER`."""
    counted = sorted(collections.Counter(map(str, values)).items(), key=lambda item: (-item[1], item[0]))
    shown = dict(counted[:MAX_VALUES])
    rest = sum(count for _, count in counted[MAX_VALUES:])
    return shown | ({OTHER: rest} if rest else {})


def metadata_fields(corpus: Corpus) -> dict[str, str]:
    """`{field: kind}` of the metadata fields the report plots (`_field_kind`), at most `MAX_METADATA_FIELDS`, by name."""
    by_field = collections.defaultdict(list)
    for metadata in corpus.index["metadata"]:
        for name, value in metadata.items():
            by_field[name].append(value)
    kinds = {name: _field_kind(values) for name, values in sorted(by_field.items())}
    return dict(list({name: kind for name, kind in kinds.items() if kind}.items())[:MAX_METADATA_FIELDS])


def metadata_panel(corpus: Corpus, field: str, kind: str) -> Panel:
    values = [metadata[field] for metadata in corpus.index["metadata"] if field in metadata]
    figure = _figure(6.4, 2.8)
    numbers = {"field": field, "kind": kind, "records_with_field": len(values), "records": len(corpus.index["key"])}
    if kind == "values":
        counts = _value_counts(values)
        _draw_counts(figure.add_subplot(), counts, "records")
        numbers["counts"] = counts
        caption = f"{_have(len(values), numbers['records'])} `{field}`; {counted(len(set(map(str, values))), 'value')}."
        title = f"Metadata: {field} (values)"
    else:
        measured = [len(value) for value in values] if kind == "lengths" else values
        histogram = _histogram(measured)
        _draw_histogram(figure, histogram, "characters" if kind == "lengths" else field)
        numbers |= histogram
        what = "text lengths" if kind == "lengths" else "values"
        caption = f"{_have(len(values), numbers['records'])} `{field}`; its {what}."
        title = f"Metadata: {field} ({what})"
    return Panel(f"metadata-{field}", title, caption, numbers, figure)


def norms(corpus: Corpus) -> Panel:
    histogram = _histogram(corpus.sample_norms, bins=min(MAX_BINS, max(1, corpus.sample_norms.size // 5)))
    figure = _figure()
    _draw_histogram(figure, histogram, "mean L2 norm of a clip's tokens")
    values = corpus.sample_norms
    numbers = {"records_read": int(values.size), "mean": float(values.mean()) if values.size else None, **histogram}
    finite = bool(np.isfinite(values).all())
    caption = f"{counted(values.size, 'record')} read; all finite: {'yes' if finite else 'NO'}."
    return Panel("norms", "Embedding norms", caption, numbers, figure)


def default_color_field(corpus: Corpus) -> str | None:
    """The categorical metadata field to colour the map by: among those with 2 to `MAX_COLORS` values in
    the sample, one whose values repeat (a language, a speaker, not an id), then the one most records
    have, then by name; None when there is none."""
    candidates = []
    for field, kind in metadata_fields(corpus).items():
        values = [str(metadata[field]) for metadata in corpus.sample_metadata if field in metadata]
        if kind == "values" and 2 <= len(set(values)) <= MAX_COLORS:
            candidates.append((len(set(values)) == len(values), -len(values), field))
    return min(candidates)[2] if candidates else None


def principal_components(means: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """`(float64 [N, 2] coordinates, explained variance ratio of the two)`: PCA of `means` `[N, D]`, centred."""
    if means.shape[0] < 2:
        return np.zeros((means.shape[0], 2)), [0.0, 0.0]
    centred = means.astype(np.float64) - means.mean(axis=0, dtype=np.float64)
    _, singular, right = np.linalg.svd(centred, full_matrices=False)
    components = right[:2]  # [2, D]
    total = float((singular**2).sum())
    explained = [float(s**2 / total) if total > 0 else 0.0 for s in singular[:2]]
    explained += [0.0] * (2 - len(explained))
    coordinates = centred @ components.T  # [N, 2]
    if coordinates.shape[1] < 2:
        coordinates = np.pad(coordinates, ((0, 0), (0, 2 - coordinates.shape[1])))
    return coordinates, explained


def pca_map(corpus: Corpus, color_by: str | None) -> Panel:
    coordinates, explained = principal_components(corpus.sample_means)
    figure = _figure(6.4, 4.0)
    axes = figure.add_subplot()
    groups = collections.Counter(
        str(metadata.get(color_by, "(none)")) if color_by else "all" for metadata in corpus.sample_metadata
    )
    ordered = [name for name, _ in sorted(groups.items(), key=lambda item: (-item[1], item[0]))]
    colored = ordered[:MAX_COLORS]
    labels = [str(metadata.get(color_by, "(none)")) if color_by else "all" for metadata in corpus.sample_metadata]
    palette = [f"C{position}" for position in range(MAX_COLORS)]
    for position, name in enumerate(colored):
        chosen = [label == name for label in labels]
        axes.scatter(*coordinates[chosen].T, s=12, color=palette[position], label=name, alpha=0.8)
    rest = [label not in colored for label in labels]
    if any(rest):
        axes.scatter(*coordinates[rest].T, s=8, color="#bbbbbb", label=OTHER)
    if color_by:
        axes.legend(title=color_by, fontsize=8, loc="best")
    axes.set_xlabel(f"PC 1 ({explained[0]:.0%} of variance)")
    axes.set_ylabel(f"PC 2 ({explained[1]:.0%} of variance)")
    numbers = {
        "records": len(labels),
        "explained_variance_ratio": explained,
        "color_by": color_by,
        "groups": dict(groups),
    }
    caption = f"Clip means of {counted(len(labels), 'record')}" + (f", coloured by `{color_by}`." if color_by else ".")
    return Panel("pca", "Embedding map (PCA of clip means)", caption, numbers, figure)


def panels(corpus: Corpus, color_by: str | None = None) -> list[Panel]:
    """Every figure of the report, in page order; `color_by` (default: `default_color_field`) colours the map."""
    found = [durations(corpus), tokens(corpus), audio(corpus), dead_letter_panel(corpus)]
    found += [metadata_panel(corpus, field, kind) for field, kind in metadata_fields(corpus).items()]
    found += [norms(corpus), pca_map(corpus, color_by or default_color_field(corpus))]
    return found
