"""Tests for outputs/encode.py: record contents and the non-finite guard."""

import numpy as np
import pytest

from gemma4_audio_embed.audio.clips import ClipInfo
from gemma4_audio_embed.inference.handler import ClipEmbedding
from gemma4_audio_embed.outputs.encode import EncodeRecord
from gemma4_audio_embed.outputs.schema import decoded_example

INFO = ClipInfo(
    key="a.wav@2", input_key="a.wav", source="a.wav", segment_index=2, start_seconds=60.0, num_samples=24000
)


def _encode(embedding, output_dtype="float32"):
    dofn = EncodeRecord(output_dtype)
    dofn.setup()
    dofn.start_bundle()
    return list(dofn.process((INFO, ClipEmbedding(embedding, "abc", {"count": 1, "kind": "cpu"}))))


def test_record_carries_clip_info_and_embedding():
    embedding = np.arange(12, dtype=np.float32).reshape(3, 4)
    ((row, record_bytes),) = _encode(embedding)
    record = decoded_example(record_bytes)
    assert (row["key"], row["num_tokens"], row["embedding_dim"], row["model_fingerprint"]) == ("a.wav@2", 3, 4, "abc")
    assert (record.key, record.source, record.segment_index) == ("a.wav@2", "a.wav", 2)
    assert (record.start_seconds, record.duration_seconds) == (60.0, 1.5)  # 24000 / 16000
    assert (record.num_tokens, record.embedding_dim, record.model_fingerprint) == (3, 4, "abc")
    np.testing.assert_array_equal(record.embedding, embedding)


def test_float16_overflow_raises_instead_of_writing_infinity():
    with pytest.raises(ValueError, match="not finite"):
        _encode(np.full((1, 2), 7e4, np.float32), "float16")


def test_unknown_output_dtype_is_rejected():
    with pytest.raises(ValueError, match="output_dtype"):
        EncodeRecord("int8")
