"""Readers of each input format: each turns one file into its inputs, as EncodedAudio or BadInput.

A reader is a generator `inputs(stream, uri, ...)` over an open binary stream of the file at
`uri`. It yields one `EncodedAudio` per input it finds and one `BadInput` per entry that is
unusable on its own (a manifest line that is not JSON, a tar sample without audio), and it
raises when the file itself cannot be read, after yielding the inputs found before the fault.
"""

from typing import NamedTuple

from apache_beam.io.filesystems import FileSystems

AUDIO_EXTENSIONS = (
    "flac",
    "wav",
    "mp3",
    "ogg",
    "opus",
)  # soundfile/libsndfile formats, in order of preference


class BadInput(NamedTuple):
    """An entry of an input file that yields no audio, and why.

    Attributes:
        key: str. The input key the entry would have had.
        source: str. URI of the file holding the entry.
        error: Exception. What is wrong with it.
    """

    key: str
    source: str
    error: Exception


def resolved_path(path: str, uri: str) -> str:
    """Returns `path` as is when absolute (or a URI), else joined to the folder of the file at `uri`."""
    if "://" in path or path.startswith("/"):
        return path
    return FileSystems.join(FileSystems.split(uri)[0], path)
