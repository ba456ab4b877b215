"""Running a `Gemma4AudioEncoder` for batch inference: compiled forward, seeded default, weights digest.

Axis legend: B batch, M mel frames, F mel bins, T tokens, D output width.
"""

import hashlib
import json
from collections.abc import Callable

import keras
import numpy as np

from gemma4_audio_embed.encoder.device_log_mel import DeviceLogMel
from gemma4_audio_embed.encoder.gemma4_audio_encoder import Gemma4AudioEncoder
from gemma4_audio_embed.encoder.precision import precision_scope

# Left to oneDNN by `tensorflow_function` on a CPU: the matrix products and convolutions.
ONEDNN_OPS = frozenset({"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum", "Conv2D"})


def tensorflow_default_jit_compile() -> bool:
    """Whether `make_predict_fn` XLA-compiles the whole graph on TensorFlow when not told: only
    when TensorFlow sees a GPU or TPU. On a CPU the products stay on oneDNN's kernels instead
    (`tensorflow_function`); bench/encoder.py compares the two forms, bench/RESULTS.md records it."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"))


def tensorflow_function(fn: Callable, jit_compile: bool | None = None) -> Callable:
    """`fn` compiled by TensorFlow the way `make_predict_fn` compiles the encoder.

    `jit_compile=True`: one XLA program for the whole graph. `False`: a `tf.function` whose
    matrix products and convolutions (`ONEDNN_OPS`) run on oneDNN's kernels, while every other
    op is left to XLA (`tf.xla.experimental.jit_scope`), which fuses the element-wise runs
    between two products (clip-bound clamps, norms, casts, activations) into single passes,
    where each would otherwise be a pass over the activations; the first call per input shape
    compiles longer (bench/RESULTS.md records the speed-up). `None`:
    `tensorflow_default_jit_compile()`.

    Args:
        fn: a function of tensors, traced by `tf.function`.
        jit_compile: optional bool, see above.

    Returns:
        The `tf.function`.
    """
    import tensorflow as tf

    if jit_compile is None:
        jit_compile = tensorflow_default_jit_compile()
    if jit_compile:
        return tf.function(fn, jit_compile=True)

    def fused(*args):
        with tf.xla.experimental.jit_scope(compile_ops=lambda node_def: node_def.op not in ONEDNN_OPS):
            return fn(*args)

    return tf.function(fused)


def make_predict_fn(
    model: Gemma4AudioEncoder, output_layer: str = "lm", jit_compile=None, devices=None, features_on_device=False
):
    """A compiled NumPy-in, NumPy-out forward pass for the active Keras backend.

    JAX: `jax.jit` over `stateless_call`, data parallel over `devices` (`data_parallel_forward`);
    TensorFlow: `tensorflow_function` (one XLA program on accelerators; on a CPU, oneDNN
    products with XLA-fused element-wise ops between them); PyTorch: eager under
    `torch.no_grad()`. XLA compiles once per distinct input shape, so callers should pad to
    a few fixed lengths.

    With a float32 compute dtype, every call runs under `full_float32_precision()`: each
    matmul, einsum and convolution at full float32 precision (no TF32 on NVIDIA GPUs, no
    one-pass bfloat16 on TPUs; on a CPU nothing changes). bfloat16 policies keep bfloat16
    inputs with float32 sums.

    Args:
        model: the encoder.
        output_layer: `"lm"` or `"tower"`, as in `Gemma4AudioEncoder.call`.
        jit_compile: TensorFlow only, as in `tensorflow_function`. `None` (default) means one
            XLA program on a GPU or TPU and oneDNN products with XLA-fused element-wise ops on
            a CPU: `tensorflow_default_jit_compile`.
        devices: JAX only: sequence of `jax.Device` to spread each batch's rows over. `None`
            (default) means every local device of the process (`jax.local_devices()`).
        features_on_device: bool. If True, the function takes 16 kHz samples instead of
            features, float32 `[B, M * 160]` laid out as `DeviceLogMel` describes, and computes
            the released log-mel inside the compiled program. Defaults to False.

    Returns:
        `fn(mel float32 [B, M, F], mask [B, M]) -> float32 [B, T, D]`, padded rows 0; the mask
        bool or int32 clip numbers, as `Gemma4AudioEncoder` takes it (with `features_on_device`,
        `fn(samples float32 [B, M * 160], mask [B, M])`).
        `fn.devices` is a tuple with the kind of each device it runs on (e.g. `("cpu",)`,
        `("TPU v5 lite",) * 4`). On JAX it also has `fn.lower(mel, mask)`, the
        `jax.stages.Lowered` program it runs, and `fn.on_devices(mel, mask)`, the sharded
        `jax.Array` before it is gathered to the host.
    """
    backend = keras.backend.backend()
    if devices is not None and backend != "jax":
        raise ValueError(f"`devices` is supported on the JAX backend only. Received: devices={devices!r} on {backend}")
    precision = lambda: precision_scope(model.compute_dtype)  # noqa: E731
    log_mel = DeviceLogMel() if features_on_device else None

    def encode(inputs, mask):  # features [B, M, F] or samples [B, M * 160] -> [B, T, D]
        mel = inputs if log_mel is None else log_mel(inputs, mask)  # [B, M, F]
        return model(mel, mask, output_layer=output_layer)

    if backend == "jax":
        return data_parallel_forward(model, output_layer, devices, precision, log_mel)
    if backend == "tensorflow":
        import tensorflow as tf

        forward = tensorflow_function(lambda inputs, mask: tf.cast(encode(inputs, mask), tf.float32), jit_compile)

        def predict(mel, mask):
            with precision():
                return forward(mel, mask).numpy()

        gpus = tf.config.list_physical_devices("GPU")
        predict.devices = (
            tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else "cpu",
        )
        return predict
    if backend == "torch":
        import torch

        def predict(mel, mask):
            with precision(), torch.no_grad():
                out = encode(mel, mask)
            return keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))

        predict.devices = (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",)
        return predict
    raise ValueError(f"Unsupported Keras backend {backend!r}; expected jax, tensorflow or torch.")


def data_parallel_forward(
    model: Gemma4AudioEncoder, output_layer: str, devices, precision, log_mel: DeviceLogMel | None = None
) -> Callable:
    """`make_predict_fn` on JAX: each batch's rows split evenly over `devices`.

    The weights are placed once on every device (replicated), and the model's variables are
    set to those replicated arrays, so the first device holds one copy, not two; each call
    pads the rows with empty ones (0.0, False) to a multiple of the device count, gives each
    device an equal run of rows, runs one SPMD program, and gathers the rows back, padding
    dropped. A row's result does not depend on which device runs it or on the other rows
    (the encoder computes rows independently).

    Args:
        model: the encoder.
        output_layer: `"lm"` or `"tower"`.
        devices: sequence of `jax.Device`, or None for `jax.local_devices()`.
        precision: callable returning the context every trace and call runs in.
        log_mel: a `DeviceLogMel` when the inputs are samples, else None (features).
    """
    import jax
    from jax.sharding import Mesh
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec

    devices = tuple(jax.local_devices() if devices is None else devices)
    if not devices:
        raise ValueError("`devices` must name at least one device. Received: an empty sequence")
    mesh = Mesh(np.asarray(devices), ("rows",))
    by_row, replicated = NamedSharding(mesh, PartitionSpec("rows")), NamedSharding(mesh, PartitionSpec())

    def forward(trainable, non_trainable, inputs, mask):
        mel = inputs if log_mel is None else log_mel(inputs, mask)  # [B, M, F]
        out, _ = model.stateless_call(trainable, non_trainable, mel, mask, output_layer=output_layer)
        return out.astype("float32")  # [B, T, D]

    forward = jax.jit(forward, in_shardings=(replicated, replicated, by_row, by_row), out_shardings=by_row)
    # Keras walks every layer to list them; the variables themselves never change, only their values.
    trainable, non_trainable = list(model.trainable_variables), list(model.non_trainable_variables)
    variables = [*trainable, *non_trainable]
    for variable, value in zip(variables, jax.device_put([v.value for v in variables], replicated)):
        variable.assign(value)  # the variable now holds the replicated array: no second copy

    def weights():  # a no-op device_put unless another predict function moved the variables since
        return jax.device_put(([v.value for v in trainable], [v.value for v in non_trainable]), replicated)

    def padded(mel, mask):
        extra = -mel.shape[0] % len(devices)
        if extra:
            mel = np.concatenate([mel, np.zeros((extra, *mel.shape[1:]), mel.dtype)])  # [B', M, F]
            mask = np.concatenate([mask, np.zeros((extra, *mask.shape[1:]), mask.dtype)])  # [B', M]
        return mel, mask

    def on_devices(mel, mask):
        with precision():
            return forward(*weights(), *padded(mel, mask))  # [B', T, D], rows split over devices

    def predict(mel, mask):
        return np.asarray(on_devices(mel, mask))[: mel.shape[0]]  # [B, T, D]

    def lower(mel, mask):
        with precision():
            return forward.lower(*weights(), *padded(mel, mask))

    predict.devices = tuple(device.device_kind for device in devices)
    predict.lower, predict.on_devices = lower, on_devices
    return predict


def forward_memory_bytes(
    model: Gemma4AudioEncoder, rows: int, frames: int, output_layer: str = "lm", device=None, features_on_device=False
) -> int:
    """Bytes one device holds to run the encoder's JAX forward pass on `rows` rows of `frames`.

    Read from the memory analysis of the program `make_predict_fn` compiles for `device`
    (arguments, weights included, plus outputs and XLA's temporaries); nothing runs and no
    weight is copied to the device: the program is compiled from shapes. JAX only.

    Args:
        model: the encoder.
        rows: int. Batch rows B.
        frames: int. Row length M, in mel frames.
        output_layer: `"lm"` or `"tower"`.
        device: a `jax.Device`. Defaults to the first local device.
        features_on_device: bool. Measure the program that starts from samples, as
            `make_predict_fn(features_on_device=True)` compiles it. Defaults to False.
    """
    import jax
    from jax.sharding import SingleDeviceSharding

    if keras.backend.backend() != "jax":
        raise ValueError(f"forward_memory_bytes needs the JAX backend. Received: {keras.backend.backend()}")
    placed = SingleDeviceSharding(device or jax.local_devices()[0])

    def shapes(variables):
        return [jax.ShapeDtypeStruct(v.value.shape, v.value.dtype, sharding=placed) for v in variables]

    log_mel = DeviceLogMel() if features_on_device else None

    def forward(trainable, non_trainable, inputs, mask):
        mel = inputs if log_mel is None else log_mel(inputs, mask)  # [B, M, F]
        out, _ = model.stateless_call(trainable, non_trainable, mel, mask, output_layer=output_layer)
        return out.astype("float32")

    shape = (rows, frames * log_mel.hop_length) if log_mel else (rows, frames, model.input_feat_size)
    mel = jax.ShapeDtypeStruct(shape, "float32", sharding=placed)  # [B, M, F] or [B, M * 160]
    mask = jax.ShapeDtypeStruct((rows, frames), "int32", sharding=placed)  # [B, M], clip numbers as the job packs
    with precision_scope(model.compute_dtype):
        lowered = jax.jit(forward).lower(
            shapes(model.trainable_variables), shapes(model.non_trainable_variables), mel, mask
        )
    memory = lowered.compile().memory_analysis()
    return int(
        memory.argument_size_in_bytes
        + memory.output_size_in_bytes
        + memory.temp_size_in_bytes
        - memory.alias_size_in_bytes
    )


def default_encoder(seed: int = 0, dtype=None, **config) -> Gemma4AudioEncoder:
    """The released configuration (or `config` overrides) with seeded random weights.

    The same seed gives the same weights on the same backend. The embeddings are meaningless:
    use it for tests, benchmarks and dry runs, not for data.
    """
    keras.utils.set_random_seed(seed)
    model = Gemma4AudioEncoder(**config, dtype=dtype)
    model.build()
    return model


def weights_digest(model: Gemma4AudioEncoder) -> str:
    """Hex SHA-256 of a built model's configuration and weight values (values, shapes, dtypes, order).

    Independent of layer names, so two processes that build the same model agree: a check that
    two loaders give the same weights. The fingerprint records carry is another: it is made from
    the weights' files without building the model (`inference.fingerprint`).
    """
    digest = hashlib.sha256()
    config = model.get_config()
    config.pop("name", None)
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for variable in model.weights:
        array = keras.ops.convert_to_numpy(variable.value)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
