"""The job's records in keras-hub's Gemma 4 give the logits of its raw-audio path (`stored_audio_backbone`, `keras_hub_lm_inputs`).

Oracles: keras-hub's own `Gemma4CausalLM` over the backbone that keras-hub's converter builds from
the shared transformers checkpoint (tests/training/conftest.py), its audio encoder fed the
windows' features from transformers' front end and mask (keras-hub's own preprocessor counts one
more token for the `short` clip: a test here shows it); and, as a cross-check whose text positions
also carry the two language models' own round-off, transformers' raw-audio logits. keras-hub's
interleave needs every clip of a prompt to have one length, which the two 750-token windows of
`long` have. Both keras-hub models run compiled (`predict_on_batch`). Errors as in parity.py.
"""

import functools
import pickle

import grain
import keras_hub
import numpy as np
import pytest
from absl import flags
from parity import AUDIO
from parity import INPUTS
from parity import HandBatch
from parity import check_errors
from parity import errors_per_input
from parity import hf_features
from parity import relative_error
from parity import transformers_raw_logits
from tiny_gemma4 import keras_hub_folder
from tiny_gemma4 import keras_hub_tokenizer

from gemma4_audio_embed.training import LengthBuckets
from gemma4_audio_embed.training import PromptTemplate
from gemma4_audio_embed.training import TrainingSource
from gemma4_audio_embed.training import audio_token_count
from gemma4_audio_embed.training.grain_loader import grain_dataset
from gemma4_audio_embed.training.keras_hub_lm import StoredAudioRows
from gemma4_audio_embed.training.keras_hub_lm import keras_hub_lm_inputs
from gemma4_audio_embed.training.keras_hub_lm import keras_hub_training_batch
from gemma4_audio_embed.training.keras_hub_lm import stored_audio_backbone
from gemma4_audio_embed.training.tf_data import tf_dataset


class KerasHubModels:
    """keras-hub's backbone from the checkpoint (`raw`, with its audio encoder) and the stored-audio one (`stored`)."""

    def __init__(self, checkpoint, folder):
        self.raw_backbone = keras_hub.models.Gemma4Backbone.from_preset(keras_hub_folder(checkpoint, folder))
        self.raw = keras_hub.models.Gemma4CausalLM(backbone=self.raw_backbone, preprocessor=None)
        self.backbone = stored_audio_backbone(self.raw_backbone)
        self.stored = keras_hub.models.Gemma4CausalLM(backbone=self.backbone, preprocessor=None)

    def raw_logits(self, token_ids, padding_mask, row_clip_keys, windows) -> np.ndarray:
        """keras-hub's raw-audio path: row b's windows `row_clip_keys[b]` as its clips (`[B, C, M, 128]`)."""
        token_ids = np.asarray(token_ids, np.int32)
        features, mask = hf_features([windows[key] for keys in row_clip_keys for key in keys])
        clips_per_row = [len(keys) for keys in row_clip_keys]
        batch, clips = len(token_ids), max(clips_per_row)
        mel = np.zeros((batch, clips, *features.shape[1:]), np.float32)
        mel_mask = np.zeros((batch, clips, features.shape[1]), np.int32)
        audio_indices = np.zeros((batch, max(np.sum(token_ids == AUDIO, axis=1))), np.int32)
        clip = 0
        for row, count in enumerate(clips_per_row):
            mel[row, :count], mel_mask[row, :count] = features[clip : clip + count], mask[clip : clip + count]
            positions = np.flatnonzero(token_ids[row] == AUDIO)
            audio_indices[row, : len(positions)] = positions
            clip += count
        x = {
            "token_ids": token_ids,
            "padding_mask": np.asarray(padding_mask, np.int32),
            "position_ids": np.broadcast_to(np.arange(token_ids.shape[1], dtype=np.int32), token_ids.shape).copy(),
            "audio_mel": mel,
            "audio_mel_mask": mel_mask,
            "audio_indices": audio_indices,
            "audio_mask": (token_ids == AUDIO).astype(np.int32),
        }
        return np.asarray(self.raw.predict_on_batch(x))


@pytest.fixture(scope="module")
def models(embedded_corpus, tmp_path_factory):
    return KerasHubModels(embedded_corpus.checkpoint, tmp_path_factory.mktemp("keras_hub"))


@pytest.fixture(scope="module")
def hand(embedded_corpus, models):
    batch = HandBatch(embedded_corpus)
    batch.reference = models.raw_logits(
        batch.input_ids, batch.attention_mask, batch.row_clip_keys, embedded_corpus.windows
    )
    batch.transformers_reference = transformers_raw_logits(
        embedded_corpus.model, batch.input_ids, batch.attention_mask, batch.waveforms
    )
    return batch


def stored_logits(models, batch, embeddings=None, **overrides) -> np.ndarray:
    x = keras_hub_lm_inputs(
        models.backbone.hidden_dim,
        batch.input_ids,
        batch.attention_mask,
        batch.embeddings if embeddings is None else embeddings,
        audio_token_id=AUDIO,
        clip_keys=batch.clip_keys,
    )
    return np.asarray(models.stored.predict_on_batch({**x, **overrides}))


def test_the_job_records_give_keras_hubs_raw_audio_logits(models, hand):
    ours = stored_logits(models, hand)
    check_errors(
        "keras-hub, job records vs its raw audio",
        errors_per_input(ours, hand.reference, hand.valid, hand.is_audio),
        INPUTS,
    )
    found = errors_per_input(ours, hand.transformers_reference, hand.valid, hand.is_audio)
    check_errors("keras-hub, job records vs transformers' raw audio", found, INPUTS, bound_text=False)


def test_per_layer_inputs_from_the_raw_ids_change_the_logits(models, hand):
    no_audio_mask = np.zeros_like(hand.input_ids, dtype=np.int32)  # the backbone then looks up the placeholder id
    error = relative_error(stored_logits(models, hand, audio_mask=no_audio_mask), hand.reference, hand.valid)
    print(f"\nkeras-hub, per-layer inputs from the raw ids: max |diff| / max |ref| = {error:.3g}")
    assert error > 1e-2


def test_keras_hubs_preprocessor_counts_one_more_when_n_mod_640_is_160():
    """The trap docs/training.md describes, as keras-hub 0.32 does it (the count `audio_token_count` avoids)."""
    tokenizer = keras_hub_tokenizer(["a few words to learn from", "and a few more"])
    preprocessor = keras_hub.models.Gemma4CausalLMPreprocessor(
        tokenizer=tokenizer, audio_converter=keras_hub.layers.Gemma4AudioConverter(), sequence_length=64
    )
    counts = {}
    for num_samples in (16000, 16160, 16161):
        out = preprocessor.generate_preprocess({"prompts": ["<|audio|>"], "audio": [np.zeros(num_samples, np.float32)]})
        counts[num_samples] = int((np.asarray(out["token_ids"]) == tokenizer.audio_placeholder_id).sum())
    assert counts == {16000: 25, 16160: 26, 16161: 26}
    assert [audio_token_count(n) for n in counts] == [25, 25, 26]


def test_keras_hubs_placeholder_count_names_the_clip(models, hand):
    """keras-hub's preprocessor gives the 16160-sample clip 26 placeholders; the record holds 25 rows."""
    ids = np.insert(hand.input_ids, np.flatnonzero(hand.input_ids[0] == AUDIO)[-1], AUDIO, axis=1)[:, :-1]
    with pytest.raises(ValueError, match=f"{hand.clip_keys[0]}: its run .* holds 26 tokens, but the clip has 25 rows"):
        keras_hub_lm_inputs(
            models.backbone.hidden_dim,
            ids,
            hand.attention_mask,
            hand.embeddings,
            audio_token_id=AUDIO,
            clip_keys=hand.clip_keys,
        )


def test_rows_of_the_wrong_width_name_the_clip(models, hand):
    wide = [
        np.zeros((rows.shape[0], 48), np.float32) if index == 2 else rows for index, rows in enumerate(hand.embeddings)
    ]
    with pytest.raises(ValueError, match=rf"{hand.clip_keys[2]}: its rows must have shape \[T, 64\]"):
        keras_hub_lm_inputs(
            models.backbone.hidden_dim,
            hand.input_ids,
            hand.attention_mask,
            wide,
            audio_token_id=AUDIO,
            clip_keys=hand.clip_keys,
        )


def test_a_run_at_position_0_is_refused(models, hand):
    ids = hand.input_ids[:1, 4:]  # the short clip's prompt from its first <|audio|> on
    with pytest.raises(ValueError, match="position 0"):
        keras_hub_lm_inputs(
            models.backbone.hidden_dim, ids, np.ones_like(ids), hand.embeddings[:1], audio_token_id=AUDIO
        )


def test_the_stored_audio_stage_round_trips_its_config(models):
    stage = models.backbone.audio_encoder
    assert isinstance(stage, StoredAudioRows) and stage.input_feat_size == 64
    assert StoredAudioRows.from_config(stage.get_config()).get_config() == stage.get_config()
    assert models.backbone.vision_encoder is None


def test_the_reader_batches_give_the_raw_audio_logits_in_keras_hub(embedded_corpus, models, vocabulary_texts):
    tokenizer = keras_hub_tokenizer(vocabulary_texts)
    source = TrainingSource(
        embedded_corpus.output, tokenizer, PromptTemplate(prompt="<audio>\nTranscribe:", answer=" {text}")
    )
    buckets = LengthBuckets(source.lengths, max_tokens=4 * 1600, pad_to_multiple_of=8, seed=2)
    collate = functools.partial(
        keras_hub_training_batch,
        hidden_dim=models.backbone.hidden_dim,
        pad_id=tokenizer.pad_token_id,
        audio_token_id=tokenizer.audio_placeholder_id,
    )
    (batch,) = list(grain_dataset(source, buckets, collate))
    x, y, sample_weight = batch
    (from_tf,) = list(tf_dataset(source, buckets, collate).as_numpy_iterator())  # the same plan, through tf.data
    for name in x:
        np.testing.assert_array_equal(from_tf[0][name], x[name])
    np.testing.assert_array_equal(from_tf[1], y)
    np.testing.assert_array_equal(from_tf[2], sample_weight)
    examples = [source[index] for index in buckets.batches(0)[0]]
    ours = np.asarray(models.stored.predict_on_batch(x))
    row_clip_keys = [example.clip_keys for example in examples]
    reference = models.raw_logits(x["token_ids"], x["padding_mask"], row_clip_keys, embedded_corpus.windows)
    valid = x["padding_mask"].astype(bool)
    found = errors_per_input(ours, reference, valid, x["audio_mask"].astype(bool))
    check_errors("keras-hub, reader batch vs its raw audio", found, [example.key for example in examples])
    for row, example in enumerate(examples):  # what the loss learns: the transcript and <eos>, one step ahead
        learned = y[row][sample_weight[row] == 1]
        np.testing.assert_array_equal(learned, example.labels[example.labels != -100])


def test_the_keras_hub_collate_holds_no_model_and_runs_in_grain_worker_processes(
    embedded_corpus, models, vocabulary_texts
):
    tokenizer = keras_hub_tokenizer(vocabulary_texts)
    source = TrainingSource(
        embedded_corpus.output, tokenizer, PromptTemplate(prompt="<audio>\nTranscribe:", answer=" {text}")
    )
    buckets = LengthBuckets(source.lengths, max_tokens=1600, pad_to_multiple_of=8, seed=2)
    collate = functools.partial(
        keras_hub_training_batch,
        hidden_dim=models.backbone.hidden_dim,
        pad_id=tokenizer.pad_token_id,
        audio_token_id=tokenizer.audio_placeholder_id,
    )
    assert len(pickle.dumps(collate)) < 1024  # what every worker unpickles: no weights
    dataset = grain_dataset(source, buckets, collate)
    if not flags.FLAGS.is_parsed():  # Grain's workers read an absl flag (google/grain#1355; grain 0.2.18 has it)
        flags.FLAGS.mark_as_parsed()
    in_workers = list(dataset.to_iter_dataset().mp_prefetch(grain.MultiprocessingOptions(num_workers=2)))
    in_process = [dataset[index] for index in range(len(dataset))]
    assert len(in_workers) == len(in_process) > 1
    for (x, y, weight), (x_ref, y_ref, weight_ref) in zip(in_workers, in_process):
        assert sorted(x) == sorted(x_ref)
        for name in x:
            np.testing.assert_array_equal(x[name], x_ref[name])
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(weight, weight_ref)
