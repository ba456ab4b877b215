"""Where the encoder's weights come from: one `ModelSource` value (a checkpoint folder or Hub id, a
`.keras` file, a keras-hub preset, or seeded random weights) that checks, describes and loads itself.

Each source is checked at launch from its headers (`ModelSource.checked`), fingerprinted from its
files (`ModelSource.fingerprint`, no model built), and turned into local files and a model on a
worker (`ModelSource.localized`, `ModelSource.load`). Checkpoint folders and `.keras` files may be
local or on any Beam filesystem (`gs://`); on `gs://` the launch checks read only the files'
headers. keras-hub presets have a module of their own (`inference.keras_hub_presets`).

Check and load after `backends.encoder_module(backend)` has imported the encoder under its
Keras backend: they import from it, and from keras-hub, inside. `encoder_config` reads only
`config.json` and needs no Keras for a checkpoint folder or a `.keras` file.
"""

import dataclasses
import json
import logging
import os
import tempfile
import zipfile

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from gemma4_audio_embed.encoder.config import ENCODER_ARGS
from gemma4_audio_embed.encoder.config import checked_encoder_config
from gemma4_audio_embed.encoder.config import encoder_config_from_hf
from gemma4_audio_embed.inference.keras_hub_presets import check_keras_hub_preset
from gemma4_audio_embed.inference.keras_hub_presets import keras_hub_audio_config
from gemma4_audio_embed.inference.keras_hub_presets import keras_hub_preset_utils
from gemma4_audio_embed.inference.keras_hub_presets import keras_hub_weight_files
from gemma4_audio_embed.inference.keras_hub_presets import load_keras_hub_preset

# Bytes per ranged read of a gs:// file during launch checks: a safetensors header, a zip's
# directory and its config.json take a few such reads; Beam's default would fetch 16 MiB.
HEADER_READ_BYTES = 1 << 16
# What a `.keras` file of our encoder says of itself: Keras' serialization of Gemma4AudioEncoder.
KERAS_FILE_IDENTITY = {
    "module": "gemma4_audio_embed.encoder.gemma4_audio_encoder",
    "class_name": "Gemma4AudioEncoder",
    "registered_name": "gemma4_audio_embed>Gemma4AudioEncoder",
}
KERAS_DTYPE_POLICIES = ("float32", "bfloat16", "float16", "mixed_bfloat16", "mixed_float16")
_KERAS_BASE_ARGS = ("name", "trainable", "dtype")  # what every Keras layer's config adds to ours
MAX_KERAS_CONFIG_BYTES = 1 << 20  # a .keras config.json of the encoder is about 1 KB


def _is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


def _open_remote(uri: str):
    if not FileSystems.exists(uri):
        raise FileNotFoundError(f"No file {uri}.")
    if FileSystems.get_scheme(uri) == "gs":
        from apache_beam.io.gcp.gcsio import GcsIO

        return GcsIO().open(uri, "rb", read_buffer_size=HEADER_READ_BYTES)
    return FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED)


def _folder_opener(folder: str):
    """`open_file(name)` for the files of `folder`, local or remote (see `CheckpointTensors`)."""
    if _is_local(folder):
        from gemma4_audio_embed.encoder.safetensors_file import local_opener

        return local_opener(folder)
    return lambda name: _open_remote(FileSystems.join(folder, name))


def _is_path_like(source: str) -> bool:
    """Whether a `--hf_checkpoint` value can only mean a local path: absolute, `./`, `../`, `~`,
    or holding a backslash (no Hub id does)."""
    return source.startswith(("/", "./", "../", "~")) or source in (".", "..") or "\\" in source


def _hub_id(source: str):
    """`(repo_id, revision)` when `source` names a Hub repo rather than a local path (`_is_path_like`)."""
    if not _is_local(source) or os.path.exists(source) or _is_path_like(source):
        return None
    from gemma4_audio_embed.encoder.hf_hub import parse_hub_id

    return parse_hub_id(source)


def check_hf_checkpoint(source: str) -> str:
    """Checks `--hf_checkpoint` and returns it pinned: a Hub id gets the commit it resolves to now.

    A folder must hold `config.json` with an `audio_config` and safetensors headers with every
    audio tensor at the expected shape (`encoder.hf_checkpoint.check_hf_checkpoint`). A Hub id
    `org/name[@revision]` is fetched into the Hugging Face cache first (config, index and audio
    shards; `encoder.hf_hub.hub_checkpoint`) and returned as `org/name@<commit sha>`, so every
    worker loads the same weights.

    Raises:
        ValueError or OSError: saying what is missing or wrong.
    """
    from gemma4_audio_embed.encoder.hf_hub import hub_checkpoint
    from gemma4_audio_embed.encoder.hf_hub import hub_commit
    from gemma4_audio_embed.encoder.hf_layout import check_hf_checkpoint as check_folder

    hub_id = _hub_id(source)
    if hub_id is not None:
        folder = hub_checkpoint(*hub_id)
        check_folder(folder)
        return f"{hub_id[0]}@{hub_commit(folder)}"
    if _is_local(source) and not os.path.isdir(source):
        why = "a local path, so no Hub request is made" if _is_path_like(source) else "not a Hub id org/name[@revision]"
        raise FileNotFoundError(f"No checkpoint folder {source!r}, and it is {why}.")
    check_folder(source, _folder_opener(source))
    return source


def local_hf_checkpoint(source: str) -> str:
    """A local folder with what `load_hf_checkpoint` reads from `source` (see `check_hf_checkpoint`).

    A local folder is itself; a Hub id is its cached snapshot; a remote folder is copied to a
    temporary folder: `config.json`, the index and only the shards holding audio tensors.
    """
    from gemma4_audio_embed.encoder.hf_hub import hub_checkpoint
    from gemma4_audio_embed.encoder.hf_layout import is_audio_tensor
    from gemma4_audio_embed.encoder.safetensors_file import INDEX_FILE
    from gemma4_audio_embed.encoder.safetensors_file import CheckpointTensors

    hub_id = _hub_id(source)
    if hub_id is not None:
        return hub_checkpoint(*hub_id)
    if _is_local(source):
        return source
    opener = _folder_opener(source)
    tensors = CheckpointTensors(source, opener)
    shards = tensors.shards([name for name in tensors.names() if is_audio_tensor(name)])
    names = ["config.json"] + ([INDEX_FILE] if FileSystems.exists(FileSystems.join(source, INDEX_FILE)) else [])
    folder = tempfile.mkdtemp(prefix="gemma4_embed_model_")
    for name in names + shards:
        _copy(FileSystems.join(source, name), os.path.join(folder, name))
    return folder


def _copy(uri: str, path: str) -> None:
    with FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED) as source, open(path, "wb") as target:
        while chunk := source.read(1 << 24):
            target.write(chunk)


def _keras_archive_member(source: str, read):
    """`read(archive)` on the zip archive of a `.keras` file, once it holds config.json and model.weights.h5.

    Raises:
        ValueError or OSError: saying what the file is instead.
    """
    try:
        with open(source, "rb") if _is_local(source) else _open_remote(source) as f:
            with zipfile.ZipFile(f) as archive:
                members = archive.namelist()
                if "config.json" not in members or "model.weights.h5" not in members:
                    raise ValueError(
                        f"{source!r} is not a .keras file: expected config.json and model.weights.h5; found {members[:10]}."
                    )
                return read(archive)
    except zipfile.BadZipFile:
        raise ValueError(f"{source!r} is not a .keras file (not a zip archive, or a truncated one).") from None


def _read_config(archive: zipfile.ZipFile, source: str):
    if archive.getinfo("config.json").file_size > MAX_KERAS_CONFIG_BYTES:
        raise ValueError(f"{source!r}: its config.json is over {MAX_KERAS_CONFIG_BYTES} bytes.")
    return json.loads(archive.read("config.json"))


def _weight_shapes(archive: zipfile.ZipFile) -> list:
    """`[(shape, dtype kind)]` of every dataset of the archive's `model.weights.h5`, no weight read."""
    import h5py

    weights = []
    with archive.open("model.weights.h5") as h5, h5py.File(h5, "r") as stored:
        stored.visititems(
            lambda _, item: (
                weights.append((tuple(item.shape), item.dtype.kind)) if isinstance(item, h5py.Dataset) else None
            )
        )
    return weights


def _keras_file_config(source: str) -> dict:
    """The `Gemma4AudioEncoder` arguments in a `.keras` file's `config.json`, read from its zip directory.

    The config must say it is our encoder, in Keras' own words (`KERAS_FILE_IDENTITY`), with a
    known dtype policy and sizes within bounds (`checked_encoder_config`).

    Raises:
        ValueError or OSError: saying what the file is instead.
    """
    return _checked_keras_config(source, _keras_archive_member(source, lambda archive: _read_config(archive, source)))


def _checked_keras_config(source: str, config) -> dict:
    if not isinstance(config, dict):
        raise ValueError(f"{source!r}: its config.json is not a serialized Keras object.")
    if config.get("class_name") != KERAS_FILE_IDENTITY["class_name"]:
        raise ValueError(f"{source!r} holds a {config.get('class_name')}, not a Gemma4AudioEncoder.")
    for field, expected in KERAS_FILE_IDENTITY.items():
        if config.get(field) != expected:
            raise ValueError(f"{source!r} holds a {config.get(field)!r} as its {field}, not {expected!r}.")
    arguments = config.get("config")
    if not isinstance(arguments, dict):
        raise ValueError(f"{source!r}: its config.json holds no encoder config.")
    unknown = sorted(set(arguments) - set(ENCODER_ARGS) - set(_KERAS_BASE_ARGS))
    if unknown:
        raise ValueError(f"{source!r}: its encoder config has arguments the encoder does not take: {unknown[:5]}.")
    dtype = arguments.get("dtype", "float32")
    policy = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype
    if policy not in KERAS_DTYPE_POLICIES or (isinstance(dtype, dict) and dtype.get("class_name") != "DTypePolicy"):
        raise ValueError(f"{source!r}: its dtype policy must be one of {KERAS_DTYPE_POLICIES}. Received: {dtype!r}")
    return checked_encoder_config({key: arguments[key] for key in ENCODER_ARGS if key in arguments})


def check_keras_file(source: str) -> None:
    """Checks that `--weights` is a `.keras` archive of a `Gemma4AudioEncoder` with its weights.

    Reads the zip's directory, `config.json` (checked: `_keras_file_config`) and the shapes of
    `model.weights.h5`'s datasets (on `gs://`, by ranged reads), and builds the configuration's
    encoder shape-only: the stored weights must be floating point and have the shapes of its
    variables, one for one. No weight is read.

    Raises:
        ValueError or OSError: saying what the file is instead.
    """
    from gemma4_audio_embed.encoder.hf_checkpoint import shape_only_encoder

    model = shape_only_encoder(**_keras_file_config(source))
    weights = _keras_archive_member(source, _weight_shapes)
    expected = sorted(tuple(variable.shape) for variable in model.weights)
    found = sorted(shape for shape, _ in weights)
    if found != expected:
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        raise ValueError(
            f"{source!r}: its model.weights.h5 holds {len(found)} weights, the encoder it configures "
            f"{len(expected)}; shapes missing: {missing[:3]}, unexpected: {extra[:3]}."
        )
    if any(kind != "f" for _, kind in weights):
        raise ValueError(f"{source!r}: its model.weights.h5 holds weights that are not floating point.")


def local_keras_file(source: str) -> str:
    """A local path of `--weights`: itself, or a temporary copy of a remote file."""
    if _is_local(source):
        return source
    path = os.path.join(tempfile.mkdtemp(prefix="gemma4_embed_model_"), os.path.basename(source))
    _copy(source, path)
    return path


def load_keras_file(source: str, compute_dtype: str):
    """The encoder saved in `--weights`, recast to `compute_dtype` if saved with another policy."""
    import keras

    model = keras.saving.load_model(local_keras_file(source))
    if model.dtype_policy.name == compute_dtype:
        return model
    config = model.get_config() | {"dtype": compute_dtype}
    recast = type(model).from_config(config)
    recast.build()
    recast.set_weights(model.get_weights())
    return recast


MODEL_SOURCE_KINDS = ("hf_checkpoint", "weights", "keras_hub_preset")  # as the flags name them
RANDOM = "random"
RANDOM_WEIGHTS_WARNING = (
    "No --hf_checkpoint, --weights or --keras_hub_preset given: the encoder has the released configuration with "
    "RANDOM weights (seed {seed}). Its embeddings are MEANINGLESS; use this only for tests, "
    "benchmarks and dry runs."
)


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """Where the encoder comes from: `kind` and its `value`.

    Args:
        kind: str. `"hf_checkpoint"` (a Hugging Face folder, local or `gs://`, or a Hub id
            `org/name[@revision]`), `"weights"` (a `.keras` file), `"keras_hub_preset"` (a preset
            name, Kaggle handle or folder), or `"random"` (the released configuration with
            seeded random weights; meaningless embeddings).
        value: str, or the int seed for `"random"`.
    """

    kind: str
    value: object

    def __post_init__(self):
        if self.kind == RANDOM:
            if not isinstance(self.value, int) or isinstance(self.value, bool):
                raise ValueError(f"A random model source takes an int seed. Received: {self.value!r}")
        elif self.kind not in MODEL_SOURCE_KINDS:
            raise ValueError(f"`kind` must be one of {MODEL_SOURCE_KINDS + (RANDOM,)}. Received: {self.kind!r}")
        elif not isinstance(self.value, str) or not self.value.strip():
            raise ValueError(f"--{self.kind} is empty; name a model source, or leave the flag out for random weights.")

    @classmethod
    def from_flags(cls, *, hf_checkpoint=None, weights=None, keras_hub_preset=None, seed: int = 0) -> "ModelSource":
        """The source the model flags name; random weights with `seed` when none is given.

        Raises ValueError when more than one is given or one is empty.
        """
        given = {"hf_checkpoint": hf_checkpoint, "weights": weights, "keras_hub_preset": keras_hub_preset}
        given = {kind: value for kind, value in given.items() if value is not None}
        for kind, value in given.items():
            cls(kind, value)  # an empty value says so first
        if len(given) > 1:
            raise ValueError(
                "Pass at most one of --hf_checkpoint, --weights, --keras_hub_preset. Received: "
                + " ".join(f"--{kind}={value}" for kind, value in given.items())
            )
        if not given:
            return cls(RANDOM, seed)
        ((kind, value),) = given.items()
        return cls(kind, value)

    @property
    def is_random(self) -> bool:
        return self.kind == RANDOM

    def describe(self) -> str:
        """How summaries and logs name it: `hf_checkpoint org/name@sha`, or the random seed."""
        if self.is_random:
            return f"random weights, seed {self.value} (meaningless embeddings)"
        return f"{self.kind} {self.value}"

    def checked(self) -> "ModelSource":
        """Checks the source from its headers and returns it pinned: a Hub id gets the commit it
        resolves to now, so every worker loads the same weights.

        Raises:
            ValueError or OSError: saying what is missing or wrong. ImportError: keras-hub
                missing for a preset.
        """
        if self.kind == "hf_checkpoint":
            pinned = check_hf_checkpoint(self.value)
            if pinned != self.value:
                logging.info("--hf_checkpoint %s resolved to %s.", self.value, pinned)
            return ModelSource(self.kind, pinned)
        if self.kind == "weights":
            check_keras_file(self.value)
        elif self.kind == "keras_hub_preset":
            check_keras_hub_preset(self.value)
        return self

    def _hf_folder(self) -> str:
        """The checkpoint folder of an `hf_checkpoint` source: itself, or a Hub id's cached snapshot."""
        hub_id = _hub_id(self.value)
        if hub_id is None:
            return self.value
        from gemma4_audio_embed.encoder.hf_hub import hub_checkpoint

        return hub_checkpoint(*hub_id)

    def encoder_config(self) -> dict:
        """The `Gemma4AudioEncoder` arguments the source holds (missing ones are the release's), from
        `config.json` alone; `{}` for random weights."""
        if self.kind == "hf_checkpoint":
            with _folder_opener(self._hf_folder())("config.json") as f:
                return encoder_config_from_hf(json.load(f))
        if self.kind == "weights":
            return _keras_file_config(self.value)
        if self.kind == "keras_hub_preset":
            audio = keras_hub_audio_config(self.value)["config"]
            return {key: audio[key] for key in ENCODER_ARGS if key in audio}
        return {}

    def weight_files(self) -> dict[str, str]:
        """`{name: local path or URI}` of the files the weights and configuration are read from.

        A checkpoint: `config.json` and the safetensors files holding audio tensors (a Hub id:
        of its cached snapshot). A `.keras` file: itself. A keras-hub preset: `config.json` and
        the weights files holding the audio encoder (fetched into keras-hub's cache when the
        preset is not a local folder). Random weights: none.
        """
        if self.kind == "hf_checkpoint":
            from gemma4_audio_embed.encoder.hf_layout import is_audio_tensor
            from gemma4_audio_embed.encoder.safetensors_file import CheckpointTensors

            folder = self._hf_folder()
            tensors = CheckpointTensors(folder, _folder_opener(folder))
            names = ["config.json"] + tensors.shards([name for name in tensors.names() if is_audio_tensor(name)])
            return {name: FileSystems.join(folder, name) for name in names}
        if self.kind == "weights":
            return {FileSystems.split(self.value)[1]: self.value}
        if self.kind == "keras_hub_preset":
            preset_utils = keras_hub_preset_utils()
            config = preset_utils.get_file(self.value, preset_utils.CONFIG_FILE)
            return {preset_utils.CONFIG_FILE: config} | keras_hub_weight_files(self.value)
        return {}

    def fingerprint(self, compute_dtype: str, keras_backend: str) -> str:
        """The model fingerprint of this source (`inference.fingerprint.model_fingerprint`), built from
        the SHA-256 of its `weight_files` (each hashed once and cached) and its configuration; no
        model is built. Random weights are named by their seed and Keras backend instead.

        Raises:
            ValueError or OSError: when a file cannot be read.
        """
        from gemma4_audio_embed.inference.fingerprint import file_sha256
        from gemma4_audio_embed.inference.fingerprint import model_fingerprint

        if self.is_random:
            weights = {"random": {"seed": self.value, "keras_backend": keras_backend}}
        else:
            weights = {"files": {name: file_sha256(uri) for name, uri in self.weight_files().items()}}
        return model_fingerprint(encoder_config=self.encoder_config(), compute_dtype=compute_dtype, weights=weights)

    def localized(self) -> "ModelSource":
        """The same source as local files, what a worker loads: a remote checkpoint's config, index
        and audio shards and a remote `.keras` file are copied to a temporary folder, a Hub id
        becomes its cached snapshot folder; presets (keras-hub fetches them) and random weights
        stay as they are."""
        if self.kind == "hf_checkpoint":
            return ModelSource(self.kind, local_hf_checkpoint(self.value))
        if self.kind == "weights":
            return ModelSource(self.kind, local_keras_file(self.value))
        return self

    def load(self, compute_dtype: str):
        """The `Gemma4AudioEncoder` in `compute_dtype`; remote files are copied to a local temporary
        folder first (`localized`), a checkpoint's only as far as its audio tensors go."""
        from gemma4_audio_embed.encoder import default_encoder
        from gemma4_audio_embed.encoder import load_hf_checkpoint

        if self.kind == "hf_checkpoint":
            return load_hf_checkpoint(local_hf_checkpoint(self.value), dtype=compute_dtype)
        if self.kind == "weights":
            return load_keras_file(self.value, compute_dtype)
        if self.kind == "keras_hub_preset":
            return load_keras_hub_preset(self.value, compute_dtype)
        logging.warning(RANDOM_WEIGHTS_WARNING.format(seed=self.value))
        return default_encoder(seed=self.value, dtype=compute_dtype)
