"""Lazy, dependency-free reading of named tensors from (sharded) safetensors checkpoints.

Only the index is parsed up front, and a shard's header when one of its tensors is asked about;
a tensor's bytes are read when asked for, so loading the audio tower never touches the language
model's gigabytes, nor opens the shards that hold only them. BF16 is widened to
float32 exactly (a bfloat16 is the upper 16 bits of a float32).

A downloaded checkpoint is checked before it is trusted: the index's shard names must be plain
file names inside the folder (no absolute path, no `..`), every file opened must be a regular
file (a FIFO would block the launch), and a tensor's entry must hold its shape's bytes inside
the file (`CheckpointTensors.entry`), so a truncated download or a bogus offset is one error
naming the tensor, found from the headers. No message quotes the bytes of a file.
"""

import io
import json
import math
import mmap
import os
import posixpath
import stat
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
_MAX_INDEX_BYTES = 64 << 20  # an index lists tensor names: a few MB for the largest models
_ITEM_BYTES = {"BF16": 2, **{name: np.dtype(dtype).itemsize for name, dtype in _NUMPY_DTYPES.items()}}


def _read_header(f):
    """`(data offset, {tensor name: entry})` of a safetensors file; ValueError when it is not one."""
    prefix = f.read(8)
    if len(prefix) < 8:
        raise ValueError(f"Not a safetensors file: {len(prefix)} bytes, fewer than the 8-byte header length.")
    (length,) = struct.unpack("<Q", prefix)
    if length > _MAX_HEADER_BYTES:
        raise ValueError(f"Not a safetensors file: its header length field is over {_MAX_HEADER_BYTES} bytes.")
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


def checked_file_name(name, folder) -> str:
    """`name` when it is a plain relative file name inside a checkpoint folder; else ValueError.

    An index names its shards; a hostile one could name `../../etc/passwd` or `/dev/zero`.
    """
    if (
        not isinstance(name, str)
        or not name
        or name.startswith(("/", "~"))
        or "\\" in name
        or "\0" in name
        or ".." in posixpath.normpath(name).split("/")
    ):
        raise ValueError(f"{folder!r}: its index names a shard {name!r} outside the checkpoint folder; refused.")
    return name


def local_opener(folder):
    """`open_file(name)` opening the local file `name` of `folder` for binary reading.

    Refuses a name outside the folder (`checked_file_name`) and anything but a regular file
    (a FIFO or device would block or never end), found by `stat` before it is opened.
    """

    def open_file(name):
        path = os.path.join(folder, checked_file_name(name, folder))
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ValueError(f"{path!r} is not a regular file (a FIFO, device or folder); refused.")
        return open(path, "rb")

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
                if f.seek(0, os.SEEK_END) > _MAX_INDEX_BYTES:
                    raise ValueError(f"{folder!r}: its {INDEX_FILE} is over {_MAX_INDEX_BYTES} bytes.")
                f.seek(0)
                self._shard_of = json.load(f)["weight_map"]
        except FileNotFoundError:
            self._shard_of = None
        if self._shard_of is not None:
            if not isinstance(self._shard_of, dict):
                raise ValueError(f"{folder!r}: the weight_map of its {INDEX_FILE} is not a JSON object.")
            for shard in self._shard_of.values():
                checked_file_name(shard, folder)
        self._headers = {}  # shard -> (data offset, header, file size)
        self._maps = {}  # shard -> read-only mmap of a local shard, or None where the file has no descriptor
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
                offset, header = _read_header(f)
                self._headers[shard] = (offset, header, f.seek(0, os.SEEK_END))
        return self._headers[shard][:2]

    def _entry(self, name):
        shard = self._shard_of[name] if self._shard_of is not None else SINGLE_FILE
        offset, header = self._header(shard)
        if name not in header:
            raise ValueError(f"{self._folder!r}: the index puts {name!r} in {shard}, whose header lacks it.")
        self._check_entry(name, shard, header[name])
        return shard, offset, header[name]

    def _check_entry(self, name, shard, entry):
        """Raises ValueError unless `entry` names a known dtype, a shape, and exactly the shape's bytes
        inside the shard as it is on disk (a truncated download fails here, from the headers)."""
        where = f"{self._folder!r}: tensor {name!r} of {shard}"
        if not isinstance(entry, dict) or entry.get("dtype") not in _ITEM_BYTES:
            raise ValueError(f"{where} has no dtype of {sorted(_ITEM_BYTES)}.")
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not (isinstance(shape, list) and all(isinstance(size, int) and size >= 0 for size in shape)):
            raise ValueError(f"{where} has no shape (a list of sizes).")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(v, int) for v in offsets)):
            raise ValueError(f"{where} has no data_offsets [begin, end].")
        begin, end = offsets
        size = math.prod(shape) * _ITEM_BYTES[entry["dtype"]]
        if not 0 <= begin <= end or end - begin != size:
            raise ValueError(
                f"{where}: its data_offsets [{begin}, {end}] do not hold its {entry['dtype']} {shape} ({size} bytes)."
            )
        data_offset, _, file_size = self._headers[shard]
        if data_offset + end > file_size:
            raise ValueError(
                f"{where} ends at byte {data_offset + end}, past the end of the file ({file_size} bytes): "
                "the shard is truncated (an interrupted download?)."
            )

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

    def _mapped(self, shard):
        """A read-only memory map of `shard` when it is a local file, else None (e.g. `gs://`).

        Mapping reads a tensor from the page cache without copying it into fresh memory, which
        costs more than the read itself (bench/RESULTS.md, start-up).
        """
        if shard not in self._maps:
            with self._open(shard) as f:
                try:
                    descriptor = f.fileno()
                except (AttributeError, OSError, io.UnsupportedOperation):
                    self._maps[shard] = None
                else:
                    self._maps[shard] = mmap.mmap(descriptor, 0, access=mmap.ACCESS_READ)
        return self._maps[shard]

    def _raw(self, shard, start, size):
        """`size` bytes of `shard` from byte `start`: a read-only view where the shard is mapped."""
        mapped = self._mapped(shard)
        if mapped is not None:
            if start + size > len(mapped):  # the file shrank after its header was checked
                raise ValueError(f"{self._folder!r}: {shard} ends before byte {start + size}; it is truncated.")
            return memoryview(mapped)[start : start + size]
        with self._open(shard) as f:
            f.seek(start)
            return f.read(size)

    def read(self, name):
        """Tensor `name` as a NumPy array of its shape: a read-only view of a mapped local shard
        for F32 and the other native dtypes (copy it to keep it past this object), a new float32
        array for BF16."""
        shard, offset, entry = self._entry(name)
        begin, end = entry["data_offsets"]
        raw = self._raw(shard, offset + begin, end - begin)
        if entry["dtype"] == "BF16":
            widened = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array = widened.view(np.float32)
        elif entry["dtype"] in _NUMPY_DTYPES:
            array = np.frombuffer(raw, dtype=np.dtype(_NUMPY_DTYPES[entry["dtype"]]).newbyteorder("<"))
        else:
            raise ValueError(f"Tensor {name!r} has unsupported safetensors dtype {entry['dtype']!r}.")
        return array.reshape(entry["shape"])
