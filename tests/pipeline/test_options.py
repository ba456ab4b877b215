"""Tests for pipeline/options.py: flag parsing, defaults, and launch-time checks."""

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from gemma4_audio_embed.pipeline.options import EmbedOptions
from gemma4_audio_embed.pipeline.options import check_embed_options
from gemma4_audio_embed.pipeline.options import check_flags_known
from gemma4_audio_embed.pipeline.options import check_inputs_exist
from gemma4_audio_embed.pipeline.options import input_patterns
from gemma4_audio_embed.pipeline.options import keras_backend
from gemma4_audio_embed.pipeline.options import share_model_across_processes


def _options(*flags):
    return PipelineOptions(list(flags)).view_as(EmbedOptions)


def test_defaults():
    options = _options("--input", "a.wav", "--output", "out/x")
    assert (options.input_format, options.output_layer, options.output_dtype, options.compute_dtype) == (
        "auto",
        "lm",
        "float32",
        "float32",
    )
    assert (options.max_clip_seconds, options.min_clip_seconds, options.num_shards) == (30.0, 0.0, 0)
    assert options.bucket_seconds == (3.0, 6.0, 10.0, 15.0, 22.0)
    assert options.max_batch_frames == "auto"
    assert options.features_on_device is None  # decided per worker: on with a GPU or TPU
    assert (options.hf_checkpoint, options.weights, options.seed) == (None, None, 0)


MULTI_PROCESS = ("--direct_running_mode=multi_processing", "--direct_num_workers=2")


@pytest.mark.parametrize(
    "flags, shared",
    [
        ((), False),  # the in-process FnApiRunner: one SDK process
        (MULTI_PROCESS, True),
        (("--direct_running_mode=multi_processing", "--direct_num_workers=0"), True),  # one per core
        (("--direct_running_mode=multi_processing", "--direct_num_workers=1"), False),
        (("--runner=DataflowRunner",), True),  # one SDK process per vCPU
        (("--runner=DataflowRunner", "--experiments=no_use_multiple_sdk_containers"), False),
        (("--runner=PortableRunner",), False),
    ],
)
def test_model_is_shared_by_default_where_a_machine_runs_several_sdk_processes(flags, shared):
    assert share_model_across_processes(_options(*flags)) is shared


def test_share_model_flags_override_the_runner_default():
    assert share_model_across_processes(_options("--share_model_across_processes")) is True
    assert share_model_across_processes(_options(*MULTI_PROCESS, "--no_share_model_across_processes")) is False


def test_beam_flags_pass_through():
    options = PipelineOptions(["--input", "a.wav", "--runner", "DataflowRunner", "--project", "p"])
    assert options.get_all_options()["runner"] == "DataflowRunner"
    assert options.get_all_options()["project"] == "p"


def test_comma_separated_inputs_and_bucket_seconds():
    options = _options("--input", "gs://b/*.tar, local/*.wav,", "--bucket_seconds", "3,9.5")
    assert input_patterns(options) == ["gs://b/*.tar", "local/*.wav"]
    assert options.bucket_seconds == (3.0, 9.5)


def test_keras_backend_flag_then_environment_then_tensorflow(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert keras_backend(_options()) == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert keras_backend(_options()) == "jax"
    assert keras_backend(_options("--keras_backend", "torch")) == "torch"


@pytest.mark.parametrize(
    "flags, message",
    [
        ([], "--input is required"),
        (["--input", "a.wav"], "--output is required"),
        (["--input", "a", "--output", "o", "--weights", "w.keras", "--hf_checkpoint", "c"], "at most one of"),
        (
            ["--input", "a", "--output", "o", "--max_clip_seconds", "0"],
            r"--max_clip_seconds must lie in \[0.0100625, 3600\] s",
        ),
        (["--input", "a", "--output", "o", "--max_clip_seconds", "inf"], "--max_clip_seconds must lie in"),
        (["--input", "a", "--output", "o", "--max_clip_seconds", "3600.5"], "Received: 3600.5"),
        (["--input", "a", "--output", "o", "--bucket_seconds", "0"], "--bucket_seconds must be positive and finite"),
        (["--input", "a", "--output", "o", "--bucket_seconds", "nan"], "--bucket_seconds must be positive and finite"),
        (["--input", "a", "--output", "o", "--bucket_seconds", "inf"], "--bucket_seconds must be positive and finite"),
        (
            ["--input", "a", "--output", "o", "--max_batch_frames", "3023"],
            "--max_batch_frames must hold at least one row of 3024 frames",
        ),
        (["--input", "a", "--output", "o", "--weights", ""], "--weights is empty"),
        (["--input", "a", "--output", "o", "--dedup", "--skip_existing"], "--dedup and --skip_existing do not combine"),
        (["--input", "a", "--output", "o", "--min_clip_seconds", "31"], "--min_clip_seconds must lie in"),
        (["--input", "a", "--output", "o", "--num_shards", "-1"], "--num_shards"),
    ],
)
def test_check_embed_options_names_the_flag(flags, message):
    with pytest.raises(ValueError, match=message):
        check_embed_options(_options(*flags))


def test_check_inputs_exist(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"")
    check_inputs_exist(_options("--input", f"{tmp_path}/*.wav"))
    with pytest.raises(ValueError, match=r"--input pattern '.*\*.flac' matches no file"):
        check_inputs_exist(_options("--input", f"{tmp_path}/*.wav,{tmp_path}/*.flac"))


def test_a_folder_given_as_input_is_a_launch_error_naming_its_glob(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"")
    with pytest.raises(
        ValueError, match=rf"--input '{tmp_path}' is a folder; to read the files in it, give {tmp_path}/\*"
    ):
        check_inputs_exist(_options("--input", str(tmp_path)))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--compute-dtype", "bfloat16"], r"'--compute-dtype' \(did you mean --compute_dtype\?\), 'bfloat16'"),
        (["--inptu", "x"], r"'--inptu' \(did you mean --input\?\)"),
        (["--input", "a/x.wav", "a/y.wav"], r"unrecognized arguments: 'a/y.wav'\. Quote a glob"),  # an unquoted glob
        (["--direct_running_mode", "bogus"], "argument --direct_running_mode: invalid choice: 'bogus'"),
    ],
    ids=["typo", "misspelled_input", "stray_word", "bad_beam_value"],
)
def test_arguments_neither_the_job_nor_beam_knows_stop_the_launch(argv, message):
    with pytest.raises(ValueError, match=message):
        check_flags_known(["--output", "o", *argv])


def test_beam_flags_and_job_flags_are_known():
    check_flags_known(
        ["--input", "a", "--output", "o", "--runner", "FnApiRunner", "--direct_num_workers=2", "--experiments=x",
         "--project", "p", "--region", "r", "--temp_location", "gs://b/t", "--compute_dtype", "bfloat16"]
    )  # fmt: skip


@pytest.mark.parametrize(
    "output, message",
    [
        ("/", "names a folder"),
        ("dir/", "names a folder; it is the prefix of file names: give one inside it, e.g. --output dir/embeddings"),
        (" ", "without surrounding spaces"),
        ("out/x ", "without surrounding spaces"),
        ("out/..", "names a folder"),
        ("gs://bucket", "is a bucket; give a prefix inside it"),
        ("gs://bucket/", "names a folder"),
    ],
)
def test_an_output_that_is_no_file_name_prefix_stops_the_launch(output, message):
    with pytest.raises(ValueError, match=message):
        check_embed_options(_options("--input", "a", "--output", output))


def test_an_existing_folder_as_output_stops_the_launch(tmp_path):
    with pytest.raises(ValueError, match="names a folder"):
        check_embed_options(_options("--input", "a", "--output", str(tmp_path)))


def test_an_input_pattern_that_would_read_the_outputs_back_stops_the_launch(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"")
    check_inputs_exist(_options("--input", f"{tmp_path}/*.wav", "--output", f"{tmp_path}/run"))  # *.wav: no output
    with pytest.raises(ValueError, match=rf"--input pattern '{tmp_path}/\*' matches the job's own output files"):
        check_inputs_exist(_options("--input", f"{tmp_path}/*", "--output", f"{tmp_path}/run"))
    with pytest.raises(ValueError, match="matches the job's own output files"):
        check_inputs_exist(_options("--input", f"{tmp_path}/**", "--output", f"{tmp_path}/sub/run"))


def test_inputs_outside_the_allowed_roots_and_a_missing_input_list_stop_the_launch(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.wav").write_bytes(b"")
    (tmp_path / "other.wav").write_bytes(b"")
    roots = ["--allowed_roots", str(tmp_path / "corpus")]
    check_inputs_exist(_options("--input", f"{tmp_path}/corpus/*.wav", *roots))
    with pytest.raises(ValueError, match="lies outside --allowed_roots"):
        check_inputs_exist(_options("--input", f"{tmp_path}/other.wav", *roots))
    with pytest.raises(ValueError, match="--input_list '.*absent.txt' does not exist"):
        check_inputs_exist(_options("--input_list", str(tmp_path / "absent.txt")))
    check_embed_options(_options("--input_list", str(tmp_path / "absent.txt"), "--output", "o"))  # no --input needed


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--max_member_bytes", "0"], "--max_member_bytes must be a positive int"),
        (["--min_sample_rate", "0"], "--min_sample_rate and --max_sample_rate must satisfy 0 < min <= max"),
        (["--min_sample_rate", "9000", "--max_sample_rate", "8000"], "must satisfy 0 < min <= max"),
    ],
)
def test_bad_caps_stop_the_launch(flags, message):
    with pytest.raises(ValueError, match=message):
        check_embed_options(_options("--input", "a", "--output", "o", *flags))
