"""Run in a subprocess with four host devices: the encoder and the pipeline spread over them.

    XLA_FLAGS=--xla_force_host_platform_device_count=4 KERAS_BACKEND=jax \
        python devices_worker.py WEIGHTS.keras INPUTS.npz AUDIO_GLOB OUTPUT_PREFIX

Writes `OUTPUT_PREFIX-encoder.npz`: the encoder's output on all four devices (`all`) and on the
first alone (`one`), and per device the shape and count of non-zero rows of its shard; then
runs the pipeline on AUDIO_GLOB into OUTPUT_PREFIX with every local device (its default).
"""

import sys

import numpy as np


def main(weights, inputs, audio_glob, output):
    import jax
    import keras

    from gemma4_audio_embed.encoder import make_predict_fn
    from gemma4_audio_embed.pipeline.cli import run

    assert len(jax.local_devices()) == 4, jax.local_devices()
    model = keras.saving.load_model(weights)
    data = np.load(inputs)
    spread, alone = make_predict_fn(model), make_predict_fn(model, devices=jax.local_devices()[:1])
    shards = sorted(spread.on_devices(data["features"], data["mask"]).addressable_shards, key=lambda s: s.device.id)
    np.savez(
        f"{output}-encoder.npz",
        all=spread(data["features"], data["mask"]),
        one=alone(data["features"], data["mask"]),
        shard_devices=[shard.device.id for shard in shards],
        shard_rows=[shard.data.shape[0] for shard in shards],
        shard_nonzero_rows=[int((np.abs(np.asarray(shard.data)).sum(axis=(1, 2)) > 0).sum()) for shard in shards],
        devices=list(spread.devices),
    )
    run(
        [
            "--input",
            audio_glob,
            "--output",
            output,
            "--weights",
            weights,
            "--runner",
            "FnApiRunner",
            "--bucket_seconds",
            "4",
        ]
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
