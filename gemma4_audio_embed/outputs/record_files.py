"""Record files: TFRecord (optionally gzipped) or ArrayRecord, each written whole or not at all.

Both formats hold the same serialized `tf.train.Example`s (`outputs.schema`); files go through
`outputs.atomic.atomic_file`, so a reader never sees half a file. ArrayRecord's writer only
writes local paths (Google's ArrayRecord Beam sink cannot write `gs://`), so an ArrayRecord
file is written to a local temporary file first and then copied through Beam's FileSystems.
Reading them back is `gemma4_audio_embed.records`.
"""

import os
import shutil
import tempfile
from collections.abc import Iterable

from apache_beam.io.filesystem import CompressionTypes

from gemma4_audio_embed.outputs.atomic import atomic_file
from gemma4_audio_embed.outputs.layout import ARRAY_RECORD_SUFFIX
from gemma4_audio_embed.tfrecord import tfrecord_frame

# One record per chunk: every record is read without decoding its neighbours, as random access
# (Grain's global shuffle) wants; the embeddings barely compress, so no compression either.
ARRAY_RECORD_OPTIONS = "group_size:1,uncompressed"
_COPY_BYTES = 1 << 24  # 16 MiB per read when copying a local file to its destination


def write_record_file(path: str, payloads: Iterable[bytes]) -> int:
    """Writes `payloads` to the record file `path` in the format its suffix names, atomically.

    Args:
        path: str. Local path or URI ending in `.tfrecord`, `.tfrecord.gz` or `.array_record`.
        payloads: iterable of serialized records, written in order.

    Returns:
        The number of records written.
    """
    count = 0
    if path.endswith(ARRAY_RECORD_SUFFIX):
        from array_record.python.array_record_module import ArrayRecordWriter

        folder = tempfile.mkdtemp(prefix="gemma4_embed_records_")
        try:
            local = os.path.join(folder, "records" + ARRAY_RECORD_SUFFIX)
            writer = ArrayRecordWriter(local, ARRAY_RECORD_OPTIONS)
            for payload in payloads:
                writer.write(payload)
                count += 1
            writer.close()
            with open(local, "rb") as source, atomic_file(path) as target:
                shutil.copyfileobj(source, target, _COPY_BYTES)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return count
    compression = CompressionTypes.GZIP if path.endswith(".gz") else CompressionTypes.UNCOMPRESSED
    with atomic_file(path, compression) as f:
        for payload in payloads:
            f.write(tfrecord_frame(payload))
            count += 1
    return count
