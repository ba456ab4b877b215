"""Specification of `gemma4_audio_embed.pipeline.deploy`: the Dataflow command lines for GPU and TPU workers.

The toy job: project my-project, bucket gs://my-bucket, audio under gs://my-bucket/audio/, image
tag v1, job name gemma4-embed-test. Expected command lines are written out in full.
"""

import datetime
import pathlib
import re
import subprocess
import sys

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.dataflow.internal import apiclient

from gemma4_audio_embed.pipeline import deploy
from gemma4_audio_embed.pipeline.graph import build_graph
from gemma4_audio_embed.pipeline.options import EmbedOptions

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
JOB = dict(
    project="my-project",
    bucket="gs://my-bucket",
    input="gs://my-bucket/audio/*.flac",
    output="gs://my-bucket/embeddings/run1",
    job_name="gemma4-embed-test",
)
REGION = {"gpu": "us-central1", "tpu": "us-east5"}
IMAGE = {
    "gpu": "us-central1-docker.pkg.dev/my-project/gemma4/gemma4-gpu:v1",
    "tpu": "us-east5-docker.pkg.dev/my-project/gemma4/gemma4-tpu:v1",
}
EXPECTED_ARGS = {
    "gpu": [
        "--runner=DataflowRunner",
        "--project=my-project",
        "--region=us-central1",
        "--job_name=gemma4-embed-test",
        "--temp_location=gs://my-bucket/tmp",
        "--staging_location=gs://my-bucket/staging",
        "--sdk_container_image=us-central1-docker.pkg.dev/my-project/gemma4/gemma4-gpu:v1",
        "--max_num_workers=4",
        "--machine_type=g2-standard-8",
        "--disk_size_gb=50",
        "--dataflow_service_options=worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver",
        "--experiments=no_use_multiple_sdk_containers",
        "--weights=/opt/gemma4/audio_encoder.keras",
        "--keras_backend=jax",
        "--compute_dtype=bfloat16",
        "--input=gs://my-bucket/audio/*.flac",
        "--output=gs://my-bucket/embeddings/run1",
    ],
    "tpu": [
        "--runner=DataflowRunner",
        "--project=my-project",
        "--region=us-east5",
        "--job_name=gemma4-embed-test",
        "--temp_location=gs://my-bucket/tmp",
        "--staging_location=gs://my-bucket/staging",
        "--sdk_container_image=us-east5-docker.pkg.dev/my-project/gemma4/gemma4-tpu:v1",
        "--max_num_workers=4",
        "--machine_type=ct5lp-hightpu-1t",
        "--disk_size_gb=50",
        "--dataflow_service_options=worker_accelerator=type:tpu-v5-lite-podslice;topology:1x1",
        "--experiments=no_use_multiple_sdk_containers",
        "--number_of_worker_harness_threads=8",
        "--weights=/opt/gemma4/audio_encoder.keras",
        "--keras_backend=jax",
        "--compute_dtype=bfloat16",
        "--input=gs://my-bucket/audio/*.flac",
        "--output=gs://my-bucket/embeddings/run1",
    ],
}


def job_args(accelerator, **overrides):
    return deploy.job_args(
        **{"accelerator": accelerator, "region": REGION[accelerator], "image": IMAGE[accelerator], **JOB, **overrides}
    )


def cli_argv(accelerator, *extra):
    return [
        f"--accelerator={accelerator}",
        "--project=my-project",
        f"--region={REGION[accelerator]}",
        "--bucket=gs://my-bucket",
        f"--image={IMAGE[accelerator]}",
        "--input=gs://my-bucket/audio/*.flac",
        "--output=gs://my-bucket/embeddings/run1",
        "--job_name=gemma4-embed-test",
        *extra,
    ]


@pytest.mark.parametrize("accelerator", ["gpu", "tpu"])
def test_job_args_hold_every_required_option(accelerator):
    assert job_args(accelerator) == EXPECTED_ARGS[accelerator]


@pytest.mark.parametrize("accelerator", ["gpu", "tpu"])
def test_dataflow_builds_the_job_the_args_describe(accelerator, tiny_encoder_path):
    # DataflowRunner's own dry run (Beam's --dry_run=True) turns the flags into the job request
    # offline: one SDK container per VM, the accelerator service option, the machine, the image.
    # The graph reads the model's configuration (its packing geometry): the tiny encoder stands in
    # for the image's baked weights.
    options = PipelineOptions([*job_args(accelerator), "--dry_run=True", f"--weights={tiny_encoder_path}"])
    pipeline = beam.Pipeline(options=options)
    build_graph(pipeline, options.view_as(EmbedOptions))
    job = pipeline.run().job
    environment = apiclient.Environment(
        packages=[],
        options=job.options,
        environment_version="0",
        proto_pipeline_staged_url="gs://my-bucket/staging/pipeline.pb",
        proto_pipeline=job.proto_pipeline,
    ).proto
    (pool,) = environment.worker_pools
    kind = deploy.ACCELERATORS[accelerator]
    assert job.proto.name == "gemma4-embed-test"
    assert pool.machine_type == kind.machine_types[0]
    assert pool.disk_size_gb == 50
    assert pool.autoscaling_settings.max_num_workers == 4
    assert pool.num_threads_per_worker == (kind.harness_threads or 0)
    assert list(environment.service_options) == [f"worker_accelerator={kind.worker_accelerator}"]
    assert "no_use_multiple_sdk_containers" in environment.experiments
    assert [
        (image.container_image, image.use_single_core_per_container) for image in pool.sdk_harness_container_images
    ] == [(IMAGE[accelerator], True)]


def test_bucket_prefix_and_pass_through_flags():
    args = job_args(
        "gpu", bucket="gs://my-bucket/gemma4/", extra_args=["--num_shards=64", "--weights=gs://my-bucket/w.keras"]
    )
    assert "--temp_location=gs://my-bucket/gemma4/tmp" in args
    assert "--staging_location=gs://my-bucket/gemma4/staging" in args
    assert args[-2:] == ["--num_shards=64", "--weights=gs://my-bucket/w.keras"]
    embed = PipelineOptions(args).view_as(EmbedOptions)
    assert (embed.num_shards, embed.weights) == (64, "gs://my-bucket/w.keras")  # the last flag wins


def test_image_args_options():
    assert deploy.image_args(
        "gpu", machine_type="g2-standard-16", harness_threads=4, disk_size_gb=100, compute_dtype="float32"
    ) == [
        "--machine_type=g2-standard-16",
        "--disk_size_gb=100",
        "--dataflow_service_options=worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver",
        "--experiments=no_use_multiple_sdk_containers",
        "--number_of_worker_harness_threads=4",
        "--weights=/opt/gemma4/audio_encoder.keras",
        "--keras_backend=jax",
        "--compute_dtype=float32",
    ]


@pytest.mark.parametrize(
    "accelerator, overrides, message",
    [
        ("cpu", {}, r"--accelerator must be one of \['gpu', 'tpu'\]. Received: 'cpu'"),
        ("gpu", {"project": ""}, "--project must be a GCP project id"),
        ("gpu", {"project": "My_Project"}, "--project must be a GCP project id. Received: 'My_Project'"),
        ("gpu", {"region": "central"}, "--region must be a region such as us-central1"),
        ("gpu", {"bucket": "my-bucket"}, "--bucket must be gs://BUCKET or gs://BUCKET/PREFIX. Received: 'my-bucket'"),
        ("gpu", {"bucket": "gs://"}, "--bucket must be gs://BUCKET"),
        ("gpu", {"image": ""}, "--image is required"),
        ("gpu", {"image": "us-central1-docker.pkg.dev/p/r/gemma4-gpu"}, "--image must name a fixed tag or digest"),
        ("gpu", {"image": "us-central1-docker.pkg.dev/p/r/gemma4-gpu:latest"}, "not latest"),
        ("gpu", {"input": ""}, "--input is required"),
        ("gpu", {"input": "gs://my-bucket/a/*.wav,/home/me/b/*.wav"}, "--input must be on gs://.*'/home/me/b/\\*.wav'"),
        ("gpu", {"output": "out/run1"}, "--output must be a gs:// prefix. Received: 'out/run1'"),
        ("gpu", {"job_name": "Gemma_Run"}, "--job_name must be lowercase letters"),
        ("gpu", {"max_workers": 0}, "--max_workers must be >= 1. Received: 0"),
        ("gpu", {"machine_type": "n1-standard-8"}, "--machine_type for gpu must be one of"),
        ("tpu", {"machine_type": "g2-standard-8"}, "--machine_type for tpu must be one of"),
        ("tpu", {"harness_threads": 0}, "--harness_threads must be >= 1. Received: 0"),
        ("gpu", {"disk_size_gb": 10}, "--disk_size_gb must be >= 25. Received: 10"),
        ("gpu", {"compute_dtype": "float16"}, "--compute_dtype must be one of"),
        (
            "gpu",
            {"extra_args": ["--resource_hints=accelerator=type:nvidia-l4;count:1"]},
            "right fitting cannot be combined",
        ),
        ("gpu", {"extra_args": ["--runner=DirectRunner"]}, "--runner cannot be passed through"),
        (
            "gpu",
            {"extra_args": ["--dataflow_service_options=enable_prime"]},
            "--dataflow_service_options cannot be passed",
        ),
        ("gpu", {"extra_args": ["--num_shard=8"]}, r"Unknown flags \['--num_shard'\]"),
        ("gpu", {"extra_args": ["--num_shards=-1"]}, "--num_shards must be >= 0"),
        (
            "gpu",
            {"extra_args": ["--hf_checkpoint=gs://my-bucket/ckpt"]},
            "Pass at most one of --hf_checkpoint, --weights, --keras_hub_preset",
        ),
    ],
)
def test_invalid_arguments_raise(accelerator, overrides, message):
    region_and_image = {"region": "us-central1", "image": IMAGE["gpu"]}
    with pytest.raises(ValueError, match=message):
        deploy.job_args(**{"accelerator": accelerator, **region_and_image, **JOB, **overrides})


def test_default_job_name_is_utc_time():
    now = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert deploy.default_job_name("tpu", now) == "gemma4-embed-tpu-20260102-030405"


def test_format_command_one_option_per_line():
    command = ["python", "-m", "gemma4_audio_embed", "--input=gs://b/*.wav", "--num_shards", "8", "--x=a;b"]
    assert deploy.format_command(command) == (
        "python -m gemma4_audio_embed \\\n    '--input=gs://b/*.wav' \\\n    --num_shards 8 \\\n    '--x=a;b'"
    )


@pytest.mark.parametrize("accelerator", ["gpu", "tpu"])
def test_dry_run_prints_the_command_and_runs_nothing(accelerator, tmp_path, capsys):
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\ntouch {tmp_path}/ran\n")
    python.chmod(0o755)
    assert deploy.main(cli_argv(accelerator, "--dry_run"), python=str(python)) == 0
    expected = deploy.format_command([str(python), "-m", "gemma4_audio_embed", *EXPECTED_ARGS[accelerator]])
    assert capsys.readouterr().out == expected + "\n"
    assert not (tmp_path / "ran").exists()


def test_without_dry_run_runs_python_m_pipeline(tmp_path):
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/argv\nexit 3\n')
    python.chmod(0o755)
    assert deploy.main(cli_argv("gpu", "--num_shards=64"), python=str(python)) == 3  # the job's status
    assert (tmp_path / "argv").read_text().splitlines() == [
        "-m",
        "gemma4_audio_embed",
        *EXPECTED_ARGS["gpu"],
        "--num_shards=64",
    ]


def test_main_reports_invalid_arguments(capsys):
    assert deploy.main(cli_argv("gpu", "--dry_run", "--bucket=my-bucket")) == 2
    assert (
        capsys.readouterr().err
        == "gemma4-deploy: error: --bucket must be gs://BUCKET or gs://BUCKET/PREFIX. Received: 'my-bucket'\n"
    )


def test_module_runs_with_python_m():
    result = subprocess.run(
        [sys.executable, "-m", "gemma4_audio_embed.pipeline.deploy", *cli_argv("tpu", "--dry_run")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines()[0] == f"{sys.executable} -m gemma4_audio_embed \\"
    assert (
        "    '--dataflow_service_options=worker_accelerator=type:tpu-v5-lite-podslice;topology:1x1' \\" in result.stdout
    )


def test_building_the_job_needs_no_accelerator(tiny_encoder_path):
    # The launch runs inside the worker image, whose JAX_PLATFORMS names a device the launching
    # machine lacks: building the graph must import neither Keras nor JAX.
    code = (
        "import sys\n"
        "import apache_beam as beam\n"
        "from apache_beam.options.pipeline_options import PipelineOptions\n"
        "from gemma4_audio_embed.pipeline import deploy\n"
        "from gemma4_audio_embed.pipeline.graph import build_graph\n"
        "from gemma4_audio_embed.pipeline.options import EmbedOptions\n"
        f"options = PipelineOptions({EXPECTED_ARGS['gpu']!r} + ['--dry_run=True', '--weights={tiny_encoder_path}'])\n"
        "pipeline = beam.Pipeline(options=options)\n"
        "build_graph(pipeline, options.view_as(EmbedOptions))\n"
        "pipeline.run()\n"
        "print(sorted({'keras', 'jax'} & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_readme_dry_run_output_is_what_the_helper_prints():
    readme = (REPO_ROOT / "deploy" / "README.md").read_text()
    block = re.search(r"```text\n(/usr/local/bin/python -m gemma4_audio_embed \\\n.*?)\n```", readme, re.S).group(1)
    job_name = re.search(r"--job_name=(\S+) ", block).group(1)
    args = deploy.job_args(
        accelerator="gpu",
        project="my-project",
        region="us-central1",
        bucket="gs://my-project-gemma4",
        image="us-central1-docker.pkg.dev/my-project/gemma4/gemma4-gpu:v1",
        input="gs://my-project-gemma4/audio/*",
        output="gs://my-project-gemma4/embeddings/run1",
        job_name=job_name,
        max_workers=8,
    )
    assert block == deploy.format_command(deploy.launch_command(args, "/usr/local/bin/python"))


@pytest.mark.parametrize(
    "machine_type, service_option",
    [
        ("ct5lp-hightpu-1t", "type:tpu-v5-lite-podslice;topology:1x1"),
        ("ct5lp-hightpu-4t", "type:tpu-v5-lite-podslice;topology:2x2"),
        ("ct5lp-hightpu-8t", "type:tpu-v5-lite-podslice;topology:2x4"),
        ("ct6e-standard-1t", "type:tpu-v6e-slice;topology:1x1"),
        ("ct6e-standard-4t", "type:tpu-v6e-slice;topology:2x2"),
        ("ct6e-standard-8t", "type:tpu-v6e-slice;topology:2x4"),
        ("g2-standard-48", "type:nvidia-l4;count:4;install-nvidia-driver"),
    ],
)
def test_machine_type_picks_its_chips(machine_type, service_option):
    accelerator = "gpu" if machine_type.startswith("g2-") else "tpu"
    args = deploy.image_args(accelerator, machine_type=machine_type)
    assert f"--machine_type={machine_type}" in args
    assert f"--dataflow_service_options=worker_accelerator={service_option}" in args


def test_a_tpu_machine_type_is_refused_for_gpu():
    with pytest.raises(ValueError, match="--machine_type for gpu must be one of"):
        deploy.image_args("gpu", machine_type="ct5lp-hightpu-4t")
