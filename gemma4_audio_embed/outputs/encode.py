"""The step that turns each clip's embedding into its serialized `tf.train.Example` record and index row."""

from gemma4_audio_embed.audio.clips import ClipInfo
from gemma4_audio_embed.inference.handler import ClipEmbedding
from gemma4_audio_embed.metrics import AUDIO_SAMPLES_EMBEDDED
from gemma4_audio_embed.metrics import CLIPS_EMBEDDED
from gemma4_audio_embed.metrics import DEVICES
from gemma4_audio_embed.metrics import TOKENS_EMBEDDED
from gemma4_audio_embed.metrics import ProgressLog
from gemma4_audio_embed.metrics import TallyingDoFn
from gemma4_audio_embed.outputs.schema import EMBEDDING_DTYPES
from gemma4_audio_embed.outputs.schema import INDEX_FIELDS
from gemma4_audio_embed.outputs.schema import encoded_example
from gemma4_audio_embed.reprs import ConfigRepr

_ROW_FIELDS = tuple(field.name for field in INDEX_FIELDS if field.in_record)  # record_file: the writer's


class EncodeRecord(ConfigRepr, TallyingDoFn):
    """Turns `(ClipInfo, ClipEmbedding)` into `(index row, record bytes)` (schema: `outputs.schema.FIELDS`).

    The index row holds the record's fields but the embedding (`record_file` is filled in by the
    writer; `metadata` is the JSON text).

    Tallies the clips, 16 kHz samples and tokens it encodes and notes the devices they ran on,
    and logs progress. Raises ValueError (a dead letter under `with_exception_handling`) when
    the embedding is not finite in `output_dtype`, e.g. a float16 overflow.

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
        super().setup()
        self._progress = ProgressLog()

    def process(self, element: tuple[ClipInfo, ClipEmbedding]):
        info, result = element
        values = {
            "key": info.key,
            "source": info.source,
            "segment_index": info.segment_index,
            "start_seconds": info.start_seconds,
            "duration_seconds": info.duration_seconds,
            "embedding_dtype": self.output_dtype,
            "audio_sha256": info.audio_sha256,
            "model_fingerprint": result.model_fingerprint,
            "metadata": info.metadata,
        }
        record = encoded_example(embedding=result.embedding, **values)
        num_tokens, embedding_dim = result.embedding.shape
        row = {name: values.get(name) for name in _ROW_FIELDS} | {
            "num_tokens": num_tokens,
            "embedding_dim": embedding_dim,
        }
        self.tally.add(CLIPS_EMBEDDED)
        self.tally.add(AUDIO_SAMPLES_EMBEDDED, info.num_samples)
        self.tally.add(TOKENS_EMBEDDED, num_tokens)
        self.tally.note(DEVICES, result.devices)
        self._progress.add(info.duration_seconds)
        yield row, record
