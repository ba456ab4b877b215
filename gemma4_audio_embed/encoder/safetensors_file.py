"""Lazy, dependency-free reading of named tensors from (sharded) safetensors checkpoints.

Only the index is parsed up front, and a shard's header when one of its tensors is asked about;
a tensor's bytes are read when asked for, so loading the audio tower never touches the language
model's gigabytes, nor opens the shards that hold only them. BF16 is widened to
float32 exactly (a bfloat16 is the upper 16 bits of a float32).
"""

import json
import os
import struct

import numpy as np

_NUMPY_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")
INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"


def numpy_dtype(safetensors_dtype):
    """The NumPy dtype `CheckpointTensors.read` returns for a safetensors dtype string (BF16 -> float32)."""
    if safetensors_dtype == "BF16":
        return np.dtype(np.float32)
    if safetensors_dtype not in _NUMPY_DTYPES:
        raise ValueError(f"Unsupported safetensors dtype {safetensors_dtype!r}.")
    return np.dtype(_NUMPY_DTYPES[safetensors_dtype])


_MAX_HEADER_BYTES = 100_000_000  # the format's own bound on the JSON header


def _read_header(f):
    """`(data offset, {tensor name: entry})` of a safetensors file; ValueError when it is not one."""
    prefix = f.read(8)
    if len(prefix) < 8:
        raise ValueError(f"Not a safetensors file: {len(prefix)} bytes, fewer than the 8-byte header length.")
    (length,) = struct.unpack("<Q", prefix)
    if length > _MAX_HEADER_BYTES:
        raise ValueError(f"Not a safetensors file: its header length field says {length} bytes.")
    text = f.read(length)
    if len(text) < length:
        raise ValueError(f"Truncated safetensors header: {len(text)} of {length} bytes.")
    try:
        header = json.loads(text)
    except ValueError as error:
        raise ValueError(f"The safetensors header is not JSON: {error}") from error
    if not isinstance(header, dict):
        raise ValueError(f"The safetensors header is not a JSON object but a {type(header).__name__}.")
    header.pop("__metadata__", None)
    return 8 + length, header


def local_opener(folder):
    """`open_file(name)` opening the local file `name` of `folder` for binary reading."""

    def open_file(name):
        return open(os.path.join(folder, name), "rb")

    return open_file


class CheckpointTensors:
    """Name -> tensor view over a checkpoint folder's safetensors files.

    Args:
        folder: str. Holds `model.safetensors`, or `model.safetensors.index.json` and the shards
            it names.
        open_file: callable or None. `open_file(name)` opens the folder's file `name` for binary
            reading and raises `FileNotFoundError` when it is absent; e.g. one reading from
            `gs://`. Defaults to opening `os.path.join(folder, name)`.

    `names()` lists every tensor (from the index alone when sharded); `dtype(name)` gives the
    safetensors dtype string ("BF16", "F32", ...) and `shape(name)` its shape, from the header
    of the shard holding it; `read(name)` returns a NumPy array (BF16 as float32). A shard's
    header is read on the first question about one of its tensors, so shards holding none of
    the tensors asked about are never opened.
    """

    def __init__(self, folder, open_file=None):
        self._folder = folder
        self._open = open_file or local_opener(folder)
        try:
            with self._open(INDEX_FILE) as f:
                self._shard_of = json.load(f)["weight_map"]
        except FileNotFoundError:
            self._shard_of = None
        self._headers = {}  # shard -> (data offset, header)
        if self._shard_of is None:
            try:
                self._header(SINGLE_FILE)
            except FileNotFoundError:
                raise FileNotFoundError(
                    f"Expected {SINGLE_FILE} or {INDEX_FILE} in {folder!r}; found neither."
                ) from None

    def _header(self, shard):
        if shard not in self._headers:
            with self._open(shard) as f:
                self._headers[shard] = _read_header(f)
        return self._headers[shard]

    def _entry(self, name):
        shard = self._shard_of[name] if self._shard_of is not None else SINGLE_FILE
        offset, header = self._header(shard)
        if name not in header:
            raise ValueError(f"{self._folder!r}: the index puts {name!r} in {shard}, whose header lacks it.")
        return shard, offset, header[name]

    def names(self):
        if self._shard_of is not None:
            return list(self._shard_of)
        return list(self._header(SINGLE_FILE)[1])

    def shards(self, names):
        """The files holding `names`, sorted: what must be fetched to read them."""
        if self._shard_of is None:
            return [SINGLE_FILE]
        return sorted({self._shard_of[name] for name in names if name in self._shard_of})

    def dtype(self, name):
        return self._entry(name)[2]["dtype"]

    def shape(self, name):
        return tuple(self._entry(name)[2]["shape"])

    def read(self, name):
        shard, offset, entry = self._entry(name)
        begin, end = entry["data_offsets"]
        with self._open(shard) as f:
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
