"""Tests for inputs/sources/tar_shards.py: one input per audio member, links, repeats and skips."""

import gzip
import io
import tarfile

import pytest
from synthetic_audio import write_tar

from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.keys import UniqueKeys
from gemma4_audio_embed.inputs.limits import ReadLimits
from gemma4_audio_embed.inputs.sources import BadInput
from gemma4_audio_embed.inputs.sources import SkippedInput
from gemma4_audio_embed.inputs.sources.tar_shards import tar_shard_inputs


def _inputs(tmp_path, members, keys=None):
    path = write_tar(tmp_path / "s.tar", members)
    return list(tar_shard_inputs(io.BytesIO(path.read_bytes()), "gs://b/s.tar", keys))


def _tar_with_links(members):
    """A tar from `[(name, bytes)]` and `[(name, ("hard" or "sym", target))]` entries, in order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, bytes):
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
            else:
                info.type = tarfile.LNKTYPE if content[0] == "hard" else tarfile.SYMTYPE
                info.linkname = content[1]
                tar.addfile(info)
    buffer.seek(0)
    return buffer


def test_every_audio_member_is_an_input_and_a_sample_without_audio_a_bad_input(tmp_path):
    items = _inputs(
        tmp_path,
        {
            "a.json": b"{}",
            "a.wav": b"WAV",
            "a.flac": b"FLAC",  # a second audio member of sample "a": an input too
            "dir/b.seg.mp3": b"MP3",  # extension "seg.mp3": its last suffix is audio
            "dir/b.txt": b"text",
            "c.txt": b"text",
        },
    )
    assert items == [
        EncodedAudio(key="gs://b/s.tar#a.wav", source="gs://b/s.tar", data=b"WAV"),
        EncodedAudio(key="gs://b/s.tar#a.flac", source="gs://b/s.tar", data=b"FLAC"),
        EncodedAudio(key="gs://b/s.tar#dir/b.seg.mp3", source="gs://b/s.tar", data=b"MP3", metadata={"txt": "text"}),
        BadInput("gs://b/s.tar#c", "gs://b/s.tar", items[3].error),
    ]
    assert "no audio member" in str(items[3].error) and ".txt" in str(items[3].error)


def test_dots_inside_base_names_keep_each_member(tmp_path):
    # WebDataset keys both "spk1.utt1.flac" and "spk1.utt2.flac" as sample "spk1" (webdataset#237).
    names = ["spk1.utt1.flac", "spk1.utt2.flac", "235342 Track 2.0 (Clean Version).flac", "22.05.2024_meeting.wav"]
    items = _inputs(tmp_path, {name: name.encode() for name in names})
    assert [(item.key, item.data) for item in items] == [(f"gs://b/s.tar#{name}", name.encode()) for name in names]


@pytest.mark.parametrize("extension", ["m4a", "webm", "mp4", "wma", "amr", "aiff", "opus", "mkv"])
def test_ffmpeg_containers_are_audio_members(tmp_path, extension):
    (item,) = _inputs(tmp_path, {f"x.{extension}": b"A"})
    assert isinstance(item, EncodedAudio) and item.key == f"gs://b/s.tar#x.{extension}"


def test_repeated_member_names_get_distinct_deterministic_keys(tmp_path):
    keys = UniqueKeys("s.tar")
    path = tmp_path / "s.tar"
    with tarfile.open(path, "w") as tar:
        for content in (b"first", b"second", b"third"):
            info = tarfile.TarInfo("a.wav")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    items = list(tar_shard_inputs(io.BytesIO(path.read_bytes()), "s.tar", keys))
    assert [(item.key, item.data) for item in items] == [
        ("s.tar#a.wav", b"first"),
        ("s.tar#a.wav#1", b"second"),  # member index 1
        ("s.tar#a.wav#2", b"third"),
    ]
    assert keys.repeats == 2


def test_hard_and_symbolic_links_hold_their_targets_bytes():
    stream = _tar_with_links(
        [
            ("a.wav", b"A"),
            ("copy.wav", ("hard", "a.wav")),
            ("dir/alias.wav", ("sym", "../a.wav")),
            ("dir/ahead.wav", ("sym", "later.flac")),  # a symbolic link may point forward
            ("dir/later.flac", b"L"),
            ("gone.wav", ("sym", "missing.wav")),
        ]
    )
    items = list(tar_shard_inputs(stream, "s.tar"))
    found = {item.key: item.data for item in items if isinstance(item, EncodedAudio)}
    assert found == {
        "s.tar#a.wav": b"A",
        "s.tar#dir/later.flac": b"L",
        "s.tar#copy.wav": b"A",
        "s.tar#dir/alias.wav": b"A",
        "s.tar#dir/ahead.wav": b"L",
    }
    (bad,) = [item for item in items if isinstance(item, BadInput)]
    assert bad.key == "s.tar#gone.wav" and "links to 'missing.wav', which is no file" in str(bad.error)


def test_a_link_resolves_to_the_last_member_of_its_target_name_before_it():
    stream = _tar_with_links([("a.wav", b"old"), ("link.wav", ("hard", "a.wav")), ("a.wav", b"new")])
    items = {item.key: item.data for item in tar_shard_inputs(stream, "s.tar")}
    assert items == {"s.tar#a.wav": b"old", "s.tar#a.wav#2": b"new", "s.tar#link.wav": b"old"}


def test_apple_double_members_are_skipped_inputs(tmp_path):
    items = _inputs(tmp_path, {"._a.wav": b"\x00\x05\x16\x07", "a.wav": b"A", "dir/._b.flac": b"\x00"})
    assert items == [
        SkippedInput("gs://b/s.tar#._a.wav", "gs://b/s.tar", "AppleDouble metadata member"),
        SkippedInput("gs://b/s.tar#dir/._b.flac", "gs://b/s.tar", "AppleDouble metadata member"),
        EncodedAudio("gs://b/s.tar#a.wav", "gs://b/s.tar", b"A"),  # when its sample ends
    ]


def test_empty_shard_yields_nothing(tmp_path):
    assert _inputs(tmp_path, {}) == []


def test_garbage_raises(tmp_path):
    with pytest.raises(tarfile.ReadError):
        list(tar_shard_inputs(io.BytesIO(b"\x01" * 1000), "s.tar"))


def test_links_resolve_in_a_tar_made_from_dot():
    # `tar -cf shard.tar .` names members `./a.wav`; link targets are written `a.wav`.
    stream = _tar_with_links([("./a.wav", b"A"), ("./hard.wav", ("hard", "./a.wav")), ("./sym.wav", ("sym", "a.wav"))])
    items = {item.key: item.data for item in tar_shard_inputs(stream, "s.tar")}
    assert items == {"s.tar#./a.wav": b"A", "s.tar#./hard.wav": b"A", "s.tar#./sym.wav": b"A"}


def test_a_sidecar_whose_audio_comes_later_in_the_shard_is_no_dead_letter(tmp_path):
    items = _inputs(tmp_path, {"b.json": b"{}", "up.wav": b"U", "b.mp3": b"B"})  # not sorted by sample
    assert [(type(item).__name__, item.key) for item in items] == [
        ("EncodedAudio", "gs://b/s.tar#up.wav"),
        ("EncodedAudio", "gs://b/s.tar#b.mp3"),
    ]


def test_a_symlink_to_a_folder_is_no_sample_and_no_input():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folder = tarfile.TarInfo("dir")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        link = tarfile.TarInfo("linkdir")
        link.type, link.linkname = tarfile.SYMTYPE, "dir"
        tar.addfile(link)
        info = tarfile.TarInfo("dir/a.wav")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"A"))
    buffer.seek(0)
    assert [item.key for item in tar_shard_inputs(buffer, "s.tar")] == ["s.tar#dir/a.wav"]


def test_an_audio_named_member_that_is_no_file_is_a_bad_input():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        fifo = tarfile.TarInfo("pipe.wav")
        fifo.type = tarfile.FIFOTYPE
        tar.addfile(fifo)
    buffer.seek(0)
    (item,) = tar_shard_inputs(buffer, "s.tar")
    assert isinstance(item, BadInput) and item.key == "s.tar#pipe.wav" and "is no file" in str(item.error)


def test_nist_sphere_members_are_audio(tmp_path):
    (item,) = _inputs(tmp_path, {"ldc/utt.sph": b"NIST_1A"})
    assert isinstance(item, EncodedAudio)


def test_a_samples_metadata_members_before_and_after_attach_to_each_of_its_audio_members(tmp_path):
    items = _inputs(
        tmp_path,
        {
            "spk.utt1.txt": "première".encode(),  # before the audio, under "utt1.txt"
            "spk.utt1.flac": b"F1",
            "spk.utt2.flac": b"F2",
            "spk.json": b'{"speaker": "Zo\\u00eb", "txt": "loses to the .txt member"}',
            "spk.txt": b"sample text",  # after the audio
            "spk.cls": b"7",
            "spk.jpg": b"\xff\xd8",  # not metadata: not read
            "next.wav": b"W",
        },
    )
    metadata = {"utt1.txt": "première", "speaker": "Zoë", "txt": "sample text", "cls": "7"}
    assert items == [
        EncodedAudio("gs://b/s.tar#spk.utt1.flac", "gs://b/s.tar", b"F1", metadata=metadata),
        EncodedAudio("gs://b/s.tar#spk.utt2.flac", "gs://b/s.tar", b"F2", metadata=metadata),
        EncodedAudio("gs://b/s.tar#next.wav", "gs://b/s.tar", b"W"),
    ]


def test_a_link_input_gets_its_samples_metadata():
    stream = _tar_with_links([("a.wav", b"A"), ("b.wav", ("hard", "a.wav")), ("b.txt", b"for b")])
    items = {item.key: item.metadata for item in tar_shard_inputs(stream, "s.tar")}
    assert items == {"s.tar#a.wav": None, "s.tar#b.wav": {"txt": "for b"}}


@pytest.mark.parametrize(
    "name, data, message", [("a.json", b"{not json", "is not UTF-8 json"), ("a.txt", b"\xff\xfe", "is not UTF-8 txt")]
)
def test_a_broken_metadata_member_makes_its_samples_inputs_bad(tmp_path, name, data, message):
    (item,) = _inputs(tmp_path, {"a.wav": b"A", name: data})
    assert isinstance(item, BadInput) and item.key == "gs://b/s.tar#a.wav" and message in str(item.error)


def test_a_large_member_of_an_uncompressed_tar_is_streamed_from_its_byte_range(tmp_path):
    path = write_tar(tmp_path / "s.tar", {"small.wav": b"s" * 10, "big.wav": b"B" * 3000})
    limits = ReadLimits(max_member_bytes=100)
    with open(path, "rb") as stream:
        small, big = tar_shard_inputs(stream, str(path), limits=limits, compressed=False)
    assert small.data == b"s" * 10 and big.data is None
    offset, size = big.byte_range
    assert size == 3000 and path.read_bytes()[offset : offset + size] == b"B" * 3000


def test_a_large_member_of_a_compressed_tar_is_a_bad_input_naming_the_cap(tmp_path):
    members = {"big.wav": b"B" * 3000, "meta.txt": b"t" * 3000, "meta.wav": b"m", "next.wav": b"n"}
    write_tar(tmp_path / "s.tar", members)
    packed = gzip.compress((tmp_path / "s.tar").read_bytes())
    limits = ReadLimits(max_member_bytes=100)
    big, meta, after = tar_shard_inputs(io.BytesIO(packed), "s.tgz", limits=limits, compressed=False)
    assert isinstance(big, BadInput) and "holds 3000 bytes, over the cap of 100 (--max_member_bytes)" in str(big.error)
    assert isinstance(meta, BadInput) and "'meta.txt' of sample 'meta' holds 3000 bytes, over the cap" in str(
        meta.error
    )
    assert isinstance(after, EncodedAudio) and after.data == b"n"  # tarfile found the gzip itself


def test_a_deep_json_member_spoils_its_sample_only_and_decompression_is_capped(tmp_path):
    members = {"a.json": b"[" * 70 + b"]" * 70, "a.wav": b"A", "b.wav": b"B", "c.wav": b"C" * 4000}
    write_tar(tmp_path / "s.tar", members)
    packed = gzip.compress((tmp_path / "s.tar").read_bytes())
    items = tar_shard_inputs(io.BytesIO(packed), "s.tgz", limits=ReadLimits(max_decompressed_bytes=3000))
    bad, good = next(items), next(items)
    assert isinstance(bad, BadInput) and "nests 70 deep, over the cap of 64" in str(bad.error)
    assert good.data == b"B"
    with pytest.raises(ValueError, match="'c.wav' ends [0-9]+ bytes into the decompressed tar, past the cap of 3000"):
        next(items)
