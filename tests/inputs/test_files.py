"""Tests for inputs/files.py: special files refused by `stat` before any open, links resolved, roots enforced."""

import gzip
import io
import os
import socket
import threading
import tracemalloc

import pytest

from gemma4_audio_embed.inputs.files import COMPRESSION_BY_SUFFIX
from gemma4_audio_embed.inputs.files import ByteRange
from gemma4_audio_embed.inputs.files import RefusedPath
from gemma4_audio_embed.inputs.files import checked_file
from gemma4_audio_embed.inputs.files import compression_of
from gemma4_audio_embed.inputs.files import confined_path
from gemma4_audio_embed.inputs.files import opened_file
from gemma4_audio_embed.inputs.files import resolved_roots


def _within(seconds, call):
    """Runs `call` in a thread; returns its result or exception, failing if it blocks past `seconds`."""
    outcome = []

    def target():
        try:
            outcome.append(call())
        except Exception as error:  # returned, for the test to look at
            outcome.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"blocked for more than {seconds} s"
    return outcome[0]


@pytest.fixture
def specials(tmp_path):
    """A folder of every kind of file a corpus may hold besides regular files."""
    os.mkfifo(tmp_path / "fifo.wav")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "socket.wav"))
    (tmp_path / "folder.wav").mkdir()
    os.symlink("/dev/zero", tmp_path / "zero.wav")
    os.symlink("/proc/self/environ", tmp_path / "environ.wav")
    yield tmp_path
    server.close()


@pytest.mark.parametrize(
    "name, message",
    [
        ("fifo.wav", "is a FIFO \\(named pipe\\); the job reads regular files only"),
        ("socket.wav", "is a socket"),
        ("folder.wav", "is a folder"),
        ("zero.wav", "\\(a link to /dev/zero\\) lies under /dev, /proc, /sys, which the job never reads"),
        ("environ.wav", "lies under /dev, /proc, /sys"),
    ],
)
def test_special_files_are_refused_without_blocking(specials, name, message):
    path = str(specials / name)
    refused = _within(5, lambda: opened_file(path))
    assert isinstance(refused, RefusedPath) and refused.args[0].startswith(path)
    with pytest.raises(RefusedPath, match=message):
        checked_file(path)


def test_a_regular_file_opens_and_a_missing_one_is_file_not_found(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    with opened_file(str(tmp_path / "a.wav")) as f:
        assert f.read() == b"RIFF"
    with pytest.raises(FileNotFoundError):
        opened_file(str(tmp_path / "b.wav"))


def test_allowed_roots_confine_paths_after_links_are_resolved(tmp_path):
    corpus, private = tmp_path / "corpus", tmp_path / "private"
    corpus.mkdir(), private.mkdir()
    (corpus / "a.wav").write_bytes(b"a")
    (private / "secret.wav").write_bytes(b"s")
    os.symlink(private / "secret.wav", corpus / "link.wav")
    os.symlink(corpus / "a.wav", private / "back.wav")
    roots = resolved_roots([str(corpus)])
    assert confined_path(str(corpus / "a.wav"), roots) == str(corpus / "a.wav")
    assert confined_path(str(private / "back.wav"), roots) == str(corpus / "a.wav")  # a link into a root
    assert confined_path(str(corpus / "sub" / ".." / "a.wav"), roots) == str(corpus / "a.wav")
    for outside in (corpus / "link.wav", private / "secret.wav", corpus / ".." / "private" / "secret.wav"):
        with pytest.raises(RefusedPath, match="is outside --allowed_roots"):
            opened_file(str(outside), roots)
    assert confined_path(str(private / "secret.wav")) == str(private / "secret.wav")  # no roots: any path


def test_remote_paths_must_start_with_a_remote_root():
    roots = resolved_roots(["gs://b/corpus/", "/data"])
    assert confined_path("gs://b/corpus/x.wav", roots) == "gs://b/corpus/x.wav"
    for outside in ("gs://b/corpusx/y.wav", "gs://other/x.wav"):
        with pytest.raises(RefusedPath, match="outside --allowed_roots"):
            confined_path(outside, roots)
    with pytest.raises(ValueError, match="must name a folder"):
        resolved_roots([" "])


def test_a_byte_range_reads_and_seeks_inside_its_window():
    view = ByteRange(io.BytesIO(b"0123456789"), offset=2, size=5)
    assert view.read() == b"23456"
    assert view.seek(-2, io.SEEK_END) == 3 and view.read(10) == b"56"
    view.seek(1)
    assert view.read(2) == b"34" and view.tell() == 3


@pytest.mark.parametrize("suffix", sorted(COMPRESSION_BY_SUFFIX))
def test_compressed_files_are_read_as_beam_reads_them_by_suffix(tmp_path, suffix):
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    compression = CompressionTypes.detect_compression_type(f"x{suffix}")
    assert compression_of(f"list.jsonl{suffix.upper()}") == COMPRESSION_BY_SUFFIX[suffix] == compression
    path = str(tmp_path / f"lines{suffix}")
    with FileSystems.create(path, compression_type=compression) as f:  # Beam's own compressor
        f.write(b"one\ntwo\n" * 1000)
    with opened_file(path, compression=compression_of(path)) as f:
        assert f.read() == b"one\ntwo\n" * 1000


def test_a_gzip_bomb_is_inflated_only_as_far_as_it_is_read(tmp_path):
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        for _ in range(4):
            f.write(bytes(1 << 24))  # 64 MiB of zeros in 280 KB
    tracemalloc.start()
    try:
        with opened_file(str(path), compression=compression_of(str(path))) as f:
            assert len(f.read(1 << 20)) == 1 << 20 and len(f.read(1 << 20)) == 1 << 20
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20  # each read inflates what it asks for; Beam's reader inflated all 64 MiB at once
