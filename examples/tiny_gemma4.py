"""A tiny random Gemma 4 with an audio tower, and tokenizers that know its special tokens: no download, seconds to build.

The fine-tuning examples train it by default, and the tests use it as the oracle of what Gemma 4
computes. Its text model keeps every feature the stored-audio path must get right: per-layer
inputs (E2B/E4B), KV sharing, sliding and full attention layers, a final logit soft cap, and pad
rows of both embedding tables set to random values (a fresh model has them zero, which would
hide the pad-id rule of the per-layer inputs).

Token ids: 0 `<pad>`, 1 `<eos>`, 2 `<bos>`, 3 `<unk>`, 4 `<|audio>`, 5 `<|audio|>`, 6 `<audio|>`
(Gemma's pad, eos and bos ids), then the pieces learned from the given texts.
"""

import io
import json
import os
import pathlib

SPECIAL_TOKENS = ("<pad>", "<eos>", "<bos>", "<unk>", "<|audio>", "<|audio|>", "<audio|>")
VOCAB_SIZE = 256  # the language model's; the tokenizers learn fewer pieces
TEXT_HIDDEN = 64
# Audio tower: 32 wide, 2 blocks of 2 heads, output_proj 48. transformers sizes the subsampling
# projection from the first channel count as if it were the 128 mel bins, so that count stays 128.
TINY_AUDIO = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "output_proj_dims": 48,
    "subsampling_conv_channels": [128, 8],
}


def tiny_gemma4_config():
    """A `Gemma4Config`: text width 64, 4 layers (sliding, full, sliding, full; the last two share
    the first two's keys and values), per-layer inputs of 8, vocabulary 256; `TINY_AUDIO`."""
    import transformers
    from transformers.models.gemma4 import configuration_gemma4

    text = configuration_gemma4.Gemma4TextConfig(
        hidden_size=TEXT_HIDDEN,
        intermediate_size=96,
        num_hidden_layers=4,
        layer_types=["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
        sliding_window=16,
        num_kv_shared_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        global_head_dim=16,
        vocab_size=VOCAB_SIZE,
        vocab_size_per_layer_input=VOCAB_SIZE,
        hidden_size_per_layer_input=8,
        final_logit_softcapping=30.0,
    )
    audio = configuration_gemma4.Gemma4AudioConfig(**TINY_AUDIO)
    ids = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    return transformers.Gemma4Config(
        text_config=text,
        audio_config=audio,
        vision_config=None,
        boa_token_id=ids["<|audio>"],
        audio_token_id=ids["<|audio|>"],
        eoa_token_index=ids["<audio|>"],
        # Image and video ids inside the vocabulary that no tokenizer here produces.
        boi_token_id=VOCAB_SIZE - 4,
        eoi_token_id=VOCAB_SIZE - 3,
        image_token_id=VOCAB_SIZE - 2,
        video_token_id=VOCAB_SIZE - 1,
    )


def tiny_gemma4(seed: int = 0):
    """A random float32 `Gemma4ForConditionalGeneration` of `tiny_gemma4_config()`, in eval mode."""
    import torch
    import transformers

    torch.manual_seed(seed)
    model = transformers.Gemma4ForConditionalGeneration(tiny_gemma4_config()).eval()
    language_model = model.model.language_model
    with torch.no_grad():  # the pad rows, zero after init, made as random as the others
        for table in (language_model.embed_tokens, language_model.embed_tokens_per_layer):
            table.weight[language_model.config.pad_token_id].normal_(std=float(table.weight[1:].std()))
    return model


def keras_hub_folder(hf_folder, folder) -> str:
    """A copy of a transformers checkpoint folder that keras-hub's converter reads (`Gemma4Backbone.from_preset`).

    keras-hub 0.32 reads `"vision_config": null` as a vision tower; the copy drops that key.
    The weight files are linked, not copied.
    """
    hf_folder, folder = pathlib.Path(hf_folder), pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = json.loads((hf_folder / "config.json").read_text())
    if config.get("vision_config", 0) is None:
        del config["vision_config"]
    (folder / "config.json").write_text(json.dumps(config))
    for path in hf_folder.iterdir():
        if path.name != "config.json" and not (folder / path.name).exists():
            os.symlink(path.resolve(), folder / path.name)
    return str(folder)


def sentencepiece_proto(texts, vocab_size: int = 120) -> bytes:
    """A SentencePiece unigram model learned from `texts`, `SPECIAL_TOKENS` first."""
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(list(texts) * 4),
        model_writer=model,
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        pad_piece="<pad>",
        eos_piece="<eos>",
        bos_piece="<bos>",
        unk_piece="<unk>",
        user_defined_symbols=list(SPECIAL_TOKENS[4:]),
        minloglevel=2,
    )
    return model.getvalue()


def keras_hub_tokenizer(texts):
    """A keras-hub `Gemma4Tokenizer` (audio tokens on) over `sentencepiece_proto(texts)`."""
    import keras_hub

    return keras_hub.models.Gemma4Tokenizer(
        proto=sentencepiece_proto(texts), has_vision_tokens=False, has_audio_tokens=True, has_video_tokens=False
    )


def transformers_tokenizer(texts, vocab_size: int = 160):
    """A transformers fast tokenizer (byte-pair, learned from `texts` by `tokenizers`), `SPECIAL_TOKENS` first."""
    import tokenizers
    import transformers

    tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Metaspace()
    tokenizer.decoder = tokenizers.decoders.Metaspace()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS))
    tokenizer.train_from_iterator(list(texts), trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )
