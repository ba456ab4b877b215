"""`RecordFiles`: any record of an output by its file and position, for random access in training.

A record's position is its place in its file; the index lists a file's records in that order
(`outputs/writer.py` writes both from one sorted list). ArrayRecord files are read by
position; uncompressed TFRecord files by byte offset, after one pass over their length headers.
A gzip-compressed TFRecord cannot be read at random: write the output with
`--output_format array_record` (or uncompressed) to train from it.
"""

from gemma4_audio_embed.outputs.layout import ARRAY_RECORD_SUFFIX
from gemma4_audio_embed.records import is_remote
from gemma4_audio_embed.records import open_file
from gemma4_audio_embed.tfrecord import tfrecord_offsets
from gemma4_audio_embed.tfrecord import tfrecord_payloads


class RecordFiles:
    """Reads single records of record files, opening each file once per process.

    ArrayRecord files must be local paths (ArrayRecord's reader opens no URI; mount a bucket,
    e.g. with gcsfuse); TFRecord files may be any URI Beam's FileSystems opens. Pickling carries
    no open file, so PyTorch and Grain worker processes each open their own.
    """

    def __init__(self):
        self._files = {}  # path -> (ArrayRecordReader, None) or (stream, byte offsets)

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self._files = {}

    def _opened(self, path: str):
        if path not in self._files:
            if path.endswith(ARRAY_RECORD_SUFFIX):
                if is_remote(path):
                    raise ValueError(
                        f"{path}: ArrayRecord files are read at random from local paths only; mount the bucket "
                        "(e.g. gcsfuse) and pass the mounted path."
                    )
                from array_record.python.array_record_module import ArrayRecordReader

                try:
                    self._files[path] = (
                        ArrayRecordReader(path.removeprefix("file://"), "readahead_buffer_size:0"),
                        None,
                    )
                except Exception as e:  # noqa: BLE001 - riegeli raises RuntimeError or ValueError by fault
                    raise ValueError(f"{path}: not a readable ArrayRecord file: {e}") from e
            elif path.endswith(".gz"):
                raise ValueError(
                    f"{path}: a gzip-compressed TFRecord file cannot be read at random; embed with "
                    "--output_format array_record (or without --output_compression) to train from the records."
                )
            else:
                stream = open_file(path)
                self._files[path] = (stream, tfrecord_offsets(stream, path))
        return self._files[path]

    def payload(self, path: str, position: int) -> bytes:
        """The serialized record at `position` (from 0) of the record file `path`.

        Raises:
            ValueError: naming the file, when it has no such position or is damaged there.
        """
        handle, offsets = self._opened(path)
        if offsets is None:
            try:
                return handle.read([position])[0]
            except Exception as e:  # noqa: BLE001 - as above
                raise ValueError(f"{path}: cannot read record {position}: {e}") from e
        if not 0 <= position < len(offsets):
            raise ValueError(f"{path}: has {len(offsets)} records, so no record {position}.")
        handle.seek(offsets[position])
        return next(tfrecord_payloads(handle, f"{path} (from record {position})"))

    def close(self) -> None:
        for handle, _ in self._files.values():
            handle.close()
        self._files = {}
