"""The output stamp, `<output>-stamp.json`: what makes a run's embeddings what they are.

A `--skip_existing` run writes it at launch, before any record, so an interrupted run's output
is stamped too; a sharded run writes it with its files, when they move into place
(`outputs.commit`). A `--skip_existing` rerun into an output whose stamp differs (another
model, compute dtype, output layer or dtype, front end, window length or package version) would
mix embeddings of two kinds in one dataset, so it stops at launch with a LaunchError naming each
difference.
"""

import importlib.metadata
import json
import logging
import time

from apache_beam.io.filesystems import FileSystems

from gemma4_audio_embed.audio import decode as decode_audio
from gemma4_audio_embed.constants import SAMPLE_RATE
from gemma4_audio_embed.encoder.log_mel_frontend import LogMelFrontend
from gemma4_audio_embed.outputs.atomic import write_atomically
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.outputs.resume import completed_record_files
from gemma4_audio_embed.pipeline.options import EmbedOptions
from gemma4_audio_embed.pipeline.options import LaunchError
from gemma4_audio_embed.pipeline.options import keras_backend
from gemma4_audio_embed.pipeline.options import model_source
from gemma4_audio_embed.pipeline.options import output_layout

PACKAGE = "gemma4-audio-embed"


def launch_fingerprint(options: EmbedOptions) -> str:
    """The model fingerprint the workers will write (`ModelSource.fingerprint`): from the SHA-256 of
    the weights' files as stored, hashed once and cached, and the configuration; no model is built."""
    start = time.monotonic()
    fingerprint = model_source(options).fingerprint(options.compute_dtype, keras_backend(options))
    logging.info("Model fingerprint %s, computed at launch in %.1f s.", fingerprint[:16], time.monotonic() - start)
    return fingerprint


def output_stamp(options: EmbedOptions, fingerprint: str) -> dict:
    """The stamp of a run with `options` and model `fingerprint`, as a JSON-ready dict."""
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    frontend = LogMelFrontend().get_config()
    return {
        "model_fingerprint": fingerprint,
        "frontend": {
            "decoded_sample_rate": SAMPLE_RATE,
            "resampler": f"soxr {decode_audio.RESAMPLER_QUALITY}",
            "max_clip_seconds": options.max_clip_seconds,
            "log_mel": frontend,
        },
        "compute_dtype": options.compute_dtype,
        "output_layer": options.output_layer,
        "output_dtype": options.output_dtype,
        "output_format": options.output_format,
        "package_version": version,
    }


def read_stamp(layout: OutputLayout):
    """The stamp of the output as a dict, or None when there is none.

    Raises LaunchError when the file is not the JSON stamp a run writes.
    """
    path = layout.stamp
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        text = f.read()
    try:
        return json.loads(text)
    except ValueError as error:
        raise LaunchError(
            f"{path} is not the JSON stamp a run writes ({error}); delete it or use a new --output."
        ) from error


def stamp_differences(found: dict, expected: dict, prefix: str = "") -> list[str]:
    """`name: found -> expected` for each stamp field that differs, nested fields dotted."""
    differences = []
    for name in sorted(set(found) | set(expected)):
        old, new = found.get(name), expected.get(name)
        if isinstance(old, dict) and isinstance(new, dict):
            differences += stamp_differences(old, new, f"{prefix}{name}.")
        elif old != new:
            differences.append(f"{prefix}{name}: {old!r} -> {new!r}")
    return differences


def stamp_json(stamp: dict) -> str:
    """The stamp file's text: indented, sorted JSON and a newline."""
    return json.dumps(stamp, indent=2, sort_keys=True) + "\n"


def check_stamp(options: EmbedOptions, stamp: dict) -> None:
    """Raises LaunchError when a `--skip_existing` run would resume an output of another stamp,
    sharded records, or records without a stamp.

    Args:
        options: EmbedOptions. The run's flags.
        stamp: dict. This run's stamp (`output_stamp`).
    """
    if not options.skip_existing:
        return
    layout = output_layout(options)
    if FileSystems.match([layout.sharded_records_glob])[0].metadata_list:
        raise LaunchError(
            f"--skip_existing: {options.output} holds sharded records of a run without --skip_existing, "
            "which a resumed run cannot see; it would embed every input again. Use a new --output."
        )
    found = read_stamp(layout)
    if found is None and completed_record_files(layout):
        raise LaunchError(
            f"--skip_existing: {options.output} holds records but no stamp {layout.stamp}, "
            "so nothing says which model wrote them. Write to a new --output, or delete the old records."
        )
    if found is not None and found != stamp:
        raise LaunchError(
            f"--skip_existing: {options.output} was written with another setup than this run's, and "
            "resuming would mix two kinds of embeddings. Differences (output's -> this run's): "
            + "; ".join(stamp_differences(found, stamp))
            + ". Use the original flags and model, or a new --output."
        )


def write_stamp(layout: OutputLayout, stamp: dict) -> None:
    """Writes `stamp` to `layout.stamp`, atomically."""
    write_atomically(layout.stamp, stamp_json(stamp).encode())
