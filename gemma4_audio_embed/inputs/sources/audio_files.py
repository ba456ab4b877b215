"""Reader of plain audio files (WAV, FLAC, OGG, MP3): one input per file, streamed when decoded."""

from collections.abc import Iterator

from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.keys import key_part


def audio_file_inputs(uri: str) -> Iterator[EncodedAudio]:
    """Yields the one input of the audio file at `uri`, keyed by its URI (`key_part`).

    The file is not opened here: DecodeAudio streams it in blocks, so a file of hours never
    sits in memory whole.
    """
    yield EncodedAudio(key=key_part(uri), source=uri, data=None)
