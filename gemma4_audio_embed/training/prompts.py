"""`PromptTemplate`: where an input's audio blocks and its metadata fields (transcript, language, ...) go in a training example."""

import dataclasses
import string

AUDIO_MARKER = "<audio>"  # where, in `PromptTemplate.prompt`, the input's audio blocks go


@dataclasses.dataclass(frozen=True)
class PromptTemplate:
    """The text of a training example around its audio: a prompt (not learned) and an answer (learned).

    `{name}` fields are filled from the input's metadata (the record's `metadata`: `text`,
    `language`, any field of the manifest, tar sample, Parquet row or TFRecord example), with
    `str.format` syntax (`{duration:.1f}` works). The example is `<bos>`, the prompt with its
    `<audio>` marker replaced by one `<|audio>...<audio|>` block per window of the input, in
    order, then the answer and `<eos>`; only the answer and `<eos>` are labels.

    Args:
        prompt: str. Holds `<audio>` exactly once. Defaults to `"<audio>\\nTranscribe:"`.
        answer: str. What the model learns to say; no `<audio>`. Defaults to `" {text}"`.

    Raises:
        ValueError: the prompt holds `<audio>` not exactly once, the answer holds it or is
            empty, or a `{` field is malformed.

    Example:

    >>> template = PromptTemplate(prompt="<audio>\\nTranscribe in {language}:", answer=" {text}")
    >>> template.fields
    ('language', 'text')
    >>> template.parts({"language": "English", "text": "Hello."})
    ('', '\\nTranscribe in English:', ' Hello.')
    """

    prompt: str = f"{AUDIO_MARKER}\nTranscribe:"
    answer: str = " {text}"

    def __post_init__(self):
        if self.prompt.count(AUDIO_MARKER) != 1:
            raise ValueError(f"`prompt` must hold {AUDIO_MARKER!r} exactly once. Received: prompt={self.prompt!r}")
        if AUDIO_MARKER in self.answer or not self.answer:
            raise ValueError(
                f"`answer` must be non-empty text without {AUDIO_MARKER!r}. Received: answer={self.answer!r}"
            )
        self.fields  # noqa: B018 - parses both texts, raising ValueError on a malformed field

    @property
    def fields(self) -> tuple[str, ...]:
        """The metadata fields the template reads, sorted."""
        names = set()
        for text in (self.prompt, self.answer):
            try:
                parsed = list(string.Formatter().parse(text))
            except ValueError as e:
                raise ValueError(f"Template text {text!r} has a malformed field: {e}") from e
            for _, name, _, _ in parsed:
                if name is not None:
                    if not name or name[0].isdigit():
                        raise ValueError(f"Template text {text!r} has a field without a metadata name: {{{name}}}.")
                    names.add(name.split(".")[0].split("[")[0])
        return tuple(sorted(names))

    def missing_fields(self, metadata: dict) -> list[str]:
        """The template's fields that `metadata` lacks or holds as null."""
        return [name for name in self.fields if metadata.get(name) is None]

    def parts(self, metadata: dict) -> tuple[str, str, str]:
        """`(text before the audio, text after it, answer)` for one input's metadata.

        Raises:
            ValueError: a field the template reads is missing or null in `metadata`.
        """
        missing = self.missing_fields(metadata)
        if missing:
            raise ValueError(f"The metadata lacks the template's fields {missing}. Received fields: {sorted(metadata)}")
        before, after = self.prompt.split(AUDIO_MARKER)
        return before.format_map(metadata), after.format_map(metadata), self.answer.format_map(metadata)
