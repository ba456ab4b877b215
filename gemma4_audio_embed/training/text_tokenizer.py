"""`TextTokenizer`: one small interface over a transformers tokenizer or a keras-hub `Gemma4Tokenizer`.

The reader needs two things of a tokenizer: the ids of a piece of text (no special tokens added)
and the ids of the special tokens an example is built from (`SpecialTokenIds`). transformers
tokenizers and keras-hub tokenizers spell both differently; this module says each once.
"""

from typing import NamedTuple

import numpy as np

from gemma4_audio_embed.constants import AUDIO_END_TOKEN
from gemma4_audio_embed.constants import AUDIO_START_TOKEN
from gemma4_audio_embed.constants import AUDIO_TOKEN


class SpecialTokenIds(NamedTuple):
    """Ids of the tokens a training example is built from."""

    bos: int
    eos: int
    pad: int
    audio_start: int  # <|audio>
    audio: int  # <|audio|>, one per stored row
    audio_end: int  # <audio|>


class TextTokenizer:
    """Wraps a transformers tokenizer (`PreTrainedTokenizerBase`) or a keras-hub tokenizer (`Gemma4Tokenizer`).

    Args:
        tokenizer: the tokenizer. It must know `<bos>`, `<eos>`, `<pad>` and the three audio
            tokens (`<|audio>`, `<|audio|>`, `<audio|>`) as single tokens.

    Raises:
        TypeError: `tokenizer` is neither kind.
        ValueError: naming the special token the tokenizer lacks.
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        if hasattr(tokenizer, "convert_tokens_to_ids"):  # transformers
            self._is_transformers = True
            specials = {"bos": tokenizer.bos_token_id, "eos": tokenizer.eos_token_id, "pad": tokenizer.pad_token_id}
        elif hasattr(tokenizer, "token_to_id") and hasattr(tokenizer, "tokenize"):  # keras-hub
            self._is_transformers = False
            specials = {
                "bos": getattr(tokenizer, "start_token_id", None),
                "eos": getattr(tokenizer, "end_token_id", None),
                "pad": getattr(tokenizer, "pad_token_id", None),
            }
        else:
            raise TypeError(
                "`tokenizer` must be a transformers tokenizer or a keras-hub tokenizer. "
                f"Received: {type(tokenizer).__name__}"
            )
        for name, token in (("audio_start", AUDIO_START_TOKEN), ("audio", AUDIO_TOKEN), ("audio_end", AUDIO_END_TOKEN)):
            specials[name] = self._special_id(token)
        missing = [name for name, value in specials.items() if value is None]
        if missing:
            raise ValueError(f"The tokenizer has no id for {missing}; a Gemma 4 tokenizer has them all.")
        self.special_ids = SpecialTokenIds(**{name: int(value) for name, value in specials.items()})

    def _special_id(self, token: str):
        """The id of `token` when the tokenizer knows it as one token, else None (not its unknown-token id)."""
        if self._is_transformers:
            token_id = self.tokenizer.convert_tokens_to_ids(token)
            known = token_id is not None and self.tokenizer.convert_ids_to_tokens(token_id) == token
        else:
            try:
                token_id = self.tokenizer.token_to_id(token)
                known = self.tokenizer.id_to_token(token_id) == token
            except (KeyError, ValueError):
                known = False
        return token_id if known else None

    def encode(self, text: str) -> list[int]:
        """The ids of `text`, with no special token added; `[]` for `""`."""
        if not text:
            return []
        if self._is_transformers:
            return list(self.tokenizer.encode(text, add_special_tokens=False))
        return np.asarray(self.tokenizer.tokenize(text)).astype(np.int64).tolist()
