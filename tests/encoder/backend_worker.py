"""Run in a subprocess under one Keras backend: load weights, encode features, save outputs.

KERAS_BACKEND=torch python backend_worker.py WEIGHTS.h5 INPUTS.npz OUTPUT.npz CONFIG_JSON
"""

import json
import sys

import numpy as np


def main(weights, inputs, output, config_json):
    import keras

    from gemma4_audio_embed.encoder import Gemma4AudioEncoder
    from gemma4_audio_embed.encoder import make_predict_fn
    from gemma4_audio_embed.encoder.device_log_mel import DeviceLogMel

    model = Gemma4AudioEncoder(**json.loads(config_json))
    model.build()
    model.load_weights(weights)
    data = np.load(inputs)
    eager = keras.ops.convert_to_numpy(model(data["features"], data["mask"]))
    bf16 = Gemma4AudioEncoder(**json.loads(config_json), dtype="bfloat16")
    bf16.build()
    bf16.load_weights(weights)
    outputs = {
        "eager": eager,
        "compiled": make_predict_fn(model)(data["features"], data["mask"]),
        "compiled_bf16": make_predict_fn(bf16)(data["features"], data["mask"]),
        # The same rows as 16 kHz samples, log-mel computed inside the compiled program.
        "compiled_on_device": make_predict_fn(model, features_on_device=True)(data["samples"], data["mask"]),
        "device_log_mel": keras.ops.convert_to_numpy(DeviceLogMel()(data["samples"], data["mask"])),
        # Both clips packed into one row, told apart by the mask's clip numbers.
        "compiled_packed": make_predict_fn(model)(data["packed_features"], data["packed_mask"]),
    }
    if keras.backend.backend() == "tensorflow":  # XLA, the default only on accelerators
        outputs["xla"] = make_predict_fn(model, jit_compile=True)(data["features"], data["mask"])
    np.savez(output, backend=keras.backend.backend(), **outputs)


if __name__ == "__main__":
    main(*sys.argv[1:])
