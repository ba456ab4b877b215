"""The report as one self-contained HTML page: figures as inline PNGs, tables, and the numbers as JSON.

Nothing on the page is fetched: no script, font or image comes from elsewhere. Each figure
carries a thin band of its own colour along its top (`marker`), so a screenshot shows which
figures were drawn; the page's numbers are also in `<script type="application/json"
id="report-data">`.
"""

import base64
import html
import io
import json
import time

from matplotlib.patches import Rectangle

from gemma4_audio_embed.pipeline.progress import duration_text
from gemma4_audio_embed.pipeline.report.figures import Panel

MARKER_PIXELS = 3  # the height of each figure's colour band
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1340px; }
h1 { margin-bottom: 0; } .sub { color: #666; margin-top: 4px; }
section { display: inline-block; vertical-align: top; margin: 16px 24px 16px 0; max-width: 1000px; }
h2 { font-size: 1.1em; margin: 0 0 6px; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; } .caption { color: #444; margin: 4px 0; }
code { font-size: 0.9em; } .error { color: #666; font-size: 0.85em; max-width: 520px; word-break: break-all; }
"""


def marker(position: int) -> tuple[int, int, int]:
    """The colour band of the figure at `position`: RGB `(254, 3 + 7 * position, 1)`, a colour no plot uses."""
    return (254, 3 + 7 * position, 1)


def _png(panel: Panel, color: tuple[int, int, int]) -> tuple[str, int, int]:
    """The figure as base64 PNG with its colour band along the top, and its size in pixels."""
    figure = panel.figure
    height = figure.get_figheight() * figure.dpi
    band = Rectangle(
        (0, 1 - MARKER_PIXELS / height),
        1,
        MARKER_PIXELS / height,
        transform=figure.transFigure,
        color=[channel / 255 for channel in color],
        antialiased=False,
        zorder=100,
    )
    figure.add_artist(band)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=figure.dpi)
    width, height = (round(size) for size in figure.get_size_inches() * figure.dpi)
    return base64.b64encode(buffer.getvalue()).decode(), width, height


def _run_rows(summary: dict) -> list[tuple[str, str]]:
    rows = [
        ("inputs", f"{summary['inputs']:,}"),
        ("clips", f"{summary['clips']:,}"),
        ("records", f"{summary['records']:,}"),
        ("dead letters", f"{summary['dead_letters']:,}"),
        ("audio", f"{summary['audio_hours']:.3f} h"),
        ("tokens", f"{summary['tokens']:,}"),
        (
            "padding efficiency",
            "-" if summary.get("padding_efficiency") is None else f"{summary['padding_efficiency']:.1%}",
        ),
        ("wall time", duration_text(summary["wall_seconds"])),
        ("rate", f"{summary['audio_seconds_per_second']:.1f} audio-seconds per second"),
        ("model", str(summary.get("model"))),
    ]
    for name in ("devices", "max_batch_frames", "features_on_device"):
        if summary.get(name) is not None:
            rows.append((name.replace("_", " "), json.dumps(summary[name])))
    return rows


def _reasons_table(reasons: list[dict]) -> str:
    if not reasons:
        return "<p>No dead letters.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(str(r['stage']))}</td><td class=n>{r['count']:,}</td>"
        f"<td>{html.escape(r['reason'])}</td><td><code>{html.escape(str(r['example_key']))}</code>"
        f"<div class=error>{html.escape(r['example_error'])}</div></td></tr>"
        for r in reasons
    )
    return f"<table><tr><th>stage</th><th>count</th><th>reason</th><th>example</th></tr>{rows}</table>"


def report_html(output: str, summary: dict, panels: list[Panel]) -> str:
    """The page: a run table, then each panel's figure and caption (the dead letters' with their reasons)."""
    data = {"output": output, "run": summary, "figures": []}
    sections = []
    run_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in _run_rows(summary))
    sections.append(f'<section id="run"><h2>Run</h2><table>{run_rows}</table></section>')
    for position, panel in enumerate(panels):
        color = marker(position)
        png, width, height = _png(panel, color)
        data["figures"].append({"id": panel.id, "title": panel.title, "marker": color, "numbers": panel.numbers})
        extra = _reasons_table(panel.numbers["reasons"]) if panel.id == "dead-letters" else ""
        sections.append(
            f'<section id="{html.escape(panel.id)}"><h2>{html.escape(panel.title)}</h2>'
            f'<img src="data:image/png;base64,{png}" width="{width}" height="{height}" alt="{html.escape(panel.title)}">'
            f'<p class="caption">{html.escape(panel.caption)}</p>{extra}</section>'
        )
    numbers = json.dumps(data, sort_keys=True).replace("</", "<\\/")
    generated = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>gemma4-embed report: {html.escape(output)}</title><style>{_STYLE}</style></head><body>"
        f'<h1>Corpus report</h1><p class="sub"><code>{html.escape(output)}</code> &middot; generated {generated}</p>'
        + "".join(sections)
        + f'<script type="application/json" id="report-data">{numbers}</script></body></html>\n'
    )
