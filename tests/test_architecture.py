"""The package's shape (docs/architecture.md): stages import only earlier stages, and the light entry points stay light."""

import ast
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "gemma4_audio_embed"
# Lower layers first; a module may import its own layer and the layers before it, never a later one.
LAYERS = (
    {"constants", "reprs", "tfrecord", "tf_example", "metrics", "retries"},
    {"encoder", "backends"},  # backends imports the encoder under the chosen Keras backend
    {"inputs"},
    {"audio"},
    {"batching"},
    {"inference"},
    {"outputs"},
    {"records"},
    {"training"},  # reads outputs through records; frameworks load lazily
    {"pipeline", "__main__"},
)


def _layer(part: str) -> int:
    (index,) = [index for index, names in enumerate(LAYERS) if part in names]
    return index


def _imports():
    """`(module file, its top part, imported top part)` for every `gemma4_audio_embed` import, lazy ones too."""
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.name == "__init__.py" and relative.parent == pathlib.Path("."):
            continue
        own = relative.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gemma4_audio_embed"):
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names if alias.name.startswith("gemma4_audio_embed")]
            for name in names:
                parts = name.split(".")
                if len(parts) > 1:
                    yield relative, own, parts[1]


def test_every_top_level_module_has_a_layer():
    tops = {path.name.removesuffix(".py") for path in PACKAGE.iterdir() if path.name != "__init__.py"}
    tops -= {"__pycache__"}
    assert tops == set().union(*LAYERS)


def test_imports_point_from_later_stages_to_earlier_ones_only():
    backwards = [
        f"{module} ({own}) imports {imported}" for module, own, imported in _imports() if _layer(imported) > _layer(own)
    ]
    assert backwards == []


@pytest.mark.parametrize(
    "module, forbidden",
    [
        ("gemma4_audio_embed.encoder.hf_checkpoint", ("apache_beam",)),
        ("gemma4_audio_embed.encoder.config", ("apache_beam", "keras", "tensorflow", "jax")),
        ("gemma4_audio_embed.encoder.hf_layout", ("apache_beam", "keras", "tensorflow", "jax")),
        ("gemma4_audio_embed.pipeline.cli", ("keras", "tensorflow", "jax", "torch", "matplotlib")),
        ("gemma4_audio_embed.records", ("apache_beam", "keras", "tensorflow", "jax", "torch")),
        (
            "gemma4_audio_embed.training",
            ("apache_beam", "keras", "tensorflow", "jax", "torch", "grain", "transformers"),
        ),
        ("gemma4_audio_embed.constants", ("apache_beam", "keras", "numpy")),
    ],
)
def test_light_modules_import_without_heavy_libraries(module, forbidden):
    code = f"import sys, {module}; print(sorted(m for m in {forbidden!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_wheel_holds_only_the_package(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PACKAGE.parent / name, source / name)
    shutil.copytree(PACKAGE, source / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*command, "-w", str(tmp_path / "wheel")], check=True, cwd=tmp_path, capture_output=True)
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"gemma4_audio_embed", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
