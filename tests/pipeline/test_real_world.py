"""Every row of tests/data/real_world/CASES.md: files shaped like public bug reports, each with its right result.

One run of the real graph over the whole folder (tiny encoder), then one test per fault kind,
read back through the public NumPy reader. Counts are 16 kHz samples (`duration_seconds` x
16000); lossy formats may differ by 0.08 s (1280 samples) for encoder delay and padding.
"""

import pathlib

import pytest
from accounting import accounted_outputs

from gemma4_audio_embed.pipeline.cli import run

CORPUS = pathlib.Path(__file__).resolve().parents[1] / "data" / "real_world"
LOSSY_SAMPLES = 1280  # 0.08 s at 16 kHz


@pytest.fixture(scope="module")
def real_world_run(tmp_path_factory, tiny_encoder_path):
    """({input key relative to the corpus: [16 kHz sample count per record]}, dead letters, summary)."""
    output = str(tmp_path_factory.mktemp("real_world") / "emb")
    patterns = f"{CORPUS}/*.*,{CORPUS}/manifest_audio/manifest_gzipped.jsonl.gz"
    run(["--input", patterns, "--output", output, "--weights", str(tiny_encoder_path), "--runner", "FnApiRunner"])
    found, dead, summary = accounted_outputs(output)
    samples = {}
    for record in found:
        input_key = record.key.rsplit("@", 1)[0].removeprefix(f"{CORPUS}/")
        samples.setdefault(input_key, []).append(round(record.duration_seconds * 16000))
    return samples, dead, summary


def test_vbr_mp3_without_a_xing_header_decodes_whole(real_world_run):
    (count,) = real_world_run[0]["mp3_vbr_no_xing_loud_then_silence.mp3"]
    assert abs(count - 184738) <= LOSSY_SAMPLES  # 11.55 s; the header's estimate said 2.0 s


def test_chained_ogg_decodes_every_link(real_world_run):
    (count,) = real_world_run[0]["ogg_vorbis_chained_2_links_same_format.ogg"]
    assert abs(count - 80256) <= LOSSY_SAMPLES  # both links; the first alone is 48000


def test_wav_whose_streaming_recorder_left_sizes_at_zero_decodes_whole(real_world_run):
    assert real_world_run[0]["wav_streaming_sizes_zero.wav"] == [48000]


def test_flac_written_to_a_pipe_with_an_unknown_total_decodes_whole(real_world_run):
    assert real_world_run[0]["flac_streaminfo_total_samples_0.flac"] == [48000]


def test_aac_in_an_m4a_container_decodes(real_world_run):
    (count,) = real_world_run[0]["m4a_aac_16k_4s.m4a"]
    assert abs(count - 64512) <= LOSSY_SAMPLES


def test_opus_in_a_webm_container_decodes(real_world_run):
    (count,) = real_world_run[0]["webm_opus_3s.webm"]
    assert abs(count - 48000) <= LOSSY_SAMPLES


def test_tar_members_with_dots_in_their_base_names_are_each_an_input(real_world_run):
    members = {key.partition("#")[2] for key in real_world_run[0] if key.startswith("tar_wds_multidot_keys.tar#")}
    assert len(members) == 4
    assert {"spk1.utt1.flac", "spk1.utt2.flac", "235342 Track 2.0 (Clean Version).flac"} <= members


def test_parquet_repeated_and_special_ids_give_distinct_keys(real_world_run):
    keys = [key for key in real_world_run[0] if key.startswith("parquet_duplicate_and_special_ids.parquet#")]
    assert len(keys) == 5  # five rows, five records: `dup` twice, `spk#1`, `take@2`, a null id
    assert real_world_run[2]["repeated_ids"] == 1


def test_manifest_with_a_utf8_byte_order_mark_reads_its_first_line(real_world_run):
    found = real_world_run[0]
    assert found["manifest_utf8_bom.jsonl#bom_first"] == found["manifest_utf8_bom.jsonl#bom_second"] == [32000]


def test_gzipped_manifest_reads_its_relative_path(real_world_run):
    assert real_world_run[0]["manifest_audio/manifest_gzipped.jsonl.gz#gz0"] == [32000]


def test_parquet_with_the_decoded_array_and_sampling_rate_layout(real_world_run):
    found = real_world_run[0]
    shard = "parquet_audio_array_sampling_rate_struct.parquet"
    assert {key: found[key] for key in found if key.startswith(shard)} == {
        f"{shard}#arr_000": [16000],
        f"{shard}#arr_001": [16000],  # 22.05 kHz; its `path` does not exist, the array wins
    }


def test_only_the_case_table_itself_is_a_dead_letter(real_world_run):
    _, dead, summary = real_world_run
    assert [(entry["key"].removeprefix(f"{CORPUS}/"), entry["stage"]) for entry in dead] == [("CASES.md", "decode")]
    assert (summary["inputs"], summary["records"]) == (21, 20)
