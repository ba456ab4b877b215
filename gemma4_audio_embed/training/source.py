"""`TrainingSource`: the training examples of one output, one per complete input, by random access.

It reads the output's index once (no embedding), tokenizes each input's template text, and
reads an example's records only when asked for it, so it is a map-style dataset for
PyTorch's `DataLoader`, a Grain `MapDataset` source and a `tf.data` generator alike.
"""

import logging

import numpy as np

from gemma4_audio_embed.records import decoded_example
from gemma4_audio_embed.reprs import ConfigRepr
from gemma4_audio_embed.training.examples import TextParts
from gemma4_audio_embed.training.examples import TrainingExample
from gemma4_audio_embed.training.examples import example_length
from gemma4_audio_embed.training.examples import example_token_ids
from gemma4_audio_embed.training.output_index import output_inputs
from gemma4_audio_embed.training.prompts import PromptTemplate
from gemma4_audio_embed.training.record_access import RecordFiles
from gemma4_audio_embed.training.text_tokenizer import TextTokenizer

ON_INCOMPLETE = ("raise", "skip")
_LISTED = 5  # incomplete inputs named in an error or warning


class TrainingSource(ConfigRepr):
    """One `TrainingExample` per complete input of an output, in input-key order.

    An input is incomplete when a window has no record, a dead letter names it, its metadata
    lacks a field the template reads, its answer is empty (`" {text}"` with `text: ""`), or its
    text tokenizes to a special token (`<eos>` or `<|audio|>` spelled in a transcript); such
    inputs are never trained on.

    Args:
        output: str. The job's `--output` prefix (local or `gs://`; ArrayRecord files local).
        tokenizer: a transformers tokenizer or a keras-hub `Gemma4Tokenizer` (`TextTokenizer`).
        template: PromptTemplate. Defaults to `PromptTemplate()` (transcription: `{text}`).
        on_incomplete: str. `"raise"`: a ValueError naming the incomplete inputs and why;
            `"skip"`: leave them out, log a warning, and list them in `skipped`. Defaults to
            `"raise"`.

    Attributes:
        keys: list of str. The examples' input keys.
        lengths: `int64 [N]`, each example's token count S (for bucketing).
        skipped: dict. `{input key: reason}` of the inputs left out.
        special_ids: SpecialTokenIds. The tokenizer's ids the examples use.

    Raises:
        ValueError: the output has no index, two index files list one clip, no input is
            complete (whatever `on_incomplete`), or (with `"raise"`) an input is incomplete.
    """

    def __init__(self, output: str, tokenizer, template: PromptTemplate = None, on_incomplete: str = "raise"):
        if on_incomplete not in ON_INCOMPLETE:
            raise ValueError(f"`on_incomplete` must be one of {ON_INCOMPLETE}. Received: {on_incomplete!r}")
        self.output = output
        self.template = template or PromptTemplate()
        self.on_incomplete = on_incomplete
        text_tokenizer = TextTokenizer(tokenizer)
        found = output_inputs(output)
        incomplete = dict(found.incomplete)
        specials = text_tokenizer.special_ids._asdict()  # in a text, each would shift or end the example
        self._inputs, self._texts = [], []
        for item in found.complete:
            missing = self.template.missing_fields(item.metadata)
            if missing:
                incomplete[item.key] = f"its metadata lacks the template's fields {missing}"
                continue
            parts = self.template.parts(item.metadata)
            if not parts[2].strip():
                incomplete[item.key] = (
                    f"its answer {parts[2]!r} is empty (the template's fields {self.template.fields})"
                )
                continue
            text = TextParts(*(text_tokenizer.encode(part) for part in parts))
            special = sorted({name for ids in text for name, id_ in specials.items() if id_ in ids})
            if special:
                incomplete[item.key] = f"its text {parts} holds the special token(s) {special}"
                continue
            self._inputs.append(item)
            self._texts.append(text)
        listed = "; ".join(f"{key}: {reason}" for key, reason in list(incomplete.items())[:_LISTED])
        found_text = f"{len(incomplete)} incomplete input(s), e.g. {listed}"
        if not self._inputs:
            raise ValueError(
                f"{output}: no complete input to train on; "
                + (found_text if incomplete else "its index lists no record")
                + "."
            )
        if incomplete:
            if on_incomplete == "raise":
                raise ValueError(f"{output}: {found_text}. Pass on_incomplete='skip' to train without them.")
            logging.warning("%s: %s. They are left out (TrainingSource.skipped lists them all).", output, found_text)
        self._lengths = np.asarray(
            [
                example_length(text, [w.num_tokens for w in item.windows])
                for item, text in zip(self._inputs, self._texts)
            ],
            np.int64,
        )
        self._skipped = dict(sorted(incomplete.items()))
        self._special_ids = text_tokenizer.special_ids
        self._files = RecordFiles()

    @property
    def keys(self) -> list[str]:
        return [item.key for item in self._inputs]

    @property
    def lengths(self) -> np.ndarray:
        return self._lengths.copy()

    @property
    def skipped(self) -> dict:
        return dict(self._skipped)

    @property
    def special_ids(self):
        return self._special_ids

    def __len__(self) -> int:
        return len(self._inputs)

    def __getitem__(self, index) -> TrainingExample:
        item, text = self._inputs[index], self._texts[index]
        embeddings = []
        for window in item.windows:
            record = decoded_example(self._files.payload(window.record_file, window.position))
            if (record.key, record.num_tokens) != (window.key, window.num_tokens):
                raise ValueError(
                    f"{window.record_file}: record {window.position} is {record.key!r} with {record.num_tokens} "
                    f"tokens, but the index lists {window.key!r} with {window.num_tokens} there."
                )
            embeddings.append(record.embedding)
        token_ids, labels = example_token_ids(text, [w.num_tokens for w in item.windows], self._special_ids)
        return TrainingExample(item.key, token_ids, labels, tuple(embeddings), tuple(w.key for w in item.windows))
