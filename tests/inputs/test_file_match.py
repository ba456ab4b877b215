"""Tests for inputs/file_match.py: patterns matched by the bytes of names, input lists read literally."""

import os

import pytest

from gemma4_audio_embed.inputs.file_match import listed_files
from gemma4_audio_embed.inputs.file_match import local_matches
from gemma4_audio_embed.inputs.file_match import pattern_regex

ODD_NAMES = [b"back\\slash.wav", b"not-utf8-\xff.wav", b"comma,x.wav", b"br[1].wav", b"star*.wav", b"new\nline.wav"]


@pytest.fixture
def corpus(tmp_path):
    """`tmp_path` with odd names, a nested file, a FIFO and a folder."""
    for name in ODD_NAMES + [b"plain.wav"]:
        (tmp_path / os.fsdecode(name)).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.wav").write_bytes(b"x")
    os.mkfifo(tmp_path / "fifo.wav")
    return tmp_path


def _names(matches, folder):
    return sorted(os.fsencode(os.path.relpath(match.path, folder)) for match in matches)


def test_a_star_matches_every_name_the_file_system_holds_but_not_across_folders(corpus):
    found = _names(local_matches(f"{corpus}/*.wav"), corpus)
    assert found == sorted(ODD_NAMES + [b"fifo.wav", b"plain.wav"])  # the FIFO too: the reader refuses it


def test_a_star_names_folders_and_a_double_star_walks_into_them(corpus):
    assert b"sub" in _names(local_matches(f"{corpus}/*"), corpus)
    assert _names(local_matches(f"{corpus}/**deep.wav"), corpus) == [b"sub/deep.wav"]
    assert _names(local_matches(f"{corpus}/*/*.wav"), corpus) == [b"sub/deep.wav"]


def test_a_literal_path_matches_itself_and_a_class_matches_one_character(corpus):
    assert _names(local_matches(f"{corpus}/plain.wav"), corpus) == [b"plain.wav"]
    assert local_matches(f"{corpus}/absent.wav") == []
    assert _names(local_matches(f"{corpus}/[bs]*"), corpus) == [b"back\\slash.wav", b"br[1].wav", b"star*.wav", b"sub"]


@pytest.mark.parametrize(
    "pattern, path, matches",
    [
        ("/a/*.wav", "/a/b\\c.wav", True),  # Beam's `*` stops at a backslash; ours only at `/`
        ("/a/*.wav", "/a/b/c.wav", False),
        ("/a/**.wav", "/a/b/c.wav", True),
        ("/a/?.wav", "/a/x.wav", True),
        ("/a/[!x].wav", "/a/x.wav", False),
    ],
)
def test_pattern_regex_table(pattern, path, matches):
    assert bool(pattern_regex(pattern).match(path)) is matches


def test_an_input_list_names_paths_literally_relative_to_its_folder(corpus):
    listing = corpus / "list.txt"
    listing.write_bytes(
        b"comma,x.wav\r\nbr[1].wav\n\n" + bytes(corpus / "star*.wav") + b"\nnot-utf8-\xff.wav\nabsent.wav\n"
    )
    found = list(listed_files(str(listing)))
    assert [os.fsencode(metadata.path) for metadata in found] == [
        bytes(corpus / "comma,x.wav"),
        bytes(corpus / "br[1].wav"),
        bytes(corpus / "star*.wav"),
        bytes(corpus) + b"/not-utf8-\xff.wav",
        bytes(corpus / "absent.wav"),  # listed all the same: the reader dead-letters it
    ]
    assert [metadata.size_in_bytes for metadata in found] == [1, 1, 1, 1, 0]
