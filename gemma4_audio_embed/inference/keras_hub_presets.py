"""keras-hub presets as a model source: checking a preset's audio encoder, finding its weights files, loading it.

Only the audio encoder of a preset's `Gemma4Backbone` is built (from the backbone config) and
only its variables are read from the backbone's HDF5 weights; of sharded weights, only the
shards holding them are fetched. keras-hub is an extra (`KERAS_HUB_EXTRA`), imported inside.
"""

import json
import os

from gemma4_audio_embed.encoder.config import ENCODER_ARGS

KERAS_HUB_EXTRA = "pip install gemma4-audio-embed[keras-hub]"


def keras_hub_preset_utils():
    """keras-hub's `preset_utils`; ImportError naming the extra when keras-hub is missing."""
    try:
        from keras_hub.src.utils import preset_utils
    except ImportError:
        raise ImportError(f"keras-hub is not installed; install the extra: {KERAS_HUB_EXTRA}") from None
    return preset_utils


def keras_hub_audio_config(preset: str) -> dict:
    """The serialized keras-hub `Gemma4AudioEncoder` in a preset's backbone `config.json`."""
    preset_utils = keras_hub_preset_utils()
    config = preset_utils.load_json(preset, preset_utils.CONFIG_FILE)
    audio = config.get("config", {}).get("audio_encoder")
    if not audio:
        raise ValueError(
            f"keras-hub preset {preset!r} has no audio encoder: its config.json "
            f"({config.get('class_name', 'no class_name')}) has no audio_encoder; only Gemma 4 "
            "E2B/E4B presets carry one."
        )
    return audio


def check_keras_hub_preset(preset: str) -> None:
    """Checks `--keras_hub_preset`: keras-hub is installed, the preset's backbone has an audio
    encoder whose configuration ours takes, and, for a local folder, its weights file is there.

    Reads only `config.json` (a preset name or Kaggle handle downloads just that file).

    Raises:
        ImportError: keras-hub is missing (the message names the extra to install).
        ValueError or OSError: saying what the preset lacks.
    """
    from gemma4_audio_embed.encoder.hf_checkpoint import shape_only_encoder

    audio = keras_hub_audio_config(preset)
    missing = [key for key in ENCODER_ARGS if key not in audio["config"]]
    if missing:
        raise ValueError(f"keras-hub preset {preset!r}: its audio encoder config lacks {missing}.")
    shape_only_encoder(**{key: audio["config"][key] for key in ENCODER_ARGS})
    preset_utils = keras_hub_preset_utils()
    if os.path.isdir(preset) and not (
        os.path.exists(os.path.join(preset, preset_utils.MODEL_WEIGHTS_FILE))
        or os.path.exists(os.path.join(preset, preset_utils.SHARDED_MODEL_WEIGHTS_CONFIG_FILE))
    ):
        raise FileNotFoundError(
            f"keras-hub preset folder {preset!r} has no {preset_utils.MODEL_WEIGHTS_FILE} "
            f"or {preset_utils.SHARDED_MODEL_WEIGHTS_CONFIG_FILE}."
        )


def keras_hub_audio_path(preset: str) -> str:
    """Where Keras files the audio encoder's variables in the backbone's weights: a functional
    model's layers go under their snake-cased class names."""
    preset_utils = keras_hub_preset_utils()
    class_name = keras_hub_audio_config(preset).get("class_name", "Gemma4AudioEncoder")
    return f"layers/{preset_utils.to_snake_case(class_name)}"


def keras_hub_weight_files(preset: str) -> dict[str, str]:
    """`{name: local path}` of a preset's weights files that hold the audio encoder, fetched if needed:
    the single weights file, or the sharded index, shard 0 (which Keras opens first) and the
    shards holding the encoder's variables."""
    preset_utils = keras_hub_preset_utils()
    if preset_utils.check_file_exists(preset, preset_utils.MODEL_WEIGHTS_FILE):
        return {preset_utils.MODEL_WEIGHTS_FILE: preset_utils.get_file(preset, preset_utils.MODEL_WEIGHTS_FILE)}
    index = preset_utils.get_file(preset, preset_utils.SHARDED_MODEL_WEIGHTS_CONFIG_FILE)
    with open(index) as f:
        weight_map = json.load(f)["weight_map"]
    audio_path = keras_hub_audio_path(preset)
    shards = {"model_00000.weights.h5"}
    for path, files in weight_map.items():
        if path.lstrip("/").startswith(audio_path + "/"):
            shards.update(files if isinstance(files, list) else [files])
    files = {preset_utils.SHARDED_MODEL_WEIGHTS_CONFIG_FILE: index}
    return files | {shard: preset_utils.get_file(preset, shard) for shard in sorted(shards)}


def keras_hub_weights_store(preset: str):
    """A Keras weights store over the preset's weights files that hold the audio encoder."""
    from keras.src.saving import saving_lib  # no public API loads one layer's weights from a file

    preset_utils = keras_hub_preset_utils()
    files = keras_hub_weight_files(preset)
    if preset_utils.MODEL_WEIGHTS_FILE in files:
        return saving_lib.H5IOStore(files[preset_utils.MODEL_WEIGHTS_FILE], mode="r")
    return saving_lib.ShardedH5IOStore(files[preset_utils.SHARDED_MODEL_WEIGHTS_CONFIG_FILE], mode="r")


def load_keras_hub_preset(preset: str, compute_dtype: str):
    """Our encoder with the weights of a keras-hub preset's audio encoder (`from_keras_hub`).

    Builds keras-hub's `Gemma4AudioEncoder` alone from the preset's config and loads only its
    variables from the backbone's weights (HDF5 reads just the datasets under the encoder's
    group; of sharded weights, only the shards holding them are fetched). The language model
    is never built.
    """
    import keras
    import numpy as np
    from keras.src.saving import saving_lib

    from gemma4_audio_embed.encoder.keras_hub_weights import from_keras_hub

    audio = keras_hub_audio_config(preset)
    kh_encoder = keras.saving.deserialize_keras_object(audio)
    kh_encoder(np.zeros((1, 8, kh_encoder.input_feat_size), "float32"), np.ones((1, 8), bool))  # builds it
    audio_path = keras_hub_audio_path(preset)
    store = keras_hub_weights_store(preset)
    try:
        saving_lib._load_state(
            kh_encoder, weights_store=store, assets_store=None, inner_path=audio_path, visited_saveables=set()
        )
    finally:
        store.close()
    return from_keras_hub(kh_encoder, dtype=compute_dtype)
