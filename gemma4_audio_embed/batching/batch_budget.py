"""`--max_batch_frames auto`: the frame budget of one inference batch, chosen on the worker for its devices.

On a CPU the encoder runs at the same frames per second at any batch size, so the budget stays
`DEFAULT_MAX_BATCH_FRAMES` (one row of two 30 s windows). An accelerator wants as many rows per call as its
memory holds: the rows are the largest power of two per device whose measured footprint fits,
times the device count.
"""

import argparse
import inspect
import logging

from gemma4_audio_embed.backends import encoder_module
from gemma4_audio_embed.backends import has_accelerator
from gemma4_audio_embed.batching.row_packing import DEFAULT_MAX_BATCH_FRAMES

AUTO = "auto"
# Share of a device's memory given to the weights and one batch; the rest is left to XLA's
# own buffers, fragmentation and the error of the one-block measurement below.
MEMORY_SHARE = 0.75
MAX_ROWS_PER_DEVICE = 256  # 7680 s of 30 s rows per call: far past the point of full use


def parse_max_batch_frames(text: str) -> str | int:
    """`--max_batch_frames` as given: `"auto"` or a positive integer."""
    if text == AUTO:
        return AUTO
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive integer. Received: {text!r}")
    return value


def rows_per_device(memory_bytes: int, weight_bytes: int, row_bytes: int) -> int:
    """The largest power of two R with `weight_bytes + R * row_bytes <= MEMORY_SHARE * memory_bytes`,
    at most `MAX_ROWS_PER_DEVICE`.

    Example: 16 GiB, 1.2 GB of weights, 250 MB a row: 0.75 * 17.18e9 = 12.9e9, minus 1.2e9
    leaves 11.7e9, 46.7 rows, so 32.

    Raises:
        ValueError: when not even one row fits beside the weights, naming the sizes; pass a
            smaller `--max_clip_seconds` or a number to `--max_batch_frames`, or use a device
            with more memory.
    """
    fitting = (MEMORY_SHARE * memory_bytes - weight_bytes) // row_bytes
    if fitting < 1:
        raise ValueError(
            f"--max_batch_frames auto: not one row fits this device: {MEMORY_SHARE:.0%} of its "
            f"{memory_bytes / 2**30:.1f} GiB is {MEMORY_SHARE * memory_bytes / 1e6:.0f} MB, the weights take "
            f"{weight_bytes / 1e6:.0f} MB and a row {row_bytes / 1e6:.0f} MB. Use a device with more memory, "
            "a shorter --max_clip_seconds, or give --max_batch_frames a number."
        )
    rows = 1
    while rows * 2 <= min(fitting, MAX_ROWS_PER_DEVICE):
        rows *= 2
    return rows


def accelerator_memory(keras_backend: str):
    """`(device count, bytes per device)` of the worker's accelerators, or None on a CPU.

    Only JAX spreads rows over devices and measures footprints; on TensorFlow and PyTorch
    `auto` keeps the CPU budget (logged).
    """
    if keras_backend != "jax":
        logging.info(
            "--max_batch_frames auto is measured on JAX only; %s keeps %d.", keras_backend, DEFAULT_MAX_BATCH_FRAMES
        )
        return None
    if not has_accelerator(keras_backend):
        return None
    import jax

    devices = jax.local_devices()
    stats = devices[0].memory_stats() or {}
    return len(devices), int(stats["bytes_limit"])


def auto_max_batch_frames(
    keras_backend: str, compute_dtype: str, row_frames: int, features_on_device: bool = False
) -> int:
    """The budget `auto` stands for on this worker, in frames: on a CPU `DEFAULT_MAX_BATCH_FRAMES`
    (at least one row), on accelerators `device_batch_frames`."""
    memory = accelerator_memory(keras_backend)
    if memory is None:
        return max(DEFAULT_MAX_BATCH_FRAMES, row_frames)
    return device_batch_frames(keras_backend, compute_dtype, row_frames, *memory, features_on_device=features_on_device)


def device_batch_frames(
    keras_backend: str,
    compute_dtype: str,
    row_frames: int,
    num_devices: int,
    memory_bytes: int,
    features_on_device: bool = False,
) -> int:
    """Frames of the largest power-of-two rows per device that fit `memory_bytes` each, logged.

    A one-block encoder of the released width, in `compute_dtype`, is compiled from shapes for
    1 and 2 rows of `row_frames` (`forward_memory_bytes`, on the first local device); their
    difference is the footprint of a row (inference frees each block's activations before the
    next, so one block's peak stands for twelve). The weights of the full released encoder and
    `rows_per_device` rows must fit each device. With `features_on_device` the program measured
    starts from samples, its log-mel included.
    """
    encoder = encoder_module(keras_backend)
    block = encoder.default_encoder(seed=0, dtype=compute_dtype, num_layers=1)
    one, two = (
        encoder.forward_memory_bytes(block, rows, row_frames, features_on_device=features_on_device) for rows in (1, 2)
    )
    row_bytes = two - one
    num_layers = inspect.signature(encoder.Gemma4AudioEncoder).parameters["num_layers"].default  # 12
    weight_bytes = sum(v.value.nbytes for v in block.weights)
    weight_bytes += (num_layers - 1) * sum(v.value.nbytes for v in block.conformer_blocks[0].weights)
    rows = rows_per_device(memory_bytes, weight_bytes, row_bytes) * num_devices
    logging.info(
        "--max_batch_frames auto: %d rows of %d frames (%d frames) on %d devices of %.1f GiB; "
        "a row takes %.0f MB, the weights %.0f MB.",
        rows,
        row_frames,
        rows * row_frames,
        num_devices,
        memory_bytes / 2**30,
        row_bytes / 1e6,
        weight_bytes / 1e6,
    )
    return rows * row_frames


def resolve_max_batch_frames(
    max_batch_frames: str | int,
    keras_backend: str,
    compute_dtype: str,
    row_frames: int,
    features_on_device: bool = False,
) -> int:
    """`max_batch_frames` itself when a number, else `auto_max_batch_frames`."""
    if max_batch_frames == AUTO:
        return auto_max_batch_frames(keras_backend, compute_dtype, row_frames, features_on_device)
    return max_batch_frames
