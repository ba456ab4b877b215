"""`TextTokenizer`: the special ids and text ids of a transformers tokenizer and of a stand-in, and what it refuses."""

import pytest
from fakes import SPECIALS
from fakes import WordTokenizer
from tiny_gemma4 import transformers_tokenizer

from gemma4_audio_embed.training import SpecialTokenIds
from gemma4_audio_embed.training import TextTokenizer


def test_a_transformers_tokenizer_gives_gemmas_special_ids_and_plain_text_ids():
    tokenizer = transformers_tokenizer(["hello world", "the cat sat"])
    wrapped = TextTokenizer(tokenizer)
    assert wrapped.special_ids == SpecialTokenIds(bos=2, eos=1, pad=0, audio_start=4, audio=5, audio_end=6)
    ids = wrapped.encode("hello world")
    assert ids and all(token_id > 6 for token_id in ids) and tokenizer.decode(ids).strip() == "hello world"
    assert wrapped.encode("") == []


def test_a_tokenizer_without_an_audio_token_is_refused():
    without = WordTokenizer(["hello"], specials=[token for token in SPECIALS if token != "<|audio|>"])
    with pytest.raises(ValueError, match=r"no id for \['audio'\]"):
        TextTokenizer(without)


def test_an_object_that_is_no_tokenizer_is_refused():
    with pytest.raises(TypeError, match="transformers tokenizer or a keras-hub tokenizer. Received: dict"):
        TextTokenizer({})
