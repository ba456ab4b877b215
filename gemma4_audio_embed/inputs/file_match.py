"""Matching `--input` patterns and `--input_list` files to the files they name, by the bytes of their names.

Beam's local glob (`FileSystems.match`) misses names with a backslash (its `*` stops at `\\`)
and walks every folder under the pattern's prefix; here a local pattern is matched by walking
only as deep as it reaches, with `*` stopping at `/` alone, so every name the file system holds
is found: a backslash, a newline, bytes that are not UTF-8 (as `os.fsdecode` spells them). What
a pattern matches that is no regular file (a folder, a FIFO, a socket, a device) is passed on
too, and the reader refuses it by `stat`: a dead letter, not a silent skip, never a blocking open.
Remote patterns (`gs://`) go to Beam's file systems.

Pattern syntax, as Beam's: `*` any run of characters but `/`, `**` any run including `/`, `?`
one character, `[...]` a class. A path with `*`, `?`, `[` or `,` in its name is read literally
from an `--input_list` file, one path per line.
"""

import os
import re
from collections.abc import Iterator

from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems

from gemma4_audio_embed.inputs.files import is_local
from gemma4_audio_embed.inputs.limits import bounded_lines

GLOB_CHARACTERS = re.compile(r"[*?\[]")
MAX_LISTED_PATH_BYTES = 1 << 16  # a line of an --input_list longer than this is no path (PATH_MAX is 4096)


def pattern_regex(pattern: str) -> re.Pattern:
    """The regular expression of a file pattern, matched against whole paths (Beam's syntax, `*` stopping at `/` only)."""
    parts, index = [], 0
    while index < len(pattern):
        character = pattern[index]
        index += 1
        if character == "*":
            if pattern.startswith("*", index):
                parts.append(".*")
                index += 1
            else:
                parts.append("[^/]*")
        elif character == "?":
            parts.append("[^/]")
        elif character == "[" and (end := pattern.find("]", index + 1)) != -1:
            body = pattern[index:end].replace("\\", "\\\\")
            parts.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            index = end + 1
        else:
            parts.append(re.escape(character))
    return re.compile("(?s)" + "".join(parts) + r"\Z")


def _metadata(path: str) -> FileMetadata:
    """FileMetadata of a local path from `stat` (links followed), or `lstat` for a dangling link."""
    try:
        status = os.stat(path)
    except OSError:
        status = os.lstat(path)
    return FileMetadata(path, status.st_size, status.st_mtime)


def local_matches(pattern: str) -> list[FileMetadata]:
    """The local paths `pattern` matches, sorted: files, and what else a pattern names (folders,
    FIFOs, ...), except the folders a `**` walks through.

    A pattern without glob characters is a literal path. Links are listed, not followed into.
    """
    pattern = os.path.abspath(pattern)
    if not GLOB_CHARACTERS.search(pattern):
        return [_metadata(pattern)] if os.path.lexists(pattern) else []
    fixed = GLOB_CHARACTERS.split(pattern, maxsplit=1)[0]
    top = os.path.dirname(fixed) if not fixed.endswith("/") else fixed.rstrip("/") or "/"
    recursive = "**" in pattern
    depth = pattern[len(top) :].strip("/").count("/")  # levels of folders below `top` the pattern reaches into
    regex = pattern_regex(pattern)
    found = []
    for folder, folders, files in os.walk(top):
        level = 0 if folder == top else os.path.relpath(folder, top).count(os.sep) + 1
        for name in files if recursive else files + folders:
            if regex.match(os.path.join(folder, name)):
                found.append(os.path.join(folder, name))
        if not recursive and level >= depth:
            folders.clear()
    return sorted((_metadata(path) for path in found), key=lambda metadata: os.fsencode(metadata.path))


def matched_files(pattern: str) -> list[FileMetadata]:
    """FileMetadata of every file `pattern` (local or remote) matches; empty when none."""
    if is_local(pattern):
        return local_matches(pattern)
    return list(FileSystems.match([pattern])[0].metadata_list)


def listed_files(list_uri: str) -> Iterator[FileMetadata]:
    """The paths of an input list, one per line, each taken literally (no glob), in order.

    Lines are bytes: a local path that is not UTF-8 is read as `os.fsdecode` spells it. A
    trailing `\\r` is dropped and blank lines skipped; a relative path is resolved against the
    list's folder. A path that does not exist is listed all the same (size 0): the reader dead-letters it.
    """
    folder = FileSystems.split(list_uri)[0]
    with FileSystems.open(list_uri) as stream:
        for number, line in enumerate(bounded_lines(stream, MAX_LISTED_PATH_BYTES), start=1):
            if line is None:
                raise ValueError(f"{list_uri}: line {number} is over {MAX_LISTED_PATH_BYTES} bytes, no path.")
            line = line.removesuffix(b"\r")
            if not line.strip():
                continue
            path = os.fsdecode(line)
            if "://" not in path and not path.startswith("/"):
                path = FileSystems.join(folder, path)
            if is_local(path):
                yield _metadata(path) if os.path.lexists(path) else FileMetadata(path, 0, 0.0)
            else:
                yield FileMetadata(path, 0, 0.0)
