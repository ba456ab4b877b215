"""Launch helper for Dataflow: the `python -m gemma4_audio_embed` command line for GPU (L4) or TPU (v5e, v6e) workers.

    gemma4-deploy --accelerator gpu --project P --region R --bucket gs://B \
        --image REGION-docker.pkg.dev/P/REPO/gemma4-gpu:TAG --input 'gs://B/audio/*' \
        --output gs://B/embeddings/run1 --dry_run

Every flag it does not know passes through to the job (`--num_shards=64`, `--output_dtype=bfloat16`,
`--service_account_email=...`), after a check that the job or Beam knows it. The launch must run
from the image the workers run (`deploy/README.md`), so the Beam and Python versions match.
"""

import argparse
import dataclasses
import datetime
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions

from gemma4_audio_embed.encoder.config import COMPUTE_DTYPES
from gemma4_audio_embed.pipeline.options import ONE_PROCESS_PER_VM
from gemma4_audio_embed.pipeline.options import EmbedOptions
from gemma4_audio_embed.pipeline.options import check_embed_options

PROG = "gemma4-deploy"  # the console script (pyproject.toml)
IMAGE_WEIGHTS = "/opt/gemma4/audio_encoder.keras"  # where deploy/*.Dockerfile bake the encoder
# The images hold JAX, TensorFlow and CUDA or TPU libraries; Dataflow Shuffle batch workers get 25 GB.
DEFAULT_DISK_SIZE_GB = 50
DEFAULT_MAX_WORKERS = 4
# The launcher asks for ONE_PROCESS_PER_VM: with one SDK process per vCPU each would load its
# own encoder on the one chip (device errors, JAX preallocating 75% per process on a GPU); a TPU
# cannot be shared.


@dataclasses.dataclass(frozen=True)
class Accelerator:
    """How one kind of accelerator worker is asked of Dataflow.

    Args:
        worker_accelerators: dict of str to str. For each worker machine type, the
            `worker_accelerator` Dataflow service option's value (chip type and count or TPU
            topology); the first machine type is the default. Every chip of a VM is used: the
            job's one SDK process spreads each batch over all local devices.
        harness_threads: int or None. Default `--number_of_worker_harness_threads`; None leaves
            Dataflow's default.
    """

    worker_accelerators: dict
    harness_threads: int | None

    @property
    def machine_types(self) -> tuple[str, ...]:
        return tuple(self.worker_accelerators)

    @property
    def worker_accelerator(self) -> str:
        """The service option of the default machine type."""
        return self.worker_accelerators[self.machine_types[0]]


def _l4(count: int) -> str:
    return f"type:nvidia-l4;count:{count};install-nvidia-driver"


def _tpu(tpu_type: str, topology: str) -> str:
    return f"type:{tpu_type};topology:{topology}"


ACCELERATORS = {
    # g2-standard-4 to -32 carry one L4 (24 GB); -24 two, -48 four, -96 eight.
    "gpu": Accelerator(
        worker_accelerators={
            "g2-standard-8": _l4(1),
            "g2-standard-4": _l4(1),
            "g2-standard-12": _l4(1),
            "g2-standard-16": _l4(1),
            "g2-standard-32": _l4(1),
            "g2-standard-24": _l4(2),
            "g2-standard-48": _l4(4),
            "g2-standard-96": _l4(8),
        },
        harness_threads=None,
    ),
    # Single-host TPU slices Dataflow supports (its TPU support page): v5e with 1, 4 (2x2) or 8
    # (2x4) chips per VM, and v6e (Trillium) likewise. Dataflow sizes the harness thread pool
    # itself; on these many-vCPU VMs fewer threads hold fewer clips and batches in memory while
    # they queue for the chips.
    "tpu": Accelerator(
        worker_accelerators={
            "ct5lp-hightpu-1t": _tpu("tpu-v5-lite-podslice", "1x1"),
            "ct5lp-hightpu-4t": _tpu("tpu-v5-lite-podslice", "2x2"),
            "ct5lp-hightpu-8t": _tpu("tpu-v5-lite-podslice", "2x4"),
            "ct6e-standard-1t": _tpu("tpu-v6e-slice", "1x1"),
            "ct6e-standard-4t": _tpu("tpu-v6e-slice", "2x2"),
            "ct6e-standard-8t": _tpu("tpu-v6e-slice", "2x4"),
        },
        harness_threads=8,
    ),
}

# Flags the helper sets itself, so passing them through would contradict it.
RESERVED_FLAGS = {
    "runner": "the helper always uses DataflowRunner",
    "temp_location": "use --bucket",
    "staging_location": "use --bucket",
    "sdk_container_image": "use --image",
    "worker_harness_container_image": "use --image",
    "max_num_workers": "use --max_workers",
    "worker_machine_type": "use --machine_type",
    "dataflow_service_option": "the helper sets worker_accelerator",
    "dataflow_service_options": "the helper sets worker_accelerator",
    "number_of_worker_harness_threads": "use --harness_threads",
    "keras_backend": "the images run Keras on JAX",
    "resource_hint": "right fitting cannot be combined with worker_accelerator",
    "resource_hints": "right fitting cannot be combined with worker_accelerator",
}

_PROJECT = re.compile(r"([a-z][-a-z0-9.]*:)?[a-z][-a-z0-9]{4,28}[a-z0-9]")
_REGION = re.compile(r"[a-z]+(-[a-z]+)+[0-9]+")
_BUCKET = re.compile(r"gs://([a-z0-9][-_.a-z0-9]{1,61}[a-z0-9])(/[^\s]*)?")
_JOB_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


def default_job_name(accelerator: str, now: datetime.datetime | None = None) -> str:
    """`gemma4-embed-<accelerator>-<YYYYmmdd-HHMMSS>` in UTC, e.g. `gemma4-embed-gpu-20260102-030405`."""
    now = now or datetime.datetime.now(datetime.UTC)
    return f"gemma4-embed-{accelerator}-{now:%Y%m%d-%H%M%S}"


def _flag_name(arg: str) -> str | None:
    return arg[2:].split("=", 1)[0] if arg.startswith("--") else None


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def unknown_flags(args: Sequence[str]) -> list[str]:
    """Flags in `args` that neither `EmbedOptions` nor any Beam options class defines.

    Beam drops those with a log line, so a typo (`--num_shard=8`) would silently do nothing.
    """
    known = PipelineOptions([]).get_all_options()
    every = PipelineOptions(list(args)).get_all_options(retain_unknown_options=True)
    return sorted(name for name in every if name not in known)


def image_args(
    accelerator: str,
    *,
    machine_type: str | None = None,
    harness_threads: int | None = None,
    disk_size_gb: int = DEFAULT_DISK_SIZE_GB,
    compute_dtype: str = "bfloat16",
) -> list[str]:
    """The flags every job on the `accelerator` image carries: worker shape and the baked encoder.

    Shared by `job_args` and the Flex Template entry point (`deploy/flex_template_main.py`).

    Args:
        accelerator: str. `"gpu"` (NVIDIA L4s) or `"tpu"` (a TPU v5e or v6e slice of 1, 4 or
            8 chips per VM), chosen by `machine_type`.
        machine_type: str or None. One of the accelerator's `machine_types`; None is the first.
        harness_threads: int or None. `--number_of_worker_harness_threads`; None keeps the
            accelerator's default (8 on TPU, Dataflow's own on GPU).
        disk_size_gb: int. Worker boot disk. Defaults to 50.
        compute_dtype: str. Encoder dtype policy. Defaults to `"bfloat16"`, native on L4 and v5e.
    """
    _check(
        accelerator in ACCELERATORS,
        f"--accelerator must be one of {sorted(ACCELERATORS)}. Received: {accelerator!r}",
    )
    kind = ACCELERATORS[accelerator]
    machine_type = machine_type or kind.machine_types[0]
    harness_threads = kind.harness_threads if harness_threads is None else harness_threads
    _check(
        machine_type in kind.machine_types,
        f"--machine_type for {accelerator} must be one of {kind.machine_types}. Received: {machine_type!r}",
    )
    _check(
        harness_threads is None or harness_threads >= 1, f"--harness_threads must be >= 1. Received: {harness_threads}"
    )
    _check(disk_size_gb >= 25, f"--disk_size_gb must be >= 25. Received: {disk_size_gb}")
    _check(
        compute_dtype in COMPUTE_DTYPES,
        f"--compute_dtype must be one of {COMPUTE_DTYPES}. Received: {compute_dtype!r}",
    )
    args = [
        f"--machine_type={machine_type}",
        f"--disk_size_gb={disk_size_gb}",
        f"--dataflow_service_options=worker_accelerator={kind.worker_accelerators[machine_type]}",
        f"--experiments={ONE_PROCESS_PER_VM}",
    ]
    if harness_threads is not None:
        args.append(f"--number_of_worker_harness_threads={harness_threads}")
    return args + [f"--weights={IMAGE_WEIGHTS}", "--keras_backend=jax", f"--compute_dtype={compute_dtype}"]


def job_args(
    *,
    accelerator: str,
    project: str,
    region: str,
    bucket: str,
    image: str,
    input: str,
    output: str,
    job_name: str,
    max_workers: int = DEFAULT_MAX_WORKERS,
    extra_args: Sequence[str] = (),
    **image_options,
) -> list[str]:
    """The flags of `python -m gemma4_audio_embed` for a Dataflow job on `accelerator` workers.

    Raises ValueError naming the argument when one is missing or malformed, and when the job
    flags together fail `check_embed_options` or hold a flag nobody defines.

    Args:
        accelerator: str. `"gpu"` or `"tpu"`, as in `image_args`.
        project, region: str. GCP project id and Dataflow region, e.g. `"us-central1"`.
        bucket: str. `gs://BUCKET[/PREFIX]`; temp and staging files go under `tmp/`, `staging/`.
        image: str. The custom SDK container built from `deploy/<accelerator>.Dockerfile`, with
            a tag other than `latest` or a digest.
        input, output: str. The job's `--input` (comma-separated gs:// globs) and `--output`
            (gs:// prefix).
        job_name: str. Dataflow job name: lowercase letters, digits and hyphens.
        max_workers: int. Autoscaling ceiling. Defaults to 4.
        extra_args: sequence of str. More job or Beam flags, appended last.
        **image_options: `machine_type`, `harness_threads`, `disk_size_gb`, `compute_dtype`
            of `image_args`.
    """
    worker_and_model = image_args(accelerator, **image_options)
    for flag, value, pattern, expected in [
        ("project", project, _PROJECT, "a GCP project id"),
        ("region", region, _REGION, "a region such as us-central1"),
        ("bucket", bucket, _BUCKET, "gs://BUCKET or gs://BUCKET/PREFIX"),
        ("job_name", job_name, _JOB_NAME, "lowercase letters, digits and hyphens, starting with a letter"),
    ]:
        _check(pattern.fullmatch(value or "") is not None, f"--{flag} must be {expected}. Received: {value!r}")
    _check(bool(image), "--image is required: the container built from deploy/gpu.Dockerfile or deploy/tpu.Dockerfile.")
    tag = image.rpartition("/")[2].partition(":")[2]
    _check(
        "@sha256:" in image or (bool(tag) and tag != "latest"),
        f"--image must name a fixed tag or digest, not latest, so every worker runs the same build. Received: {image!r}",
    )
    patterns = [pattern.strip() for pattern in (input or "").split(",") if pattern.strip()]
    _check(bool(patterns), "--input is required: comma-separated gs:// globs of the audio to embed.")
    for pattern in patterns:
        _check(
            pattern.startswith("gs://"),
            f"--input must be on gs://: Dataflow workers cannot read this machine. Received: {pattern!r}",
        )
    _check((output or "").startswith("gs://"), f"--output must be a gs:// prefix. Received: {output!r}")
    _check(max_workers >= 1, f"--max_workers must be >= 1. Received: {max_workers}")
    for arg in extra_args:
        flag = _flag_name(arg)
        _check(flag not in RESERVED_FLAGS, f"--{flag} cannot be passed through: {RESERVED_FLAGS.get(flag)}.")

    root = bucket.rstrip("/")
    args = [
        "--runner=DataflowRunner",
        f"--project={project}",
        f"--region={region}",
        f"--job_name={job_name}",
        f"--temp_location={root}/tmp",
        f"--staging_location={root}/staging",
        f"--sdk_container_image={image}",
        f"--max_num_workers={max_workers}",
        *worker_and_model,
        f"--input={input}",
        f"--output={output}",
        *extra_args,
    ]
    unknown = ["--" + name for name in unknown_flags(args)]
    _check(not unknown, f"Unknown flags {unknown}: neither the job nor Beam defines them.")
    check_embed_options(PipelineOptions(args).view_as(EmbedOptions))
    return args


def launch_command(args: Sequence[str], python: str = sys.executable) -> list[str]:
    """`[python, "-m", "gemma4_audio_embed", *args]`: the job launched from this interpreter."""
    return [python, "-m", "gemma4_audio_embed", *args]


def format_command(command: Sequence[str]) -> str:
    """`command` shell-quoted, one option per line (a flag's separate value stays on its line),
    continued with backslashes so that it pastes into a shell as it prints."""
    lines = [[]]
    for position, arg in enumerate(command):
        if arg.startswith("--") and position > 0:
            lines.append([])
        lines[-1].append(arg)
    return " \\\n    ".join(shlex.join(line) for line in lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.splitlines()[0],
        epilog="Any other flag is passed on to the job after a check that the job or Beam defines it.",
        allow_abbrev=False,  # never swallow a pass-through flag as an abbreviation of ours
    )
    parser.add_argument("--accelerator", required=True, choices=sorted(ACCELERATORS))
    parser.add_argument("--project", required=True, help="GCP project id.")
    parser.add_argument("--region", required=True, help="Dataflow region, e.g. us-central1.")
    parser.add_argument("--bucket", required=True, help="gs://BUCKET[/PREFIX] for tmp/ and staging/.")
    parser.add_argument("--image", required=True, help="Custom SDK container (deploy/<accelerator>.Dockerfile).")
    parser.add_argument("--input", required=True, help="Comma-separated gs:// globs of the audio.")
    parser.add_argument("--output", required=True, help="gs:// prefix of the output files.")
    parser.add_argument("--job_name", default=None, help="Defaults to gemma4-embed-<accelerator>-<UTC time>.")
    parser.add_argument("--max_workers", type=int, default=DEFAULT_MAX_WORKERS)
    parser.add_argument(
        "--machine_type",
        default=None,
        help="Defaults to g2-standard-8 (gpu), ct5lp-hightpu-1t (tpu). TPU: ct5lp-hightpu-4t/-8t are v5e "
        "2x2/2x4, ct6e-standard-1t/-4t/-8t v6e 1x1/2x2/2x4; GPU: g2-standard-24/-48/-96 carry 2/4/8 L4s.",
    )
    parser.add_argument("--harness_threads", type=int, default=None, help="Defaults to 8 on tpu, Dataflow's on gpu.")
    parser.add_argument("--disk_size_gb", type=int, default=DEFAULT_DISK_SIZE_GB)
    parser.add_argument("--compute_dtype", default="bfloat16", choices=COMPUTE_DTYPES)
    parser.add_argument("--dry_run", action="store_true", help="Print the command and exit without submitting.")
    return parser


def main(argv: Sequence[str] | None = None, python: str = sys.executable) -> int:
    """Prints the launch command; without `--dry_run` also runs it and returns its exit status.

    Args:
        argv: list of str. The flags; None reads `sys.argv`.
        python: str. The interpreter that runs `-m gemma4_audio_embed`. Defaults to this one.
    """
    flags, extra_args = _parser().parse_known_args(argv)
    try:
        args = job_args(
            accelerator=flags.accelerator,
            project=flags.project,
            region=flags.region,
            bucket=flags.bucket,
            image=flags.image,
            input=flags.input,
            output=flags.output,
            job_name=flags.job_name or default_job_name(flags.accelerator),
            max_workers=flags.max_workers,
            machine_type=flags.machine_type,
            harness_threads=flags.harness_threads,
            disk_size_gb=flags.disk_size_gb,
            compute_dtype=flags.compute_dtype,
            extra_args=extra_args,
        )
    except ValueError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    command = launch_command(args, python)
    print(format_command(command))
    if flags.dry_run:
        return 0
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
