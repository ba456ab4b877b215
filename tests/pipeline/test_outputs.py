"""Outputs for LM training, end to end: metadata passthrough, the index, content hashes, `--dedup`, ArrayRecord.

Corpus (tiny encoder of tests/conftest.py, 16 kHz tones): clip S (1.0 s) stored three times, as
`same.wav`, `same.flac` and as member `u1.wav` of `shard.tar`; four other clips, one per other
input format, each with metadata beside it in its format's way, non-ASCII text included; and a
manifest line whose `big` field (70 000 characters) is over the 64 KiB metadata cap. With
`--dedup` S is embedded once (under the smallest key, `.../same.flac@0`), so 5 records are
written from 7 clips, 2 clips are listed as duplicates and 1 input is a dead letter.
"""

import json
import pathlib
import shutil

import numpy as np
import pyarrow
import pyarrow.parquet
import pytest
from accounting import accounted_outputs
from record_bytes import record_bytes_by_key
from synthetic_audio import audio_bytes
from synthetic_audio import ffmpeg_reference
from synthetic_audio import tone
from synthetic_audio import write_manifest
from synthetic_audio import write_tar
from synthetic_audio import write_tfrecord

from gemma4_audio_embed import records
from gemma4_audio_embed.audio.clips import window_sha256
from gemma4_audio_embed.outputs import schema
from gemma4_audio_embed.outputs.record_files import write_record_file
from gemma4_audio_embed.pipeline.cli import run
from gemma4_audio_embed.records import record_file_payloads

FAST_FLAGS = ["--runner", "FnApiRunner", "--bucket_seconds", "4", "--num_shards", "2"]
SAME = np.round(tone(1.0, 16000, seed=1) * 32767).astype(np.int16)  # 16-bit samples: WAV and FLAC hold them exactly
TAR_TEXT = "héllo wörld ✓"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Returns (folder, --input, {input key: the metadata its records carry})."""
    folder = tmp_path_factory.mktemp("outputs") / "in"
    folder.mkdir()
    wav = audio_bytes(SAME, 16000)
    (folder / "same.wav").write_bytes(wav)
    (folder / "same.flac").write_bytes(audio_bytes(SAME, 16000, format="FLAC"))
    shard = write_tar(
        folder / "shard.tar",
        {
            "u1.txt": TAR_TEXT.encode(),  # before its audio member
            "u1.wav": wav,
            "u1.json": json.dumps({"language": "fr", "speaker": "Zoë"}).encode(),  # after it
            "u2.flac": audio_bytes(tone(1.2, 16000, seed=2), 16000, format="FLAC"),
            "u2.cls": b"3",
            "u2.jpg": b"\xff\xd8 not read",
        },
    )
    (folder / "m.wav").write_bytes(audio_bytes(tone(1.1, 16000, seed=3), 16000))
    manifest = write_manifest(
        folder / "list.jsonl",
        [
            {"audio_filepath": "m.wav", "id": "m1", "text": "日本語のテキスト", "language": "ja", "duration": 1.1},
            {"audio_filepath": "m.wav", "id": "m2", "big": "x" * 70000},
        ],
    )
    parquet = folder / "shard.parquet"
    audio_type = pyarrow.struct([("bytes", pyarrow.binary()), ("path", pyarrow.string())])
    table = pyarrow.table(
        {
            "audio": pyarrow.array([{"bytes": audio_bytes(tone(1.3, 16000, seed=4), 16000), "path": None}], audio_type),
            "id": ["p1"],
            "sentence": ["Ünïcødé sentence"],
            "score": [0.5],
            "tags": [["a", "b"]],
            "blob": pyarrow.array([b"\x00\x01"], pyarrow.binary()),  # binary: left out
        }
    )
    pyarrow.parquet.write_table(table, parquet)
    tfrecord = write_tfrecord(
        folder / "shard.tfrecord",
        [{"audio": audio_bytes(tone(0.9, 16000, seed=5), 16000), "id": b"t1", "text": "straße".encode(), "n": 7}],
    )
    expected = {
        f"{folder}/same.wav": {},
        f"{folder}/same.flac": {},
        f"{shard}#u1.wav": {"txt": TAR_TEXT, "language": "fr", "speaker": "Zoë"},
        f"{shard}#u2.flac": {"cls": "3"},
        f"{manifest}#m1": {"id": "m1", "text": "日本語のテキスト", "language": "ja"},
        f"{parquet}#p1": {"id": "p1", "sentence": "Ünïcødé sentence", "score": 0.5, "tags": ["a", "b"]},
        f"{tfrecord}#t1": {"id": "t1", "text": "straße", "n": 7},
    }
    inputs = ",".join(
        str(folder / name)
        for name in ["same.wav", "same.flac", "shard.tar", "list.jsonl", "shard.parquet", "shard.tfrecord"]
    )
    return folder, inputs, expected


def _run(corpus, tiny_encoder_path, output, *flags):
    _, inputs, _ = corpus
    run(["--input", inputs, "--output", str(output), "--weights", str(tiny_encoder_path), *FAST_FLAGS, *flags])
    return str(output)


@pytest.fixture(scope="module")
def dedup_run(corpus, tiny_encoder_path, tmp_path_factory):
    output = _run(corpus, tiny_encoder_path, tmp_path_factory.mktemp("dedup") / "emb", "--dedup")
    found, dead, summary = accounted_outputs(output)
    return output, found, dead, summary


@pytest.fixture(scope="module")
def array_record_run(corpus, tiny_encoder_path, tmp_path_factory):
    output = _run(
        corpus, tiny_encoder_path, tmp_path_factory.mktemp("ar") / "emb", "--dedup", "--output_format", "array_record"
    )
    accounted_outputs(output, f"{output}-*-of-*.array_record")
    return output


def test_metadata_comes_back_from_read_records_unicode_intact(corpus, dedup_run):
    _, _, expected = corpus
    _, found, _, _ = dedup_run
    by_input = {record.key.rsplit("@", 1)[0]: record.metadata for record in found}
    assert by_input == {key: value for key, value in expected.items() if key in by_input}
    assert len(by_input) == 5  # same.wav and shard.tar#u1.wav were deduplicated


def test_metadata_comes_back_from_tf_parse_example(corpus, dedup_run):
    tf = pytest.importorskip("tensorflow")
    _, _, expected = corpus
    output, _, _, _ = dedup_run
    files = tf.io.gfile.glob(f"{output}-*-of-*.tfrecord")
    parse = lambda serialized: records.tf_parse_example(serialized, metadata_fields=("text", "n"))  # noqa: E731
    parsed = {item["key"].numpy().decode(): item for item in tf.data.TFRecordDataset(files).map(parse)}
    for key, item in parsed.items():
        metadata = expected[key.rsplit("@", 1)[0]]
        assert json.loads(item["metadata"].numpy().decode("utf-8")) == metadata
        assert item["metadata/text"].numpy().decode("utf-8") == metadata.get("text", "")
        assert item["metadata/n"].numpy().decode() == ("7" if "n" in metadata else "")


def test_an_oversized_field_is_a_dead_letter_naming_it(corpus, dedup_run):
    folder, _, _ = corpus
    _, _, dead, _ = dedup_run
    (entry,) = dead
    assert (entry["key"], entry["stage"]) == (f"{folder}/list.jsonl#m2", "read")
    assert "'big'" in entry["error"] and "65536" in entry["error"]


def test_same_audio_in_three_containers_hashes_once_and_is_embedded_once(corpus, dedup_run):
    folder, _, _ = corpus
    output, found, _, summary = dedup_run
    duplicates = [
        json.loads(line)
        for path in pathlib.Path(output).parent.glob("emb-duplicates-*.jsonl")
        for line in path.read_text().splitlines()
    ]
    kept = next(record for record in found if record.key == f"{folder}/same.flac@0")
    assert sorted((entry["key"], entry["duplicate_of"], entry["audio_sha256"]) for entry in duplicates) == [
        (f"{folder}/same.wav@0", kept.key, kept.audio_sha256),
        (f"{folder}/shard.tar#u1.wav@0", kept.key, kept.audio_sha256),
    ]
    assert kept.audio_sha256 == window_sha256(ffmpeg_reference(audio_bytes(SAME, 16000)))  # the decoded window
    assert len({record.audio_sha256 for record in found}) == len(found) == summary["records"] == 5
    assert (summary["clips"], summary["repeated_audio"]) == (7, 2)


def test_index_has_one_row_per_record_with_metadata_columns(dedup_run):
    output, found, _, _ = dedup_run
    table = pyarrow.parquet.read_table(sorted(pathlib.Path(output).parent.glob("emb-index-*-of-00002.parquet")))
    rows = sorted(table.to_pylist(), key=lambda row: row["key"])
    assert [(row["key"], row["num_tokens"], row["audio_sha256"]) for row in rows] == [
        (record.key, record.num_tokens, record.audio_sha256) for record in found
    ]
    assert table.schema.field("language").type == pyarrow.string()
    assert table.schema.field("score").type == pyarrow.float64()
    assert "tags" not in table.schema.names  # a list: only in the `metadata` column
    assert table.schema.field("id").type == pyarrow.string() and table.schema.field("n").type == pyarrow.int64()
    languages = {row["key"].rsplit("@", 1)[0].rsplit("#", 1)[-1]: row["language"] for row in rows}
    assert languages["m1"] == "ja" and languages["p1"] is None


def test_array_record_holds_the_tfrecord_runs_records_byte_for_byte(dedup_run, array_record_run):
    output, _, _, _ = dedup_run
    tfrecord = record_bytes_by_key(sorted(pathlib.Path(output).parent.glob("emb-*-of-*.tfrecord")))
    array_record = {}
    for path in sorted(pathlib.Path(array_record_run).parent.glob("emb-*-of-*.array_record")):
        array_record.update({schema.decoded_example(p).key: p for p in record_file_payloads(str(path))})
    assert array_record == tfrecord


def test_array_record_reads_back_with_grain_random_access_and_global_shuffle(array_record_run):
    grain = pytest.importorskip("grain")
    paths = [str(p) for p in sorted(pathlib.Path(array_record_run).parent.glob("emb-*-of-*.array_record"))]
    source = grain.sources.ArrayRecordDataSource(paths)
    assert len(source) == 5
    assert schema.decoded_example(source[4]).embedding.shape[1] == 64
    dataset = grain.MapDataset.source(source).shuffle(seed=0).map(schema.decoded_example)
    keys = [record.key for record in dataset]
    assert sorted(keys) == sorted(schema.decoded_example(source[i]).key for i in range(5))


def test_metadata_fields_keeps_only_the_named_fields(corpus, tiny_encoder_path, tmp_path):
    _, _, expected = corpus
    output = _run(corpus, tiny_encoder_path, tmp_path / "emb", "--metadata_fields", "text,language,big")
    found, dead, summary = accounted_outputs(output)
    # Without --dedup all three copies of clip S are embedded, with one hash, and counted.
    copies = [record for record in found if record.key.endswith(("same.wav@0", "same.flac@0", "u1.wav@0"))]
    assert len(copies) == 3 and len({record.audio_sha256 for record in copies}) == 1
    assert (summary["records"], summary["repeated_audio"]) == (7, 2)
    assert {record.key.rsplit("@", 1)[0]: record.metadata for record in found} == {
        key: {name: value for name, value in metadata.items() if name in ("text", "language")}
        for key, metadata in expected.items()
    }
    assert [entry["key"].rsplit("#", 1)[-1] for entry in dead] == ["m2"]  # `big` kept, so still over the cap


def test_record_files_write_to_gcs_through_a_local_file(gcs_bucket):
    payloads = [b"first", "second ✓".encode()]
    for suffix in (".array_record", ".tfrecord"):
        path = f"{gcs_bucket}/out/records-00000-of-00001{suffix}"
        assert write_record_file(path, payloads) == 2
        assert list(record_file_payloads(path)) == payloads


def test_verify_passes_on_both_formats_and_names_a_flipped_byte_in_array_record(dedup_run, array_record_run, tmp_path):
    from gemma4_audio_embed.pipeline import verify

    assert verify.verify(dedup_run[0])[1] == []
    assert verify.verify(array_record_run)[1] == []
    shutil.copytree(pathlib.Path(array_record_run).parent, tmp_path / "out")
    shard = max(
        (tmp_path / "out").glob("emb-*-of-*.array_record"), key=lambda path: path.stat().st_size
    )  # a shard with records
    data = bytearray(shard.read_bytes())
    data[100] ^= 0x01  # inside the first chunk's header
    shard.write_bytes(bytes(data))
    (violation,) = verify.verify(str(tmp_path / "out" / "emb"))[1][:1]
    assert violation.startswith("VIOLATION framing:") and "hash mismatch" in violation


def test_the_readme_index_queries(dedup_run):
    import pyarrow.compute as pc

    output, _, _, _ = dedup_run
    index = pyarrow.parquet.read_table(sorted(str(p) for p in pathlib.Path(output).parent.glob("emb-index-*.parquet")))
    seconds = {
        row["language"]: row["duration_seconds_sum"]
        for row in index.group_by("language").aggregate([("duration_seconds", "sum")]).to_pylist()
    }
    # Kept clips: same.flac 1.0 s, u2.flac 1.2 s, p1 1.3 s, t1 0.9 s without a language; m1 1.1 s "ja".
    assert seconds == {"ja": pytest.approx(1.1), None: pytest.approx(1.0 + 1.2 + 1.3 + 0.9)}
    long = index.filter(pc.greater(index["duration_seconds"], 1.15)).select(["key", "duration_seconds"])
    assert sorted(long["key"].to_pylist()) == sorted(
        key for key in index["key"].to_pylist() if key.endswith(("u2.flac@0", "#p1@0"))
    )


def test_the_readme_index_queries_in_pandas(dedup_run):
    import pandas as pd

    output, _, _, _ = dedup_run
    paths = sorted(str(p) for p in pathlib.Path(output).parent.glob("emb-index-*.parquet"))
    index = pd.concat(pd.read_parquet(path) for path in paths)
    hours = index.groupby("language").duration_seconds.sum() / 3600  # as in the README; NaN languages dropped
    assert hours.to_dict() == {"ja": pytest.approx(1.1 / 3600)}
    long = index[index.duration_seconds > 1.15][["key", "duration_seconds"]]
    assert sorted(long.key) == sorted(key for key in index.key if key.endswith(("u2.flac@0", "#p1@0")))
