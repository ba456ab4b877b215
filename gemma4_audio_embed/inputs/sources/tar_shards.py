"""Reader of WebDataset-style tar shards: every audio member is an input of its own.

Members are grouped into samples as WebDataset does (a run of consecutive members sharing the
name up to the first dot of the basename), but a sample's key does not name its input: two
audio members of one sample (`spk1.utt1.flac`, `spk1.utt2.flac`) are two inputs, each with
the sample's metadata members.
"""

import posixpath
import tarfile
from collections.abc import Iterator

from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.keys import UniqueKeys
from gemma4_audio_embed.inputs.limits import DEFAULT_READ_LIMITS
from gemma4_audio_embed.inputs.limits import ReadLimits
from gemma4_audio_embed.inputs.limits import bounded_json
from gemma4_audio_embed.inputs.sources import AUDIO_EXTENSIONS
from gemma4_audio_embed.inputs.sources import BadInput
from gemma4_audio_embed.inputs.sources import SkippedInput
from gemma4_audio_embed.inputs.sources import metadata_of

APPLE_DOUBLE_PREFIX = "._"  # macOS resource-fork members that `tar` on a Mac adds beside each file
_MAX_LINK_DEPTH = 8
METADATA_EXTENSIONS = ("txt", "json", "cls", "id")  # last suffixes of the members read as metadata


def _sample_key(name: str) -> str:
    """The WebDataset sample key: the member name up to the first dot of its basename."""
    directory, basename = posixpath.split(name)
    return posixpath.join(directory, basename.partition(".")[0])


def is_audio_name(name: str) -> bool:
    """Whether a member name's last suffix is one of `AUDIO_EXTENSIONS`."""
    basename = posixpath.basename(name)
    return "." in basename and basename.rsplit(".", 1)[1].lower() in AUDIO_EXTENSIONS


def _archive_name(name: str) -> str:
    """A member name as a path inside the archive: `./a.wav`, `a.wav` and `/a.wav` are one name."""
    return posixpath.normpath(name.lstrip("/"))


def _link_target(member: tarfile.TarInfo) -> str:
    """The archive name a hard link or symbolic link member points to."""
    if member.islnk() or member.linkname.startswith("/"):
        return _archive_name(member.linkname)
    return _archive_name(posixpath.join(posixpath.dirname(member.name), member.linkname))


def _checked_size(member: tarfile.TarInfo, limits: ReadLimits, compressed: bool) -> None:
    """Raises ValueError when reaching past `member` would decompress more than the cap allows."""
    if compressed and member.offset_data + member.size > limits.max_decompressed_bytes:
        raise ValueError(
            f"Member {member.name!r} ends {member.offset_data + member.size} bytes into the decompressed "
            f"tar, past the cap of {limits.max_decompressed_bytes} (--max_decompressed_bytes); the rest "
            "of the tar is not read."
        )


def _audio_input(member: tarfile.TarInfo, tar, key: str, uri: str, limits: ReadLimits, compressed: bool):
    """The input of an audio file member: its bytes, or past `max_member_bytes` its place in an uncompressed tar."""
    if member.size <= limits.max_member_bytes:
        return EncodedAudio(key=key, source=uri, data=tar.extractfile(member).read())
    if not compressed:
        return EncodedAudio(key=key, source=uri, data=None, byte_range=(member.offset_data, member.size))
    error = ValueError(
        f"Member {member.name!r} holds {member.size} bytes, over the cap of {limits.max_member_bytes} "
        "(--max_member_bytes) a member of a compressed tar is read into memory up to; store the tar "
        "uncompressed (its large members are then streamed) or raise the cap."
    )
    return BadInput(key=key, source=uri, error=error)


def tar_shard_inputs(
    stream, uri: str, keys: UniqueKeys | None = None, limits: ReadLimits = DEFAULT_READ_LIMITS, compressed: bool = True
) -> Iterator[EncodedAudio | BadInput | SkippedInput]:
    """Yields one input per audio member of the tar shard at `uri`, read from `stream` front to back.

    - A member is audio when its last suffix is in `AUDIO_EXTENSIONS` (`a.flac`,
      `spk1.utt1.flac`, `Track 2.0 (Clean).mp3`); its input key is `<uri>#<member name>`.
      Its sample's `.txt`, `.json`, `.cls` and `.id` members are its metadata (`_Sample`);
      other members (`.jpg`, ...) are skipped unread. A sample's audio inputs go out when the
      sample ends, so that members after the audio count; a sample whose metadata member is
      not UTF-8 (or not JSON, for `.json`) makes each of its audio members a BadInput.
    - A sample key without any audio member anywhere in the shard yields a BadInput keyed
      `<uri>#<sample key>`, after the last member.
    - A hard or symbolic link to another member is an input holding the target's bytes; a link
      whose target is not a file of the shard is a BadInput. Links are resolved in a second
      pass over the stream (`stream.seek(0)`), which holds only the linked members' bytes. A
      link whose name is not audio (to a folder, a sidecar) is neither an input nor a sample.
    - An audio-named member that is no file or link (a FIFO, a device) is a BadInput.
    - A repeated member name gets a distinct key from `keys` (`<uri>#<name>#<member index>`).
    - A `._*` AppleDouble member is a SkippedInput.
    - A member is read into memory up to `limits.max_member_bytes` (`ReadLimits`). A larger
      audio member of an uncompressed tar (`compressed` False, and no compression `tarfile`
      finds) becomes an input that decoding streams from its byte range of the tar; in a
      compressed tar it is a BadInput naming the cap, as is a larger metadata member for its
      sample's inputs. A `.json` member nested deeper than `limits.max_json_depth` is a bad
      metadata member likewise. In a compressed tar, reading past `max_decompressed_bytes`
      raises, after the inputs before.
    """
    keys = UniqueKeys(uri) if keys is None else keys
    links = []  # (key, member name, member index, its _Sample), of audio link members
    link_targets = {}  # archive name -> target archive name, of every link member
    no_audio = {}  # sample key -> (index of its first member, extensions), of samples without audio so far
    with_audio = set()
    sample = None
    with tarfile.open(fileobj=stream, mode="r|*") as tar:
        compressed = compressed or tar.fileobj.comptype != "tar"  # a .tgz Beam does not know by its suffix
        for index, member in enumerate(tar):
            try:
                _checked_size(member, limits, compressed)
            except ValueError:
                if sample is not None:  # the inputs found before the cap go out first
                    yield from sample.close(uri, no_audio, with_audio)
                raise
            if member.isdir():
                continue
            name, audio = member.name, is_audio_name(member.name)
            if posixpath.basename(name).startswith(APPLE_DOUBLE_PREFIX):
                yield SkippedInput(keys.entry_key(name), uri, "AppleDouble metadata member")
                continue
            if member.islnk() or member.issym():
                link_targets[_archive_name(name)] = _link_target(member)
                if not audio:
                    continue
            elif not member.isfile():
                if audio:
                    yield BadInput(
                        keys.unique(name, index), uri, ValueError(f"Member {name!r} is no file ({member.type!r}).")
                    )
                continue
            if sample is None or _sample_key(name) != sample.key:
                if sample is not None:
                    yield from sample.close(uri, no_audio, with_audio)
                sample = _Sample(_sample_key(name), index)
            extension = posixpath.basename(name).partition(".")[2]
            sample.extensions.append(extension.lower())
            if not audio:
                if member.isfile() and extension.rsplit(".", 1)[-1].lower() in METADATA_EXTENSIONS:
                    sample.add_metadata(name, extension, member, tar, limits)
                continue
            key = keys.unique(name, index)
            if member.isfile():
                sample.audio.append(_audio_input(member, tar, key, uri, limits, compressed))
            else:
                sample.audio.append(None)  # a link: its input comes from the second pass
                links.append((key, name, index, sample))
    if sample is not None:
        yield from sample.close(uri, no_audio, with_audio)
    for sample_key, (index, extensions) in no_audio.items():
        found = ", ".join(f".{extension}" for extension in extensions)
        error = ValueError(f"Sample {sample_key!r} has no audio member (an FFmpeg audio extension); found: {found}.")
        yield BadInput(key=keys.unique(sample_key, index), source=uri, error=error)
    if links:
        yield from _linked_inputs(stream, uri, links, link_targets, limits, compressed)


class _Sample:
    """A WebDataset sample being read: its audio inputs, held until it ends, and its metadata.

    Its `.txt`, `.cls` and `.id` members are text under their extension (`txt`, or `utt1.txt`
    for `spk.utt1.txt`); a `.json` member holding an object adds its fields (any other JSON
    value goes under its extension), then the text members, which win a name clash. Members
    may come before or after the audio; every audio input of the sample gets it all.
    """

    def __init__(self, key: str, index: int):
        self.key = key
        self.index = index  # member index of its first member
        self.extensions = []
        self.audio = []  # EncodedAudio of file members, None for links
        self._json_fields = {}
        self._text_fields = {}
        self.error = None

    def add_metadata(self, name: str, extension: str, member: tarfile.TarInfo, tar, limits: ReadLimits) -> None:
        if member.size > limits.max_member_bytes:
            self.error = ValueError(
                f"Member {name!r} of sample {self.key!r} holds {member.size} bytes, over the cap of "
                f"{limits.max_member_bytes} (--max_member_bytes) a metadata member is read up to."
            )
            return
        try:
            text = tar.extractfile(member).read().decode("utf-8")
            if extension.rsplit(".", 1)[-1].lower() != "json":
                self._text_fields[extension] = text
                return
            value = bounded_json(text, limits.max_json_depth)
        except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            self.error = ValueError(f"Member {name!r} of sample {self.key!r} is not UTF-8 {extension}: {e}")
            return
        if isinstance(value, dict):
            self._json_fields.update(value)
        else:
            self._text_fields[extension] = value

    @property
    def metadata(self) -> dict:
        return metadata_of({**self._json_fields, **self._text_fields})

    def with_metadata(self, found: EncodedAudio) -> EncodedAudio | BadInput:
        if self.error is not None:
            return BadInput(found.key, found.source, self.error)
        return found._replace(metadata=self.metadata)

    def close(self, uri: str, no_audio: dict, with_audio: set) -> Iterator[EncodedAudio | BadInput]:
        """The sample's inputs of file members, with its metadata, once the sample has ended.

        A sample without audio is noted in `no_audio` (its key may still have audio later in
        the shard, when members are not sorted); one with audio in `with_audio`.
        """
        if not self.audio:
            if self.key not in with_audio:
                no_audio.setdefault(self.key, (self.index, []))[1].extend(self.extensions)
            return
        with_audio.add(self.key)
        no_audio.pop(self.key, None)
        for found in self.audio:
            if isinstance(found, BadInput):
                yield found
            elif found is not None:
                yield self.with_metadata(found)


def _final_target(name: str, link_targets: dict) -> str:
    """Follows links from archive name `name` to a name that is no link (or gives up after `_MAX_LINK_DEPTH`)."""
    for _ in range(_MAX_LINK_DEPTH):
        if name not in link_targets:
            return name
        name = link_targets[name]
    return name


def _linked_inputs(
    stream, uri: str, links: list, link_targets: dict, limits: ReadLimits, compressed: bool
) -> Iterator[EncodedAudio | BadInput]:
    """Second pass: the inputs of link members, from the bytes of the files they point to.

    A link resolves to the last file of its target's name before it (as extracting the tar in
    order would leave it), or, for a symbolic link pointing forward, the first after it. A
    target over `max_member_bytes` is streamed or refused as an audio member is (`_audio_input`).
    """
    targets = {name: _final_target(_archive_name(name), link_targets) for _, name, _, _ in links}
    wanted = set(targets.values())
    files = {}  # target archive name -> [(member index, bytes)]
    stream.seek(0)
    with tarfile.open(fileobj=stream, mode="r|*") as tar:
        for index, member in enumerate(tar):
            _checked_size(member, limits, compressed)
            if member.isfile() and _archive_name(member.name) in wanted:
                data = tar.extractfile(member).read() if member.size <= limits.max_member_bytes else None
                files.setdefault(_archive_name(member.name), []).append((index, member, data))
    for key, name, index, sample in links:
        copies = files.get(targets[name])
        if not copies:
            target = link_targets[_archive_name(name)]
            error = ValueError(f"Member {name!r} links to {target!r}, which is no file of the shard.")
            yield BadInput(key=key, source=uri, error=error)
            continue
        before = [copy for copy in copies if copy[0] < index]
        _, member, data = before[-1] if before else copies[0]
        found = (
            EncodedAudio(key=key, source=uri, data=data)
            if data is not None
            else _audio_input(member, None, key, uri, limits, compressed)  # over the cap: streamed or refused
        )
        yield found if isinstance(found, BadInput) else sample.with_metadata(found)
