"""Reader of WebDataset-style tar shards: members grouped by sample key, one audio member per sample."""

import itertools
import posixpath
import tarfile
from typing import Iterator
from typing import Union

from transforms.elements import EncodedAudio
from transforms.sources import AUDIO_EXTENSIONS
from transforms.sources import BadInput


def _sample_key_and_extension(name: str) -> tuple[str, str]:
    """Splits a member name at the first dot of its basename, as WebDataset does."""
    directory, basename = posixpath.split(name)
    stem, _, extension = basename.partition(".")
    return posixpath.join(directory, stem), extension.lower()


def _audio_rank(extension: str) -> int:
    """Rank of an extension's last suffix in AUDIO_EXTENSIONS; len(AUDIO_EXTENSIONS) if not audio."""
    suffix = extension.rsplit(".", 1)[-1]
    return AUDIO_EXTENSIONS.index(suffix) if suffix in AUDIO_EXTENSIONS else len(AUDIO_EXTENSIONS)


def tar_shard_inputs(stream, uri: str) -> Iterator[Union[EncodedAudio, BadInput]]:
    """Yields one input per sample of the tar shard at `uri`, read from `stream` front to back.

    As in WebDataset, a sample is a run of consecutive members that share a key (the member
    name up to the first dot of its basename), and the extensions name its parts. The audio
    part is the one whose last suffix comes first in AUDIO_EXTENSIONS (`flac`, `wav`, `mp3`,
    `ogg`, `opus`); other parts (`json`, `txt`, ...) are skipped unread. The input key is
    `<uri>#<audio member name>`; a sample without audio yields a BadInput keyed `<uri>#<key>`.
    """
    with tarfile.open(fileobj=stream, mode="r|*") as tar:
        files = (member for member in tar if member.isfile())
        for sample_key, members in itertools.groupby(
            files, key=lambda member: _sample_key_and_extension(member.name)[0]
        ):
            best_rank, best_name, best_data, extensions = len(AUDIO_EXTENSIONS), None, None, []
            for member in members:
                extension = _sample_key_and_extension(member.name)[1]
                extensions.append(extension)
                if _audio_rank(extension) < best_rank:
                    best_rank, best_name = _audio_rank(extension), member.name
                    best_data = tar.extractfile(member).read()
            if best_name is None:
                found = ", ".join(f".{extension}" for extension in extensions)
                yield BadInput(
                    key=f"{uri}#{sample_key}",
                    source=uri,
                    error=ValueError(
                        f"Sample {sample_key!r} has no audio member (.{', .'.join(AUDIO_EXTENSIONS)}); "
                        f"found: {found}."
                    ),
                )
            else:
                yield EncodedAudio(key=f"{uri}#{best_name}", source=uri, data=best_data)
