"""Keys: stable, unique names for every input and clip, built from where the audio was found.

An input key is the source URI, or `<container URI>#<member, id or index>` for an entry inside a
tar, TFRecord, Parquet or manifest file (then `#<position>` when the id repeats in its file); a
clip key is `<input key>@<segment index>`. Each part is written with `key_part`, which escapes
the separators, so no two inputs or clips can share a key however their names are spelled.

Names are bytes: a file name that is not UTF-8 arrives as Python spells it (`os.fsdecode`, each
undecodable byte a lone surrogate, U+DC80-U+DCFF), and goes into keys and every text the job
writes with that byte percent-encoded (`%FF`), which is valid UTF-8 and reversible.
"""

import re
import urllib.parse

_UNDECODABLE = re.compile("[\udc80-\udcff]")  # the bytes 0x80-0xFF os.fsdecode could not decode
_ESCAPED_UNDECODABLE = re.compile("%[89A-F][0-9A-F]")  # key_part writes no other %XX of a byte >= 0x80


def undecodable_escaped(text: str) -> str:
    """`text` with each undecodable byte of a file name (a lone surrogate of `os.fsdecode`) as `%XX`.

    Text that came from valid UTF-8 is returned as it is; the result always encodes as UTF-8.
    """
    if text.isascii() or not _UNDECODABLE.search(text):
        return text
    return _UNDECODABLE.sub(lambda found: f"%{ord(found.group()) - 0xDC00:02X}", text)


def key_part(text: str) -> str:
    """`text` as a part of a key: `%`, `#` and `@` percent-encoded (`%25`, `%23`, `%40`), as in URLs.

    A file named `a.wav@0` is then `a.wav%400`, not window 0 of `a.wav`; a tar member or id
    `spk#1` is `spk%231`, not position 1 of `spk`; the undecodable byte 0xFF of a name that is
    not UTF-8 is `%FF` (`undecodable_escaped`). Other characters stay as they are.
    """
    return undecodable_escaped(text.replace("%", "%25").replace("#", "%23").replace("@", "%40"))


def has_undecodable_bytes(key: str) -> bool:
    """Whether a key holds a name that was not UTF-8 (a byte escaped by `undecodable_escaped`)."""
    return _ESCAPED_UNDECODABLE.search(key) is not None


def input_file(key: str) -> str:
    """The URI of the file an input or clip key comes from (for a manifest entry, the manifest).

    The inverse of `key_part` on the key's first part: its separators are escaped, so the first
    `#` or `@` ends it. An escaped undecodable byte comes back as `os.fsdecode` spells it.
    """
    return urllib.parse.unquote(re.split("[#@]", key, maxsplit=1)[0], errors="surrogateescape")


def clip_key(input_key: str, segment_index: int) -> str:
    """Returns the key of window `segment_index` of input `input_key`."""
    return f"{input_key}@{segment_index}"


def file_key_of(input_key: str) -> str:
    """The key of the file an input key comes from: the part before its first `#` (a container's
    member, row or line is `<file key>#...`; a whole file's key is its own)."""
    return input_key.split("#", 1)[0]


def input_key_of(clip_key: str) -> str:
    """The input key of a clip key `<input key>@<segment index>` (the inverse of `clip_key`)."""
    return clip_key.rsplit("@", 1)[0]


class UniqueKeys:
    """Hands out the input keys of the entries of one file, `<uri>#<name>`, each once, deterministically.

    The first entry to ask for a name gets `<uri>#<name>`; a later entry asking for a name
    already given (a repeated id or member name) gets `<uri>#<name>#<position>`, its row,
    record, member or line position in the file, and is counted in `repeats`. URI and name are
    written with `key_part`, so keys from different files never meet, and no name can spell
    another entry's key.

    Args:
        uri: str. URI of the file.
    """

    def __init__(self, uri: str):
        self._prefix = key_part(uri) + "#"
        self._given = set()
        self.repeats = 0

    def entry_key(self, name) -> str:
        """The key `name` asks for, `<uri>#<name>`, without taking it."""
        return self._prefix + key_part(
            name.decode("utf-8", "surrogateescape") if isinstance(name, bytes) else str(name)
        )

    def unique(self, name, position: int) -> str:
        """Returns `<uri>#<name>`, or `<uri>#<name>#<position>` (then `.2`, `.3`, ...) when it was given before.

        Args:
            name: str, int or bytes (UTF-8). The entry's id, member name or position.
            position: int. The entry's position in the file.
        """
        key = self.entry_key(name)
        if key in self._given:
            self.repeats += 1
            base = key = f"{key}#{position}"
            copies = 1
            while key in self._given:
                copies += 1
                key = f"{base}.{copies}"
        self._given.add(key)
        return key
