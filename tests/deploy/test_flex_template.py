"""Specification of the Flex Template (deploy/flex_template_metadata.json, deploy/flex_template_main.py)
and of the build scripts (deploy/build_and_push.sh, deploy/build_flex_template.sh), which run here
against stub `docker` and `gcloud` commands that record their arguments."""

import argparse
import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from gemma4_audio_embed.pipeline import deploy
from gemma4_audio_embed.pipeline.options import EmbedOptions

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
METADATA = json.loads((REPO_ROOT / "deploy" / "flex_template_metadata.json").read_text())
PARAMETERS = {parameter["name"]: parameter for parameter in METADATA["parameters"]}
# Flags the image fixes (the baked weights on JAX), that one process per VM makes moot, or
# store_true switches (skip_existing, dedup) that a Flex Template cannot pass as --name=value,
# metadata_fields, whose default (every field) is no value a parameter could state, and
# features_on_device: a flag pair without a value; on the GPU and TPU images it is on by default;
# quiet and verbose: switches for a terminal's console, which a template launch has none of;
# overwrite: a store_true switch too; run_id: set by the launch itself, for the job's workers.
NOT_PARAMETERS = {
    "hf_checkpoint", "weights", "keras_hub_preset", "seed", "keras_backend", "share_model_across_processes",
    "skip_existing", "dedup", "metadata_fields", "features_on_device", "quiet", "verbose", "overwrite", "run_id",
}  # fmt: skip
IMAGE = "us-central1-docker.pkg.dev/my-project/gemma4/gemma4-gpu:v1"


def embed_flags():
    parser = argparse.ArgumentParser()
    EmbedOptions._add_argparse_args(parser)
    return {action.dest: action for action in parser._actions if action.dest != "help"}


def flex_template_main():
    spec = importlib.util.spec_from_file_location("flex_template_main", REPO_ROOT / "deploy" / "flex_template_main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_metadata_shape():
    assert set(METADATA) == {"name", "description", "parameters"}
    assert METADATA["name"] and METADATA["description"]
    assert len(PARAMETERS) == len(METADATA["parameters"])  # names are unique
    for parameter in METADATA["parameters"]:
        assert set(parameter) == {"name", "label", "helpText", "isOptional", "regexes"}, parameter["name"]
        assert parameter["label"] and parameter["helpText"] and parameter["regexes"]


def test_every_job_flag_is_a_parameter_or_fixed_by_the_image():
    flags = embed_flags()
    assert set(PARAMETERS) <= set(flags)
    assert set(PARAMETERS) | NOT_PARAMETERS == set(flags)
    assert {name for name, parameter in PARAMETERS.items() if not parameter["isOptional"]} == {"input", "output"}


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_parameter_regexes_and_stated_defaults_match_the_flag(name):
    parameter, flag = PARAMETERS[name], embed_flags()[name]
    patterns = [re.compile(regex) for regex in parameter["regexes"]]

    def accepted(value):
        return all(pattern.search(value) for pattern in patterns)

    if flag.choices:
        assert all(accepted(choice) for choice in flag.choices)
        assert not accepted("bogus")
    if not parameter["isOptional"]:
        assert "Defaults to" not in parameter["helpText"]
        return
    if flag.default is None:  # an optional flag that is off unless given
        assert parameter["helpText"].endswith("Unset by default.")
        return
    stated = re.search(r"Defaults to (\S+?)(?: on these images)?\.$", parameter["helpText"]).group(1)
    assert accepted(stated)
    image_defaults = dict(arg[2:].split("=", 1) for arg in deploy.image_args("gpu"))
    default = image_defaults.get(name, flag.default)  # the images' own defaults (compute_dtype) first
    assert (flag.type or str)(stated) == default, (stated, default)


@pytest.mark.parametrize(
    "name, good, bad",
    [
        ("input", "gs://b/audio/*.flac,gs://b/more/*.wav", "/home/me/*.wav"),
        ("input", "gs://b/a b/*.wav", "gs://b/a/*.wav,/tmp/x.wav"),
        ("output", "gs://b/embeddings/run1", "out/run1"),
        ("bucket_seconds", "2,4.5,8", "2;4"),
        ("num_shards", "64", "-1"),
        ("max_batch_frames", "16384", "0"),
        ("max_batch_frames", "auto", "automatic"),
    ],
)
def test_parameter_regexes(name, good, bad):
    (regex,) = PARAMETERS[name]["regexes"]
    assert re.search(regex, good) and not re.search(regex, bad)


@pytest.fixture
def image_weights(tiny_encoder_path, monkeypatch):
    """The tiny encoder stands in for the weights the images bake at `deploy.IMAGE_WEIGHTS`."""
    monkeypatch.setattr(deploy, "IMAGE_WEIGHTS", str(tiny_encoder_path))
    return str(tiny_encoder_path)


def dry_run_job(argv, accelerator="gpu"):
    gcp = [
        "--runner=DataflowRunner",
        "--project=my-project",
        "--region=us-central1",
        "--temp_location=gs://my-bucket/tmp",
        "--staging_location=gs://my-bucket/staging",
        "--dry_run=True",
    ]
    return flex_template_main().launch([*gcp, *argv], accelerator).job


def test_launch_adds_the_image_flags_and_lets_parameters_override(image_weights, gcs_bucket):
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.create(f"{gcs_bucket}/audio/a.flac") as f:
        f.write(b"not checked at launch")
    job = dry_run_job(
        [
            f"--sdk_container_image={IMAGE}",
            f"--input={gcs_bucket}/audio/*.flac",
            f"--output={gcs_bucket}/e/run1",
            "--compute_dtype=float32",
        ]
    )
    options = job.options.get_all_options()
    assert options["weights"] == image_weights and options["keras_backend"] == "jax"
    assert options["compute_dtype"] == "float32"  # the launch parameter wins over the image default
    assert options["machine_type"] == "g2-standard-8" and options["sdk_container_image"] == IMAGE
    assert options["dataflow_service_options"] == ["worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver"]
    assert "no_use_multiple_sdk_containers" in options["experiments"]


@pytest.mark.parametrize(
    "argv, accelerator, message",
    [
        (["--input=gs://b/a/*.wav", "--output=gs://b/e"], "gpu", "Pass the image itself as the sdk_container_image"),
        (
            [f"--sdk_container_image={IMAGE}", "--input=gs://b/a/*.wav", "--output=gs://b/e"],
            "",
            r"\$GEMMA4_ACCELERATOR must be",
        ),
        ([f"--sdk_container_image={IMAGE}", "--output=gs://b/e"], "gpu", "--input is required"),
    ],
)
def test_launch_rejects(argv, accelerator, message):  # before any input, model or output is touched
    with pytest.raises(ValueError, match=message):
        dry_run_job(argv, accelerator)


def test_the_entry_run_as_a_script_prints_a_launch_mistake_as_one_line():
    env = {**os.environ, "GEMMA4_ACCELERATOR": "gpu"}
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "deploy" / "flex_template_main.py"),
            "--input=gs://b/a/*.wav",
            "--output=gs://b/e",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("flex_template_main: error: Pass the image itself as the sdk_container_image")
    )
    assert "Traceback" not in result.stderr


def stub(directory, name):
    """A `name` command on PATH that appends its arguments, one per line then `--`, to name.log."""
    path = directory / name
    path.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" -- >> "{directory}/{name}.log"\n')
    path.chmod(0o755)
    return directory / f"{name}.log"


def calls(log):
    text = log.read_text().split("\n--\n") if log.exists() else []
    return [call.splitlines() for call in text if call.strip()]


@pytest.fixture
def repo_copy(tmp_path):
    """The scripts in a tree of their own, with a checkpoint under checkpoints/, and stubs on PATH."""
    (tmp_path / "deploy").mkdir()
    for script in ("build_and_push.sh", "build_flex_template.sh"):
        shutil.copy2(REPO_ROOT / "deploy" / script, tmp_path / "deploy" / script)
    (tmp_path / "checkpoints" / "gemma-4-e2b-it").mkdir(parents=True)
    (tmp_path / "checkpoints" / "gemma-4-e2b-it" / "config.json").write_text("{}")
    (tmp_path / "bin").mkdir()
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    env.pop("HF_CHECKPOINT", None)
    return tmp_path, env


def test_build_and_push_builds_and_pushes_both_images(repo_copy):
    root, env = repo_copy
    log = stub(root / "bin", "docker")
    subprocess.run(
        [root / "deploy" / "build_and_push.sh", "my-project", "us-central1", "gemma4", "v1"],
        env=env,
        check=True,
        capture_output=True,
    )
    image = "us-central1-docker.pkg.dev/my-project/gemma4/gemma4-{}:v1"
    build = [
        "build",
        "--platform=linux/amd64",
        "-f",
        "{dockerfile}",
        "--build-arg",
        "HF_CHECKPOINT=checkpoints/gemma-4-e2b-it",
        "-t",
    ]
    expected = []
    for accelerator in ("gpu", "tpu"):
        dockerfile = str(root / "deploy" / f"{accelerator}.Dockerfile")
        expected += [[arg.format(dockerfile=dockerfile) for arg in build] + [image.format(accelerator), str(root)]]
        expected += [["push", image.format(accelerator)]]
    assert calls(log) == expected
    # The pushed names are ones the launcher takes.
    deploy.job_args(
        accelerator="gpu",
        project="my-project",
        region="us-central1",
        bucket="gs://my-bucket",
        image=image.format("gpu"),
        input="gs://my-bucket/a/*.wav",
        output="gs://my-bucket/e/run1",
        job_name="gemma4-embed-test",
    )


@pytest.mark.parametrize(
    "args, env_update, message",
    [
        (["my-project", "us-central1", "gemma4"], {}, "usage:"),
        (["my-project", "us-central1", "gemma4", "latest"], {}, "TAG must not be latest"),
        (["my-project", "us-central1", "gemma4", "v1", "cpu"], {}, "must be gpu, tpu or all"),
        (
            ["my-project", "us-central1", "gemma4", "v1"],
            {"HF_CHECKPOINT": "checkpoints/missing"},
            "config.json not found",
        ),
    ],
)
def test_build_and_push_rejects(repo_copy, args, env_update, message):
    root, env = repo_copy
    log = stub(root / "bin", "docker")
    result = subprocess.run(
        [root / "deploy" / "build_and_push.sh", *args], env={**env, **env_update}, capture_output=True, text=True
    )
    assert result.returncode == 2 and message in result.stderr
    assert calls(log) == []


def test_build_flex_template_calls_gcloud_with_the_metadata(repo_copy):
    root, env = repo_copy
    log = stub(root / "bin", "gcloud")
    template = "gs://my-bucket/templates/gemma4-gpu.json"
    result = subprocess.run(
        [root / "deploy" / "build_flex_template.sh", IMAGE, template, "my-project"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert calls(log) == [
        [
            "dataflow",
            "flex-template",
            "build",
            template,
            f"--image={IMAGE}",
            "--sdk-language=PYTHON",
            f"--metadata-file={root / 'deploy' / 'flex_template_metadata.json'}",
            "--project=my-project",
        ]
    ]
    assert f"--parameters=sdk_container_image={IMAGE}" in result.stdout


def test_build_flex_template_rejects_a_local_template_path(repo_copy):
    root, env = repo_copy
    log = stub(root / "bin", "gcloud")
    result = subprocess.run(
        [root / "deploy" / "build_flex_template.sh", IMAGE, "templates/t.json", "my-project"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "must start with gs://" in result.stderr
    assert calls(log) == []


def test_a_flex_template_launch_on_a_local_runner_writes_an_output_that_verifies(tmp_path, image_weights, capsys):
    from synthetic_audio import audio_bytes
    from synthetic_audio import tone

    from gemma4_audio_embed.pipeline import verify

    (tmp_path / "a.wav").write_bytes(audio_bytes(tone(1.5), 16000))
    (tmp_path / "b.wav").write_bytes(b"not audio")
    output = str(tmp_path / "out" / "emb")
    argv = ["--runner=FnApiRunner", f"--sdk_container_image={IMAGE}", f"--input={tmp_path}/*.wav", f"--output={output}"]
    flex_template_main().launch(argv, "gpu").wait_until_finish()
    assert verify.main([output]) == 0
    summary = json.loads(pathlib.Path(f"{output}-summary.json").read_text())
    assert (summary["inputs"], summary["records"], summary["dead_letters"]) == (2, 1, 1)
    assert capsys.readouterr().out.rstrip().endswith(f"{output}: OK")
