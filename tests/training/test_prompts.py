"""`PromptTemplate`: where the audio and the metadata fields go, and the templates it refuses."""

import pytest

from gemma4_audio_embed.training import PromptTemplate


def test_the_default_template_transcribes():
    template = PromptTemplate()
    assert template.fields == ("text",)
    assert template.parts({"text": "Hello.", "language": "en"}) == ("", "\nTranscribe:", " Hello.")


def test_fields_come_from_both_texts_with_format_specs():
    template = PromptTemplate(prompt="{speaker}: <audio> ({duration:.1f} s)", answer="[{language}] {text}")
    assert template.fields == ("duration", "language", "speaker", "text")
    parts = template.parts({"speaker": "Ann", "duration": 2.345, "language": "en", "text": "Hi."})
    assert parts == ("Ann: ", " (2.3 s)", "[en] Hi.")


@pytest.mark.parametrize("metadata, missing", [({}, ["text"]), ({"text": None}, ["text"]), ({"text": ""}, [])])
def test_missing_or_null_fields_are_named(metadata, missing):
    template = PromptTemplate()
    assert template.missing_fields(metadata) == missing
    if missing:
        with pytest.raises(ValueError, match=r"lacks the template's fields \['text'\]"):
            template.parts(metadata)


@pytest.mark.parametrize(
    "prompt, answer, message",
    [
        ("Transcribe:", " {text}", "must hold '<audio>' exactly once"),
        ("<audio> <audio>", " {text}", "must hold '<audio>' exactly once"),
        ("<audio>", "<audio> {text}", "`answer` must be non-empty text without '<audio>'"),
        ("<audio>", "", "`answer` must be non-empty text"),
        ("<audio> {", " {text}", "malformed field"),
        ("<audio> {}", " {text}", "a field without a metadata name"),
        ("<audio> {0}", " {text}", "a field without a metadata name"),
    ],
)
def test_bad_templates_are_refused(prompt, answer, message):
    with pytest.raises(ValueError, match=message):
        PromptTemplate(prompt=prompt, answer=answer)
