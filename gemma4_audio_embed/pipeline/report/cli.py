"""`gemma4-embed report OUTPUT_PREFIX [--html PATH] [--color_by FIELD] [--sample_records N]`."""

import argparse

from gemma4_audio_embed.outputs.atomic import write_atomically
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.pipeline import console
from gemma4_audio_embed.pipeline.report.corpus import DEFAULT_SAMPLE_RECORDS
from gemma4_audio_embed.pipeline.report.corpus import read_corpus
from gemma4_audio_embed.pipeline.report.figures import panels
from gemma4_audio_embed.pipeline.report.page import report_html


def write_report(
    output: str, path: str | None = None, color_by: str | None = None, sample_records: int = DEFAULT_SAMPLE_RECORDS
) -> str:
    """Writes the HTML report of the finished output at prefix `output`; returns its path.

    Args:
        output: str. The run's `--output` prefix, local or `gs://`.
        path: str or None. Where to write it. Defaults to `<output>-report.html` (`OutputLayout.report`).
        color_by: str or None. Metadata field colouring the embedding map. Defaults to the
            first categorical field with 2 to 10 values.
        sample_records: int. Records read for the embedding figures. Defaults to 2000.

    Raises:
        FileNotFoundError: when `output` has no summary.
    """
    corpus = read_corpus(output, sample_records)
    path = path or OutputLayout(output).report
    write_atomically(path, report_html(output, corpus.summary, panels(corpus, color_by)).encode())
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="gemma4-embed report",
        description="Write one self-contained HTML page of plots about a finished run: durations, tokens, "
        "formats, dead letters, metadata fields, embedding norms and a PCA map.",
    )
    parser.add_argument("output", help="The run's --output prefix, local or gs://.")
    parser.add_argument("--html", default=None, help="Where to write the page. Default: <output>-report.html.")
    parser.add_argument("--color_by", default=None, help="Metadata field that colours the embedding map.")
    parser.add_argument(
        "--sample_records",
        type=int,
        default=DEFAULT_SAMPLE_RECORDS,
        help="Records read for the embedding figures (default: %(default)s).",
    )
    args = parser.parse_args(argv)
    if args.sample_records < 1:
        parser.error(f"--sample_records must be at least 1. Received: {args.sample_records}")
    try:
        path = write_report(args.output, args.html, args.color_by, args.sample_records)
    except FileNotFoundError as error:
        parser.exit(2, f"gemma4-embed report: error: {error}\n")
    console.print_out(f"Wrote {path}")
    return 0
