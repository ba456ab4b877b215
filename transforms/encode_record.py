"""The step that turns each clip's embedding into its serialized `tf.train.Example` record."""

import apache_beam as beam
from apache_beam.ml.inference.base import PredictionResult

from transforms.elements import ClipInfo
from transforms.metrics import AUDIO_SAMPLES_EMBEDDED
from transforms.metrics import CLIPS_EMBEDDED
from transforms.metrics import TOKENS_EMBEDDED
from transforms.metrics import ProgressLog
from transforms.metrics import counter
from transforms.records import EMBEDDING_DTYPES
from transforms.records import encoded_example


class EncodeRecord(beam.DoFn):
    """Turns `(ClipInfo, PredictionResult)` into `(index row, record bytes)` (schema in `transforms.records`).

    The index row holds the record's fields but the embedding, as `record_index.INDEX_FIELDS`
    names them (`record_file` is filled in by the writer; `metadata` is the JSON text).

    Counts the clips, 16 kHz samples and tokens it writes, and logs progress. Raises
    ValueError (a dead letter under `with_exception_handling`) when the embedding is not
    finite in `output_dtype`, e.g. a float16 overflow.

    Args:
        output_dtype: str. Stored dtype, `"float32"`, `"bfloat16"` or `"float16"`.
    """

    def __init__(self, output_dtype: str = "float32"):
        if output_dtype not in EMBEDDING_DTYPES:
            raise ValueError(
                f"`output_dtype` must be one of {EMBEDDING_DTYPES}. Received: output_dtype={output_dtype!r}"
            )
        self.output_dtype = output_dtype

    def setup(self):
        self._clips = counter(CLIPS_EMBEDDED)
        self._samples = counter(AUDIO_SAMPLES_EMBEDDED)
        self._tokens = counter(TOKENS_EMBEDDED)
        self._progress = ProgressLog()

    def process(self, element: tuple[ClipInfo, PredictionResult]):
        info, result = element
        record = encoded_example(
            key=info.key,
            source=info.source,
            segment_index=info.segment_index,
            start_seconds=info.start_seconds,
            duration_seconds=info.duration_seconds,
            embedding=result.inference,
            embedding_dtype=self.output_dtype,
            model_fingerprint=result.model_id,
            audio_sha256=info.audio_sha256,
            metadata=info.metadata,
        )
        row = {
            "key": info.key,
            "source": info.source,
            "segment_index": info.segment_index,
            "start_seconds": info.start_seconds,
            "duration_seconds": info.duration_seconds,
            "num_tokens": result.inference.shape[0],
            "embedding_dim": result.inference.shape[1],
            "embedding_dtype": self.output_dtype,
            "audio_sha256": info.audio_sha256,
            "model_fingerprint": result.model_id,
            "metadata": info.metadata,
        }
        self._clips.inc()
        self._samples.inc(info.num_samples)
        self._tokens.inc(result.inference.shape[0])
        self._progress.add(info.duration_seconds)
        yield row, record
