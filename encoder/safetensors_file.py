"""Lazy, dependency-free reading of named tensors from (sharded) safetensors checkpoints.

Only the header of each shard is parsed up front; a tensor's bytes are read when asked for, so
loading the audio tower never touches the language model's gigabytes. BF16 is widened to
float32 exactly (a bfloat16 is the upper 16 bits of a float32).
"""

import json
import os
import struct

import numpy as np

_NUMPY_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
    "BOOL": np.bool_,
}
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")


def _read_header(path):
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    header.pop("__metadata__", None)
    return 8 + length, header


class CheckpointTensors:
    """Name -> tensor view over a checkpoint folder's safetensors files.

    Args:
        folder: str. Holds `model.safetensors`, or `model.safetensors.index.json` and the shards
            it names.

    `names()` lists every tensor; `dtype(name)` gives the safetensors dtype string ("BF16",
    "F32", ...); `read(name)` returns a NumPy array (BF16 as float32).
    """

    def __init__(self, folder):
        index_path = os.path.join(folder, "model.safetensors.index.json")
        single_path = os.path.join(folder, "model.safetensors")
        if os.path.exists(index_path):
            with open(index_path) as f:
                shard_of = json.load(f)["weight_map"]
        elif os.path.exists(single_path):
            shard_of = None
        else:
            raise FileNotFoundError(
                f"Expected model.safetensors or model.safetensors.index.json in {folder!r}; "
                f"found {sorted(os.listdir(folder))}."
            )
        self._entries = {}
        for shard in sorted(set(shard_of.values())) if shard_of else ["model.safetensors"]:
            path = os.path.join(folder, shard)
            offset, header = _read_header(path)
            for name, entry in header.items():
                self._entries[name] = (path, offset, entry)

    def names(self):
        return list(self._entries)

    def dtype(self, name):
        return self._entries[name][2]["dtype"]

    def shape(self, name):
        return tuple(self._entries[name][2]["shape"])

    def read(self, name):
        path, offset, entry = self._entries[name]
        begin, end = entry["data_offsets"]
        with open(path, "rb") as f:
            f.seek(offset + begin)
            raw = f.read(end - begin)
        if entry["dtype"] == "BF16":
            widened = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array = widened.view(np.float32)
        elif entry["dtype"] in _NUMPY_DTYPES:
            array = np.frombuffer(raw, dtype=np.dtype(_NUMPY_DTYPES[entry["dtype"]]).newbyteorder("<"))
        else:
            raise ValueError(f"Tensor {name!r} has unsupported safetensors dtype {entry['dtype']!r}.")
        return array.reshape(entry["shape"])
