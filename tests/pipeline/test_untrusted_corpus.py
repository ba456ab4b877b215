"""A corpus of hostile files, as scraped from the internet: each costs one dead letter, never the job.

One run of the real graph (tiny encoder, `--allowed_roots`, small caps passed as flags so the
bombs stay small) over a folder holding every hostile case of docs/security.md beside good
files, then one test per kind. Every file is made here; the largest is 200 KB.
"""

import gzip
import io
import json
import os
import struct
import tarfile

import numpy as np
import pyarrow
import pyarrow.parquet
import pytest
import soundfile
from accounting import accounted_outputs
from synthetic_audio import PCM_GUID
from synthetic_audio import audio_bytes
from synthetic_audio import riff_wave
from synthetic_audio import tone
from synthetic_audio import write_tar

from gemma4_audio_embed.pipeline.cli import run
from gemma4_audio_embed.tf_example import Example
from gemma4_audio_embed.tfrecord import tfrecord_frame

CAP = 100_000  # bytes: --max_member_bytes, --max_cell_bytes, --max_record_bytes
BIG = audio_bytes(tone(6.0), 16000)  # a 192 KB WAV, over the cap
SDP = b"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 5004 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n"


def _wav_24_in_32() -> bytes:
    data = (np.round(tone(1.0) * (2**23 - 1)).astype("<i4") << 8).tobytes()
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, 1, 16000, 64000, 4, 32, 22, 24, 4) + PCM_GUID
    return riff_wave(fmt, data)


def _example(**features) -> bytes:
    example = Example()
    for name, value in features.items():
        example.features.feature[name].bytes_list.value.append(value)
    return tfrecord_frame(example.SerializeToString())


def _write_corpus(corpus, listed):
    good = audio_bytes(tone(1.0), 16000)
    (corpus / "good.wav").write_bytes(good)
    (corpus / os.fsdecode(b"latin1-caf\xe9.wav")).write_bytes(audio_bytes(tone(1.0, seed=1), 16000))
    (corpus / "back\\slash.wav").write_bytes(audio_bytes(tone(1.0, seed=2), 16000))
    (listed / "comma,[1]*.wav").write_bytes(audio_bytes(tone(1.0, seed=3), 16000))
    (listed / "list.txt").write_text("comma,[1]*.wav\n")
    os.mkfifo(corpus / "fifo.wav")
    (corpus / "folder.wav").mkdir()
    os.symlink("/etc/passwd", corpus / "passwd.wav")
    os.symlink("/dev/zero", corpus / "zero.wav")
    (corpus / "sdp.wav").write_bytes(SDP)
    (corpus / "concat.wav").write_bytes(b"ffconcat version 1.0\nfile good.wav\n")
    seven_one = io.BytesIO()
    soundfile.write(seven_one, tone(1.0, 48000, channels=8), 48000, format="OGG", subtype="VORBIS")
    (corpus / "seven_one.ogg").write_bytes(seven_one.getvalue())
    one_hertz = bytearray(good)
    one_hertz[24:32] = struct.pack("<II", 1, 2)  # 1 Hz, 2 bytes a second
    (corpus / "one_hertz.wav").write_bytes(bytes(one_hertz))
    (corpus / "pcm24in32.wav").write_bytes(_wav_24_in_32())
    lines = [
        {"path": "good.wav", "id": "first"},
        '{"path": "good.wav", "deep": ' + "[" * 100 + "]" * 100 + "}",
        {"path": "/etc/hostname", "id": "secret"},
        {"path": "missing.wav", "id": "missing"},
        {"path": "good.wav", "text": "x" * 5000},
        {"path": "good.wav", "id": "after"},
    ]
    (corpus / "list.jsonl").write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    (corpus / "long.jsonl.gz").write_bytes(gzip.compress(b'{"path": "' + b"x" * 10000 + b'"}\n{"path": "good.wav"}\n'))
    write_tar(corpus / "shard.tar", {"big.wav": BIG, "small.wav": good})
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tar:
        for name, data in (("big.wav", BIG), ("small.wav", good)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (corpus / "bomb.tgz").write_bytes(tgz.getvalue())
    (corpus / "giant.tfrecord").write_bytes(_example(audio=BIG, id=b"big") + _example(audio=good, id=b"small"))
    table = pyarrow.table({"audio": pyarrow.array([BIG, good], pyarrow.binary()), "id": ["big", "small"]})
    pyarrow.parquet.write_table(table, corpus / "cells.parquet", row_group_size=1)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, tiny_encoder_path):
    """({input key relative to the corpus: records}, {relative key: dead letter}, summary)."""
    folder = tmp_path_factory.mktemp("untrusted")
    corpus, listed = folder / "corpus", folder / "listed"
    corpus.mkdir(), listed.mkdir()
    _write_corpus(corpus, listed)
    output = str(folder / "out" / "emb")
    caps = ["--max_member_bytes", str(CAP), "--max_cell_bytes", str(CAP), "--max_record_bytes", str(CAP)]
    run(
        ["--input", f"{corpus}/*", "--input_list", str(listed / "list.txt"), "--output", output]
        + ["--allowed_roots", f"{corpus},{listed}", "--max_manifest_line_bytes", "4096", *caps]
        + ["--weights", str(tiny_encoder_path), "--runner", "FnApiRunner", "--bucket_seconds", "4"]
    )
    found, dead, summary = accounted_outputs(output)

    def relative(key):
        return key.removeprefix(f"{corpus}/").removeprefix(f"{listed}/")

    records = {}
    for record in found:
        records.setdefault(relative(record.key.rsplit("@", 1)[0]), []).append(record)
    return records, {relative(entry["key"]): entry for entry in dead}, summary


def test_the_good_inputs_beside_the_hostile_ones_all_have_records(hostile_run):
    records, _, _ = hostile_run
    assert sorted(records) == sorted(
        [
            "good.wav",
            "latin1-caf%E9.wav",
            "back\\slash.wav",
            "comma,[1]*.wav",
            "seven_one.ogg",
            "pcm24in32.wav",
            "list.jsonl#first",
            "list.jsonl#after",
            "long.jsonl.gz#2",
            "shard.tar#big.wav",  # over --max_member_bytes in an uncompressed tar: streamed from its range
            "shard.tar#small.wav",
            "bomb.tgz#small.wav",
            "giant.tfrecord#small",
            "cells.parquet#small",
        ]
    )
    assert len(records["shard.tar#big.wav"]) == 1 and records["shard.tar#big.wav"][0].duration_seconds == 6.0


@pytest.mark.parametrize(
    "key, stage, error",
    [
        ("fifo.wav", "read", "is a FIFO (named pipe); the job reads regular files only"),
        ("folder.wav", "read", "is a folder"),
        ("passwd.wav", "read", "(a link to /etc/passwd) is outside --allowed_roots"),
        ("zero.wav", "read", "(a link to /dev/zero) lies under /dev, /proc, /sys"),
        ("sdp.wav", "decode", "FFmpeg reads it as 'sdp', which is not one of the audio containers"),
        ("concat.wav", "decode", "FFmpeg reads it as 'concat'"),
        ("one_hertz.wav", "decode", "declares a sample rate of 1 Hz, outside the range"),
        ("list.jsonl#2", "read", "Line 2: its JSON nests 101 deep, over the cap of 64 (--max_json_depth)"),
        ("list.jsonl#secret", "decode", "/etc/hostname is outside --allowed_roots"),
        ("list.jsonl#missing", "decode", "No such file or directory"),
        ("list.jsonl#5", "read", "Line 5: it is over 4096 bytes (--max_manifest_line_bytes)"),
        ("long.jsonl.gz#1", "read", "Line 1: it is over 4096 bytes"),
        ("bomb.tgz#big.wav", "read", f"over the cap of {CAP} (--max_member_bytes)"),
        ("giant.tfrecord#0", "read", f"over the cap of {CAP} (--max_record_bytes)"),
        ("cells.parquet#big", "read", f"over the cap of {CAP} bytes per cell (--max_cell_bytes)"),
    ],
)
def test_each_hostile_input_is_one_dead_letter_naming_what_it_is(hostile_run, key, stage, error):
    _, dead, _ = hostile_run
    assert (dead[key]["stage"], error in dead[key]["error"]) == (stage, True), dead[key]["error"]


def test_no_record_holds_a_private_file_and_the_summary_counts_the_undecodable_name(hostile_run):
    records, dead, summary = hostile_run
    assert len(dead) == 15 and summary["dead_letters"] == 15
    assert summary["undecodable_names"] == 1
    assert all(record.source.encode("utf-8") for found in records.values() for record in found)
    assert not [record for found in records.values() for record in found if "/etc/" in record.source]
