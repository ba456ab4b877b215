"""From the job's records to Gemma 4 training batches, exactly as Gemma 4 computes from the raw audio (docs/training.md).

Importing this package loads none of Beam, TensorFlow, Keras, JAX or PyTorch. The framework
pieces load their framework when first named: `transformers_lm_inputs`, `torch_batch`,
`torch_data_loader`, `TorchBatchStream` and `torch_stream_loader` (torch), `StoredAudioRows`,
`stored_audio_backbone`, `keras_hub_lm_inputs` and `keras_hub_training_batch` (Keras),
`grain_dataset` (Grain) and `tf_dataset` (TensorFlow, when called).
"""

import importlib

from gemma4_audio_embed.training.batches import TokenBatch
from gemma4_audio_embed.training.batches import padded_batch
from gemma4_audio_embed.training.buckets import LengthBuckets
from gemma4_audio_embed.training.examples import IGNORED_LABEL
from gemma4_audio_embed.training.examples import TrainingExample
from gemma4_audio_embed.training.placeholders import audio_token_count
from gemma4_audio_embed.training.placeholders import checked_runs
from gemma4_audio_embed.training.placeholders import placeholder_runs
from gemma4_audio_embed.training.prompts import PromptTemplate
from gemma4_audio_embed.training.source import TrainingSource
from gemma4_audio_embed.training.text_tokenizer import SpecialTokenIds
from gemma4_audio_embed.training.text_tokenizer import TextTokenizer

_LAZY = {
    "transformers_lm_inputs": "transformers_lm",
    "torch_batch": "torch_loader",
    "torch_data_loader": "torch_loader",
    "TorchBatchStream": "torch_batch_stream",
    "torch_stream_loader": "torch_batch_stream",
    "StoredAudioRows": "keras_hub_lm",
    "stored_audio_backbone": "keras_hub_lm",
    "keras_hub_lm_inputs": "keras_hub_lm",
    "keras_hub_training_batch": "keras_hub_lm",
    "grain_dataset": "grain_loader",
    "tf_dataset": "tf_data",
}

__all__ = [
    "IGNORED_LABEL",
    "LengthBuckets",
    "PromptTemplate",
    "SpecialTokenIds",
    "TextTokenizer",
    "TokenBatch",
    "TrainingExample",
    "TrainingSource",
    "audio_token_count",
    "checked_runs",
    "padded_batch",
    "placeholder_runs",
    *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
