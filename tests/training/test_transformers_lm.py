"""The job's records in a transformers Gemma 4 give the logits of its raw-audio path (`transformers_lm_inputs`).

Oracle: `Gemma4ForConditionalGeneration(input_ids, input_features, input_features_mask)` on the
windows' samples through transformers' `Gemma4AudioFeatureExtractor`, one audio per window, in
the order of the placeholder runs (tests/training/conftest.py has the corpus and the model).
The records come from our Keras encoder (JAX), so they match within float32 round-off (errors as
in parity.py: the norm and text-position errors are bounded, the max-norm error at the audio
positions, where this random model is most sensitive to its rows, is printed; docs/training.md
has the values); rows from the model's own `get_audio_features` call give identical logits.
"""

import copy

import numpy as np
import pytest
import torch
from parity import AUDIO
from parity import INPUTS
from parity import TOLERANCE
from parity import HandBatch
from parity import check_errors
from parity import errors_per_input
from parity import hf_features
from parity import relative_error
from parity import transformers_raw_logits
from tiny_gemma4 import transformers_tokenizer
from transformers.modeling_outputs import BaseModelOutputWithPooling

from gemma4_audio_embed.training import LengthBuckets
from gemma4_audio_embed.training import PromptTemplate
from gemma4_audio_embed.training import TrainingSource
from gemma4_audio_embed.training import transformers_lm_inputs
from gemma4_audio_embed.training.torch_loader import torch_data_loader


def logits(model, **kwargs) -> np.ndarray:
    with torch.no_grad():
        return model(**kwargs).logits.numpy()


def injected(batch, model, embeddings=None, clip_keys=None) -> dict:
    """`transformers_lm_inputs` of a `HandBatch`, with its records' rows or `embeddings`."""
    rows = batch.embeddings if embeddings is None else embeddings
    return transformers_lm_inputs(model, batch.input_ids, batch.attention_mask, rows, clip_keys)


@pytest.fixture(scope="module")
def hand(embedded_corpus):
    batch = HandBatch(embedded_corpus)
    batch.reference = transformers_raw_logits(
        embedded_corpus.model, batch.input_ids, batch.attention_mask, batch.waveforms
    )
    return batch


def test_the_job_records_give_the_raw_audio_logits(embedded_corpus, hand):
    ours = logits(embedded_corpus.model, **injected(hand, embedded_corpus.model))
    found = errors_per_input(ours, hand.reference, hand.valid, hand.is_audio)
    check_errors("transformers, job records vs raw audio", found, INPUTS)


def test_rows_from_the_same_encoder_call_give_identical_logits(embedded_corpus, hand):
    model = embedded_corpus.model
    features, mask = hf_features(hand.waveforms)
    with torch.no_grad():
        audio = model.model.get_audio_features(torch.from_numpy(features), torch.from_numpy(mask))
    rows = [pooled[valid] for pooled, valid in zip(audio.pooler_output, audio.attention_mask)]
    ours = logits(model, **injected(hand, model, rows))
    np.testing.assert_array_equal(ours[hand.valid], hand.reference[hand.valid])


def test_the_logits_at_audio_positions_feel_round_off_in_the_rows(embedded_corpus, hand):
    """Why the max-norm error at audio positions is printed, not bounded: rows moved by 1e-7 of their
    scale (float32's own step) move this model's logits there by several 1e-6 of the largest."""
    model, generator = embedded_corpus.model, torch.Generator().manual_seed(0)
    rows = [torch.from_numpy(rows) for rows in hand.embeddings]
    nudged = [rows + 1e-7 * rows.abs().max() * torch.randn(rows.shape, generator=generator) for rows in rows]
    shift = relative_error(
        logits(model, **injected(hand, model, nudged)), logits(model, **injected(hand, model, rows)), hand.valid
    )
    print(f"\nrows nudged by 1e-7 of their scale: logits move by max |diff| / max |ref| = {shift:.2e}")
    assert shift > 1e-6


def test_the_raw_audio_path_batched_otherwise_differs_by_round_off(embedded_corpus, hand):
    """The oracle's own float32 floor: transformers' encoder on one window per call instead of all
    windows in one padded call. Its rows move by a few 1e-7 of their scale and the logits by a few
    1e-6 of the largest (printed); the job's rows, from another encoder implementation, sit about
    2.5 times further from the batched ones (docs/training.md, "Parity")."""
    model = embedded_corpus.model
    rows = []
    for waveform in hand.waveforms:
        features, mask = hf_features([waveform])
        with torch.no_grad():
            audio = model.model.get_audio_features(torch.from_numpy(features), torch.from_numpy(mask))
        rows.append(audio.pooler_output[0][audio.attention_mask[0]])
    found = errors_per_input(logits(model, **injected(hand, model, rows)), hand.reference, hand.valid, hand.is_audio)
    check_errors("transformers, its own encoder one window per call vs its batched raw audio", found, INPUTS)
    assert max(e["max"] for e in found) <= TOLERANCE


def _float64_rows(model, waveform, monkeypatch) -> np.ndarray:
    """transformers' encoder on one window in float64: `[T, O]` rows, the reference both float32
    encoders are measured against. Its audio attention casts to float32 with `.float()`, which is
    made to keep float64 tensors float64 here, so the whole tower computes in float64."""
    model64 = copy.deepcopy(model).double()
    to_float32 = torch.Tensor.float
    with monkeypatch.context() as patch:
        patch.setattr(
            torch.Tensor, "float", lambda x, *a, **k: x if x.dtype == torch.float64 else to_float32(x, *a, **k)
        )
        features, mask = hf_features([waveform])
        with torch.no_grad():
            audio = model64.model.get_audio_features(torch.from_numpy(features).double(), torch.from_numpy(mask))
    return audio.pooler_output[0][audio.attention_mask[0]].numpy()


def test_the_job_rows_are_as_close_to_a_float64_encoder_as_transformers_own_float32_rows(
    embedded_corpus, hand, monkeypatch
):
    """What "within float32 round-off" means for the rows: the job's (Keras) and transformers' own
    float32 rows each sit a few 1e-7 of their scale from the float64 computation, and the job's no
    further than transformers'. Their mutual distance (about 9e-7) is two independent round-offs,
    which the random model amplifies at the audio positions (docs/training.md, "Parity")."""
    model = embedded_corpus.model
    for key, waveform, ours in zip(hand.clip_keys, hand.waveforms, hand.embeddings):
        exact = _float64_rows(model, waveform, monkeypatch)
        features, mask = hf_features([waveform])
        with torch.no_grad():
            audio = model.model.get_audio_features(torch.from_numpy(features), torch.from_numpy(mask))
        theirs = audio.pooler_output[0][audio.attention_mask[0]].numpy()
        scale = np.abs(exact).max()
        rms = {
            name: np.sqrt(np.mean((rows - exact) ** 2)) / scale for name, rows in (("ours", ours), ("theirs", theirs))
        }
        most = {name: np.abs(rows - exact).max() / scale for name, rows in (("ours", ours), ("theirs", theirs))}
        print(
            f"\n{key}: rows vs float64, rms / max of scale: ours {rms['ours']:.2e} / {most['ours']:.2e}, "
            f"transformers float32 {rms['theirs']:.2e} / {most['theirs']:.2e}"
        )
        assert most["theirs"] < 2e-6  # the reference is float64 indeed: float32 round-off, no more
        assert rms["ours"] <= 1.25 * rms["theirs"]
        assert most["ours"] <= 2 * most["theirs"]


def test_bfloat16_rows_give_the_logits_of_their_float32_widening(embedded_corpus, hand):
    model = embedded_corpus.model
    narrow = [torch.from_numpy(rows).to(torch.bfloat16) for rows in hand.embeddings]
    widened = [rows.float().numpy() for rows in narrow]
    np.testing.assert_array_equal(
        logits(model, **injected(hand, model, narrow)), logits(model, **injected(hand, model, widened))
    )


def test_per_layer_inputs_from_the_raw_ids_change_the_logits(embedded_corpus, hand):
    model = embedded_corpus.model
    kwargs = injected(hand, model)
    kwargs["per_layer_inputs"] = model.get_decoder().get_per_layer_inputs(torch.as_tensor(hand.input_ids), None)
    error = relative_error(logits(model, **kwargs), hand.reference, hand.valid)
    print(f"per-layer inputs from the raw ids: max |diff| / max |ref| = {error:.3g}")
    assert error > 1e-2


def test_a_run_one_token_short_names_the_clip(embedded_corpus, hand):
    short_key = hand.clip_keys[0]
    ids = hand.input_ids.copy()
    ids[0, np.flatnonzero(ids[0] == AUDIO)[-1]] = 30  # the short clip's run loses its last placeholder
    with pytest.raises(ValueError, match=f"{short_key}: its run .* holds 24 tokens, but the clip has 25 rows"):
        transformers_lm_inputs(embedded_corpus.model, ids, hand.attention_mask, hand.embeddings, hand.clip_keys)


def test_rows_of_the_wrong_width_name_the_clip(embedded_corpus, hand):
    wide = list(hand.embeddings)
    wide[1] = np.zeros((wide[1].shape[0], 48), np.float32)  # the audio tower's width, not the LM's
    with pytest.raises(ValueError, match=rf"{hand.clip_keys[1]}: its rows must have shape \[T, 64\]"):
        injected(hand, embedded_corpus.model, wide, hand.clip_keys)


def test_a_model_without_an_audio_token_id_is_refused(embedded_corpus, hand):
    model = embedded_corpus.model
    saved, model.config.audio_token_id = model.config.audio_token_id, None
    try:
        with pytest.raises(ValueError, match="no audio token id"):
            injected(hand, model)
    finally:
        model.config.audio_token_id = saved


def test_the_library_traps_the_helper_avoids(embedded_corpus, hand):
    """What docs/training.md warns of, as transformers 5.25 does it: each fails silently or loudly."""
    model = embedded_corpus.model
    kwargs = injected(hand, model)
    with pytest.raises(RuntimeError, match="inputs_embeds"):  # inputs_embeds without per_layer_inputs
        model(inputs_embeds=kwargs["inputs_embeds"], attention_mask=kwargs["attention_mask"])
    rows = torch.from_numpy(np.concatenate(hand.embeddings))
    ignored = logits(
        model,
        input_ids=torch.as_tensor(hand.input_ids),
        attention_mask=torch.as_tensor(hand.attention_mask),
        mm_encoder_outputs={"audio": BaseModelOutputWithPooling(pooler_output=rows)},
    )  # no error, and the rows never reach the model: the pad embedding stands in for the audio
    error = relative_error(ignored, hand.reference, hand.valid)
    print(f"mm_encoder_outputs ignored: max |diff| / max |ref| = {error:.3g}")
    assert error > 1e-2


def test_the_reader_batches_give_the_raw_audio_logits(embedded_corpus, vocabulary_texts):
    model = embedded_corpus.model
    tokenizer = transformers_tokenizer(vocabulary_texts)
    source = TrainingSource(
        embedded_corpus.output, tokenizer, PromptTemplate(prompt="<audio>\nTranscribe this:", answer=" {text}")
    )
    assert source.skipped == {} and len(source) == 3
    buckets = LengthBuckets(source.lengths, max_tokens=4 * 1600, pad_to_multiple_of=8, seed=1)
    (batch,) = list(torch_data_loader(source, buckets))  # one batch: 3 examples of at most 1600 tokens
    clip_keys = batch["clip_keys"]
    assert clip_keys == [
        key for input_key in batch["keys"] for key in sorted(embedded_corpus.records) if key.startswith(input_key + "@")
    ]
    for row, input_key in enumerate(batch["keys"]):  # the labels are the transcript and <eos>, nothing else
        (name,) = [name for name, key in embedded_corpus.input_keys.items() if key == input_key]
        labels = batch["labels"][row][batch["labels"][row] != -100]
        assert tokenizer.decode(labels[:-1]).strip() == vocabulary_texts[list(embedded_corpus.input_keys).index(name)]
        assert labels[-1] == tokenizer.eos_token_id
    ours = logits(
        model,
        **transformers_lm_inputs(model, batch["input_ids"], batch["attention_mask"], batch["embeddings"], clip_keys),
    )
    reference = transformers_raw_logits(
        model, batch["input_ids"], batch["attention_mask"], [embedded_corpus.windows[key] for key in clip_keys]
    )
    valid = batch["attention_mask"].numpy().astype(bool)
    found = errors_per_input(
        ours, reference, valid, batch["input_ids"].numpy() == tokenizer.convert_tokens_to_ids("<|audio|>")
    )
    check_errors("transformers, reader batch vs raw audio", found, batch["keys"])
    with torch.no_grad():
        loss = model(
            **transformers_lm_inputs(model, batch["input_ids"], batch["attention_mask"], batch["embeddings"]),
            labels=batch["labels"],
        ).loss
    assert torch.isfinite(loss)
