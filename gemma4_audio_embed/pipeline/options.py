"""The job's flags: one `PipelineOptions` subclass, read with `options.view_as(EmbedOptions)`."""

import argparse
import difflib
import math
import os
import sys

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DebugOptions
from apache_beam.options.pipeline_options import DirectOptions
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.options.pipeline_options import _BeamArgumentParser

from gemma4_audio_embed.audio.decode import SAMPLE_RATE_RANGE
from gemma4_audio_embed.audio.decode import window_samples
from gemma4_audio_embed.backends import KERAS_BACKENDS
from gemma4_audio_embed.batching.batch_budget import AUTO
from gemma4_audio_embed.batching.batch_budget import parse_max_batch_frames
from gemma4_audio_embed.batching.row_packing import DEFAULT_BUCKET_SECONDS
from gemma4_audio_embed.batching.row_packing import bucket_lengths
from gemma4_audio_embed.constants import MIN_CLIP_SAMPLES
from gemma4_audio_embed.constants import SAMPLE_RATE
from gemma4_audio_embed.encoder.config import COMPUTE_DTYPES
from gemma4_audio_embed.encoder.config import OUTPUT_LAYERS
from gemma4_audio_embed.inference.model_sources import ModelSource
from gemma4_audio_embed.inputs.file_match import GLOB_CHARACTERS
from gemma4_audio_embed.inputs.file_match import matched_files
from gemma4_audio_embed.inputs.file_match import pattern_regex
from gemma4_audio_embed.inputs.files import is_local
from gemma4_audio_embed.inputs.files import resolved_roots
from gemma4_audio_embed.inputs.limits import DEFAULT_READ_LIMITS
from gemma4_audio_embed.inputs.limits import ReadLimits
from gemma4_audio_embed.inputs.read import INPUT_FORMATS
from gemma4_audio_embed.inputs.read import MAX_METADATA_BYTES
from gemma4_audio_embed.inputs.read import normalized_path
from gemma4_audio_embed.outputs.layout import OUTPUT_COMPRESSIONS
from gemma4_audio_embed.outputs.layout import RECORD_FORMATS
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.outputs.layout import record_suffix
from gemma4_audio_embed.outputs.schema import EMBEDDING_DTYPES

MIN_WINDOW_SECONDS = MIN_CLIP_SAMPLES / SAMPLE_RATE  # 0.0100625 s: the fewest samples with one valid mel frame
# One hour: a row of 360,000 frames, whose forward holds a few GB; the released processor cuts
# clips at 30 s. A longer window is a typo that would make every batch fail for lack of memory.
MAX_WINDOW_SECONDS = 3600.0
PROG = "gemma4-embed"
BEAM_FLAGS_NOTE = "Beam's runner flags pass through: --runner, --project, --region, ..."
# Dataflow's experiment for one SDK process per worker VM (it otherwise starts one per vCPU).
ONE_PROCESS_PER_VM = "no_use_multiple_sdk_containers"


def _names_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _seconds_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated seconds, e.g. 3,6,10. Received: {text!r}") from None


class LaunchError(ValueError):
    """A flag or model source that stops the job before any pipeline starts.

    `gemma4-embed` prints it as one line, `gemma4-embed: error: <message>`, and exits with 2.
    """


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends `(default: X)` to a flag's help unless the help already says its default."""

    def _get_help_string(self, action):
        if "efault" in (action.help or "") or action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class _LaunchParser(argparse.ArgumentParser):
    """argparse that raises `LaunchError` for a bad flag value instead of printing usage."""

    def error(self, message):
        raise LaunchError(message)


class _BeamLaunchParser(_BeamArgumentParser):
    """Beam's own argument parser (it knows value-provider flags), raising `LaunchError` likewise."""

    def error(self, message):
        raise LaunchError(message)


def check_flags_known(argv=None) -> None:
    """Raises `LaunchError` for an argument that neither this job nor Beam defines, or a bad Beam value.

    Beam itself only logs an unknown argument and runs on, so a typo (`--compute-dtype`) or a
    stray word (an unquoted glob's second file) would silently change the job.

    Args:
        argv: list of str. The command line, without the program; None reads `sys.argv`.
    """
    argv = sys.argv[1:] if argv is None else argv
    parser = _BeamLaunchParser(allow_abbrev=False)
    option_classes = {}
    for cls in PipelineOptions.__subclasses__():  # as PipelineOptions.get_all_options does
        option_classes.setdefault(str(cls), cls)
    for cls in option_classes.values():
        cls._add_argparse_args(parser)  # pylint: disable=protected-access
    _, unknown = parser.parse_known_args(argv)
    if unknown:
        flags = [flag for action in parser._actions for flag in action.option_strings]
        described = []
        for argument in unknown:
            name = argument.split("=", 1)[0]
            spelled = "--" + name[2:].replace("-", "_") if name.startswith("--") else name
            close = difflib.get_close_matches(spelled, flags, n=1)
            described.append(f"{argument!r}" + (f" (did you mean {close[0]}?)" if close else ""))
        raise LaunchError(
            "unrecognized arguments: " + ", ".join(described) + ". Quote a glob given to --input "
            "(--input 'corpus/*.wav'), or join several patterns with commas."
        )


class EmbedOptions(PipelineOptions):
    """Flags of the embedding job; every other Beam flag (`--runner`, Dataflow's) passes through.

    `--input` and `--output` are required; `check_embed_options` says so at launch rather than
    argparse, because Beam parses every registered options class wherever options are built.
    The flags come in five argparse groups, which `--help` prints in turn.
    """

    @classmethod
    def _add_argparse_args(cls, parser):
        inputs = parser.add_argument_group("inputs")
        model = parser.add_argument_group("model")
        output = parser.add_argument_group("output")
        runtime = parser.add_argument_group("batching and runtime")
        shown = parser.add_argument_group("console")
        inputs.add_argument(
            "--input",
            help="Required (or --input_list). Input files: a glob or a comma-separated list of globs/paths, "
            "local or gs://. A pattern that matches nothing stops the launch.",
        )
        inputs.add_argument(
            "--input_list",
            default=None,
            help="A file (local or gs://) listing input paths, one per line, each taken literally: the way in "
            "for names with commas, brackets or asterisks. Relative paths are resolved against its folder. "
            "Default: none.",
        )
        inputs.add_argument(
            "--allowed_roots",
            type=_names_list,
            default=None,
            help="Comma-separated folders (and gs:// prefixes) every file read must lie under once links are "
            "resolved: the paths manifests, Parquet rows and symbolic links name, and the inputs. /dev, /proc, "
            "/sys, FIFOs, sockets and devices are refused always. Default: none, any path.",
        )
        inputs.add_argument(
            "--input_format",
            default="auto",
            choices=INPUT_FORMATS,
            help="Format of the inputs. auto decides per file by extension, through a compression "
            "suffix (.gz, .bz2, .zst, .xz, ...): .tar/.tgz tar, .tfrecord(s) TFRecord, .parquet "
            "Parquet, .jsonl/.json manifest, else audio (anything FFmpeg decodes).",
        )
        inputs.add_argument(
            "--max_clip_seconds",
            type=float,
            default=30.0,
            help=f"Longer audio is cut into consecutive windows of this length (at most {MAX_WINDOW_SECONDS:.0f}); "
            "the last, shorter one is kept.",
        )
        inputs.add_argument(
            "--min_clip_seconds",
            type=float,
            default=0.0,
            help="Clips shorter than this become dead letters (stage features).",
        )
        inputs.add_argument(
            "--tfrecord_audio_feature",
            default="audio",
            help="TFRecord inputs: feature with the audio, encoded bytes or decoded samples "
            "(an int64 list of 16-bit values or a float list, as TFDS Audio stores them).",
        )
        inputs.add_argument("--tfrecord_id_feature", default="id", help="TFRecord inputs: optional id feature.")
        inputs.add_argument(
            "--tfrecord_sample_rate",
            type=int,
            default=None,
            help="TFRecord inputs: rate in Hz of decoded samples in examples without a "
            "sample_rate (or sampling_rate) feature. Default: none.",
        )
        inputs.add_argument(
            "--parquet_audio_column",
            default="audio",
            help="Parquet inputs: audio column, a {bytes, path} or {array, sampling_rate} struct, "
            "encoded bytes, or paths.",
        )
        inputs.add_argument("--parquet_id_column", default="id", help="Parquet inputs: optional id column.")
        caps = {
            "max_manifest_line_bytes": "Bytes of one manifest entry (a JSONL line or a JSON array item); a longer "
            "line is a dead letter and the lines after it are read.",
            "max_json_depth": "Nesting depth of one JSON value (a manifest entry, a tar .json member); a deeper "
            "one is a dead letter of its entry.",
            "max_member_bytes": "Bytes of a tar member read into memory; a larger audio member of an "
            "uncompressed tar is streamed from the tar, of a compressed tar a dead letter.",
            "max_cell_bytes": "Bytes of one Parquet audio cell; a larger cell is a dead letter of its row.",
            "max_record_bytes": "Bytes of one TFRecord record, checked from its length before it is read; a "
            "larger record is a dead letter.",
            "max_decompressed_bytes": "Bytes decompressed from one compressed input file (.gz, .tgz, .zst, ...); "
            "past it the rest of the file is a dead letter.",
        }
        for name, meaning in caps.items():
            inputs.add_argument(f"--{name}", type=int, default=getattr(DEFAULT_READ_LIMITS, name), help=meaning)
        inputs.add_argument(
            "--min_sample_rate",
            type=int,
            default=SAMPLE_RATE_RANGE[0],
            help="Lowest sample rate in Hz an input may declare; a lower one is a dead letter (a header "
            "declaring 1 Hz would be upsampled 16000 times).",
        )
        inputs.add_argument(
            "--max_sample_rate",
            type=int,
            default=SAMPLE_RATE_RANGE[1],
            help="Highest sample rate in Hz an input may declare; a higher one is a dead letter.",
        )
        model.add_argument(
            "--hf_checkpoint",
            default=None,
            help="Hugging Face Gemma 4 E2B/E4B checkpoint: a folder (config.json + safetensors, local "
            "or gs://) or a Hub repo id, optionally @revision (fetches config.json, the index and only "
            "the shards holding audio tensors). Default: none.",
        )
        model.add_argument(
            "--weights", default=None, help="A .keras file of a saved Gemma4AudioEncoder. Default: none."
        )
        model.add_argument(
            "--keras_hub_preset",
            default=None,
            help="A keras-hub Gemma 4 preset: a preset name, a Kaggle handle or a local preset "
            "folder (needs pip install gemma4-audio-embed[keras-hub]). Default: none.",
        )
        model.add_argument(
            "--seed",
            type=int,
            default=0,
            help="Seed of the random (meaningless) weights used when no model source is given.",
        )
        model.add_argument("--compute_dtype", default="float32", choices=COMPUTE_DTYPES, help="Encoder dtype policy.")
        model.add_argument(
            "--output_layer",
            default="lm",
            choices=OUTPUT_LAYERS,
            help="lm: the LM-space embeddings (projected to the text hidden size). tower: the "
            "1536-wide output_proj result, before the final norm and projection.",
        )
        output.add_argument(
            "--output",
            help="Required. Output prefix, local or gs://, such as out/run1/embeddings (not a folder): the "
            "records, their index, dead letters, stamp and summary are files named <output>-... "
            "(docs/outputs.md).",
        )
        output.add_argument(
            "--output_dtype",
            default="float32",
            choices=EMBEDDING_DTYPES,
            help="Dtype of the stored embeddings.",
        )
        output.add_argument(
            "--num_shards",
            type=int,
            default=0,
            help="Number of record shards (records go to shard sha256(key) mod N); 0 makes one per 256 MiB of records.",
        )
        output.add_argument(
            "--output_format",
            default="tfrecord",
            choices=RECORD_FORMATS,
            help="tfrecord: .tfrecord shards (streamed by tf.data). array_record: .array_record "
            "shards of the same records, for random access (Grain's ArrayRecordDataSource).",
        )
        output.add_argument(
            "--output_compression",
            default="none",
            choices=OUTPUT_COMPRESSIONS,
            help="gzip writes .tfrecord.gz shards (tfrecord only).",
        )
        output.add_argument(
            "--dedup",
            action="store_true",
            default=False,
            help="Embed each distinct decoded window once (the one of smallest key); list the others "
            "in <output>-duplicates-SSSSS-of-NNNNN.jsonl with the key they repeat. Default: off.",
        )
        output.add_argument(
            "--metadata_fields",
            type=_names_list,
            default=None,
            help="Comma-separated metadata fields to keep in the records and index (manifest keys, "
            "Parquet columns, WebDataset members, TFRecord features). Default: all.",
        )
        output.add_argument(
            "--max_metadata_bytes",
            type=int,
            default=MAX_METADATA_BYTES,
            help="Largest metadata of one input, as UTF-8 JSON; an input over it is a dead letter "
            "(stage read) naming its largest field. Defaults to 65536.",
        )
        output.add_argument(
            "--skip_existing",
            action="store_true",
            default=False,
            help="Resumable mode: write each input file's records to <output>-by-input/<hash>.tfrecord "
            "and skip inputs whose record file already exists, so a rerun does only what is missing. "
            "Default: off.",
        )
        output.add_argument(
            "--overwrite",
            action="store_true",
            default=False,
            help="Replace the complete output of an earlier run at --output. Its files are removed only "
            "once this run's are all written and checked; until then the old output stays as it was. "
            "Without it (or --skip_existing) such a launch stops. Default: off.",
        )
        output.add_argument("--run_id", default=None, help=argparse.SUPPRESS)  # set by the launch
        runtime.add_argument(
            "--max_batch_frames",
            type=parse_max_batch_frames,
            default=AUTO,
            help="Frame budget of one inference batch, padding included (100 frames = 1 s): "
            "max_batch_frames // (row length) rows of packed clips. auto (the default): 8192 "
            "on a CPU; on GPUs/TPUs (JAX) a power of two of rows per device sized from the device "
            "memory and a measured per-row footprint, logged and reported in the summary.",
        )
        runtime.add_argument(
            "--features_on_device",
            dest="features_on_device",
            action="store_const",
            const=True,
            default=None,
            help="Compute log-mel inside the compiled encoder program from 16 kHz samples; the "
            "host only decodes and resamples. Default: on where the worker has a GPU or TPU, off on a CPU.",
        )
        runtime.add_argument(
            "--no_features_on_device",
            dest="features_on_device",
            action="store_const",
            const=False,
            help="Compute log-mel on the host (CPU), even on GPU/TPU workers.",
        )
        runtime.add_argument(
            "--bucket_seconds",
            type=_seconds_list,
            default=DEFAULT_BUCKET_SECONDS,
            help="Comma-separated row lengths in seconds, below --max_clip_seconds (a full window is "
            "always a bucket; every row of a multi-row batch holds whole windows, two 30 s ones by "
            "default); a batch that packs into one row is cut to the smallest that holds it. "
            "Defaults to 3,6,10,15,22.",
        )
        runtime.add_argument(
            "--keras_backend",
            default=None,
            choices=KERAS_BACKENDS,
            help="Keras backend of the workers. Defaults to $KERAS_BACKEND at launch, else tensorflow.",
        )
        runtime.add_argument(
            "--share_model_across_processes",
            dest="share_model_across_processes",
            action="store_const",
            const=True,
            default=None,
            help="Load one encoder per worker machine and serve it to all its SDK processes. "
            "Default: on where the runner starts several SDK processes per machine (the local "
            "runner in multi_processing mode, Dataflow without no_use_multiple_sdk_containers).",
        )
        runtime.add_argument(
            "--no_share_model_across_processes",
            dest="share_model_across_processes",
            action="store_const",
            const=False,
            help="Load one encoder in every SDK process, even where several share a machine.",
        )
        shown.add_argument(
            "--quiet",
            action="store_true",
            default=False,
            help="Print only warnings and errors: no progress, no closing summary (the summary file is written as "
            "always). Default: off.",
        )
        shown.add_argument(
            "--verbose",
            action="store_true",
            default=False,
            help="Log the job's and Beam's INFO lines and every native library's start-up lines; progress as "
            "lines. Default: off.",
        )


def flag_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The job's own flags, grouped, for `--help` and for value errors; Beam's flags pass by.

    Its `error` raises `LaunchError` rather than printing usage and exiting.
    """
    parser = _LaunchParser(
        prog=prog,
        usage="%(prog)s --input PATTERN --output PREFIX [model flags] [other flags] [Beam flags]\n"
        "       %(prog)s verify OUTPUT_PREFIX\n"
        "       %(prog)s report OUTPUT_PREFIX [--html PATH]",
        description="Embed an audio corpus with the Gemma 4 audio encoder: one tf.train.Example "
        "of valid-token embeddings per clip. `verify` checks a finished output; `report` writes its "
        "HTML report.",
        epilog=BEAM_FLAGS_NOTE,
        formatter_class=_HelpFormatter,
        allow_abbrev=False,
    )
    EmbedOptions._add_argparse_args(parser)
    return parser


def input_patterns(options: EmbedOptions) -> list[str]:
    """The comma-separated `--input` as a list of patterns."""
    return [pattern.strip() for pattern in (options.input or "").split(",") if pattern.strip()]


def read_limits(options: EmbedOptions) -> ReadLimits:
    """The readers' caps the `--max_*` read flags set (`inputs.limits.ReadLimits`)."""
    return ReadLimits(**{name: getattr(options, name) for name in ReadLimits._fields})


def keras_backend(options: EmbedOptions) -> str:
    """`--keras_backend`, else `$KERAS_BACKEND` at launch, else `"tensorflow"` (Keras' default)."""
    return options.keras_backend or os.environ.get("KERAS_BACKEND") or "tensorflow"


def share_model_across_processes(options: PipelineOptions) -> bool:
    """Whether a worker machine loads one encoder for all its SDK processes.

    The flags decide when given. Otherwise True exactly where the runner starts several SDK
    processes per machine, each of which would hold its own 1.2 GB copy of the default-size
    encoder: the local runner with `--direct_running_mode=multi_processing` and more than one
    worker, and Dataflow unless `--experiments=no_use_multiple_sdk_containers`.
    """
    explicit = options.view_as(EmbedOptions).share_model_across_processes
    if explicit is not None:
        return explicit
    runner = (options.view_as(StandardOptions).runner or "DirectRunner").rsplit(".", 1)[-1]
    if runner in ("DirectRunner", "FnApiRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner"):
        direct = options.view_as(DirectOptions)
        return direct.direct_running_mode == "multi_processing" and direct.direct_num_workers != 1
    if runner == "DataflowRunner":
        return ONE_PROCESS_PER_VM not in (options.view_as(DebugOptions).experiments or [])
    return False


def model_source(options: EmbedOptions) -> ModelSource:
    """The `ModelSource` the model flags name (random weights with `--seed` when none).

    Raises `LaunchError` when more than one is given or one is empty.
    """
    try:
        return ModelSource.from_flags(
            hf_checkpoint=options.hf_checkpoint,
            weights=options.weights,
            keras_hub_preset=options.keras_hub_preset,
            seed=options.seed,
        )
    except ValueError as error:
        raise LaunchError(str(error)) from error


def output_layout(options: EmbedOptions) -> OutputLayout:
    """The `OutputLayout` of `--output` for this run's record format and `--skip_existing`."""
    return OutputLayout(
        options.output,
        suffix=record_suffix(options.output_format, options.output_compression),
        per_input=options.skip_existing,
    )


def check_embed_options(options: EmbedOptions) -> None:
    """Raises `LaunchError` naming the flag when a flag is missing, contradictory or out of range."""
    if not input_patterns(options) and not options.input_list:
        raise LaunchError("--input is required: a glob or comma-separated list of input files (or --input_list).")
    if not options.output:
        raise LaunchError("--output is required: the prefix of the output files.")
    check_output_prefix(options.output)
    model_source(options)
    if keras_backend(options) not in KERAS_BACKENDS:
        raise LaunchError(f"$KERAS_BACKEND must be one of {KERAS_BACKENDS}. Received: {keras_backend(options)!r}")
    if not MIN_WINDOW_SECONDS <= options.max_clip_seconds <= MAX_WINDOW_SECONDS:
        raise LaunchError(
            f"--max_clip_seconds must lie in [{MIN_WINDOW_SECONDS}, {MAX_WINDOW_SECONDS:.0f}] s (from 161 samples, "
            f"one mel frame, to an hour). Received: {options.max_clip_seconds}"
        )
    try:
        window_samples(options.max_clip_seconds)
        if not all(0 < seconds < math.inf for seconds in options.bucket_seconds):
            raise ValueError(f"--bucket_seconds must be positive and finite. Received: {options.bucket_seconds}")
        lengths = bucket_lengths(options.bucket_seconds, options.max_clip_seconds)
    except ValueError as error:
        raise LaunchError(str(error)) from error
    if options.max_batch_frames != AUTO and options.max_batch_frames < lengths[-1]:
        raise LaunchError(
            f"--max_batch_frames must hold at least one row of {lengths[-1]} frames (a "
            f"{options.max_clip_seconds} s window). Received: {options.max_batch_frames}"
        )
    if not 0 <= options.min_clip_seconds <= options.max_clip_seconds:
        raise LaunchError(
            "--min_clip_seconds must lie in [0, --max_clip_seconds]. "
            f"Received: {options.min_clip_seconds} (max {options.max_clip_seconds})"
        )
    if options.num_shards < 0:
        raise LaunchError(f"--num_shards must be >= 0. Received: {options.num_shards}")
    if options.output_format == "array_record" and options.output_compression != "none":
        raise LaunchError(
            "--output_compression applies to TFRecord output only; ArrayRecord files are written "
            f"uncompressed. Received: --output_format=array_record --output_compression={options.output_compression}"
        )
    if options.dedup and options.skip_existing:
        raise LaunchError(
            "--dedup and --skip_existing do not combine: a resumed run cannot see the audio of the inputs "
            "done before, so it would embed again what the first run listed as duplicates."
        )
    if options.quiet and options.verbose:
        raise LaunchError("--quiet and --verbose contradict each other; give at most one.")
    if options.overwrite and options.skip_existing:
        raise LaunchError(
            "--overwrite and --skip_existing do not combine: --skip_existing resumes the output at --output, "
            "--overwrite replaces it."
        )
    if options.max_metadata_bytes <= 0:
        raise LaunchError(f"--max_metadata_bytes must be positive. Received: {options.max_metadata_bytes}")
    try:
        read_limits(options).checked()
        resolved_roots(options.allowed_roots)
    except ValueError as error:
        raise LaunchError(str(error).replace("`", "--", 1).replace("`", "", 1)) from error
    if not 0 < options.min_sample_rate <= options.max_sample_rate:
        raise LaunchError(
            "--min_sample_rate and --max_sample_rate must satisfy 0 < min <= max. "
            f"Received: {options.min_sample_rate}, {options.max_sample_rate}"
        )


def check_output_prefix(output: str) -> None:
    """Raises `LaunchError` for an `--output` that is no file-name prefix: empty or blank, a
    folder (`dir/`, an existing folder), the root, or a bucket without a name in it."""
    name = output.rstrip("/").rsplit("/", 1)[-1]
    if not output.strip() or output != output.strip():
        raise LaunchError(f"--output must be a file-name prefix without surrounding spaces. Received: {output!r}")
    if output.endswith("/") or name in ("", ".", "..") or (is_local(output) and os.path.isdir(output)):
        raise LaunchError(
            f"--output {output!r} names a folder; it is the prefix of file names: give one inside it, "
            f"e.g. --output {output.rstrip('/') or ''}/embeddings."
        )
    if not is_local(output) and "/" not in output.split("://", 1)[1].rstrip("/"):
        raise LaunchError(
            f"--output {output!r} is a bucket; give a prefix inside it, e.g. {output.rstrip('/')}/embeddings."
        )


def check_inputs_exist(options: EmbedOptions) -> None:
    """Raises `LaunchError` for an `--input` pattern that matches no file, an `--input_list` that
    does not exist, a local input outside `--allowed_roots`, or a pattern that would match the
    job's own output files, before a job is launched."""
    roots = resolved_roots(options.allowed_roots)
    for pattern in input_patterns(options):
        if not matched_files(pattern):
            raise LaunchError(f"--input pattern {pattern!r} matches no file.")
        if is_local(pattern) and os.path.isdir(pattern):
            raise LaunchError(f"--input {pattern!r} is a folder; to read the files in it, give {pattern.rstrip('/')}/*")
        fixed = (
            os.path.realpath(GLOB_CHARACTERS.split(normalized_path(pattern), maxsplit=1)[0])
            if is_local(pattern)
            else pattern
        )
        if roots and not any(fixed == root or fixed.startswith(root.rstrip("/") + "/") for root in roots):
            raise LaunchError(f"--input {pattern!r} lies outside --allowed_roots {list(options.allowed_roots)}.")
    if options.input_list and not FileSystems.exists(options.input_list):
        raise LaunchError(f"--input_list {options.input_list!r} does not exist.")
    if options.output:
        check_output_outside_inputs(options)


def check_output_outside_inputs(options: EmbedOptions) -> None:
    """Raises `LaunchError` when an `--input` pattern would match a file the job writes: the next
    run would read this run's records, dead letters or summary back as audio."""
    layout = output_layout(options)
    written = [
        *layout.shard_files(0, 1),
        layout.stamp,
        layout.summary,
        f"{layout.dead_letter_prefix}-00000-of-00001.jsonl",
        *layout.input_files("input"),
    ]
    for pattern in input_patterns(options):
        regex = pattern_regex(normalized_path(pattern))
        caught = [path for path in written if regex.match(normalized_path(path))]
        if caught:
            raise LaunchError(
                f"--input pattern {pattern!r} matches the job's own output files (e.g. {caught[0]}); put --output "
                "where no input pattern reaches."
            )


def flags_table() -> str:
    """The job's flags as a Markdown table, `| flag | default | meaning |`, for `docs/operations.md`.

    Built from `flag_parser()` (a test keeps the page equal to it): one row per option string,
    in `--help`'s group order; a flag with choices lists them as `--help` does; the default is
    the one `--help` appends as `(default: X)`, blank where the help text states its own; the
    help text on one line, with `|` and `<` escaped for Markdown.
    """
    parser = flag_parser()
    formatter = parser._get_formatter()

    def cell(text: str) -> str:
        return " ".join(text.split()).replace("|", "\\|").replace("<", "\\<")

    lines = ["| flag | default | meaning |", "|---|---|---|"]
    for group in parser._action_groups:
        for action in group._group_actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            meaning = formatter._expand_help(action)
            shown = formatter._get_help_string(action) != action.help  # --help appends "(default: X)"
            if shown:
                meaning = meaning.removesuffix(f" (default: {action.default})")
            default = f"`{cell(str(action.default))}`" if shown else ""
            choices = " {" + ",".join(action.choices) + "}" if action.choices else ""
            for option in action.option_strings:
                lines.append(f"| `{option}{choices}` | {default} | {cell(meaning)} |")
    return "\n".join(lines)
