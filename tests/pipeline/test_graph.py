"""Tests for pipeline/graph.py: the step labels (they name metrics and Dataflow stages) and the files they write."""

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from gemma4_audio_embed.pipeline.graph import build_graph
from gemma4_audio_embed.pipeline.options import EmbedOptions
from gemma4_audio_embed.pipeline.options import output_layout

STEPS = [
    "MatchInputs",
    "ReshuffleFiles",
    "ReadInputs",
    "ReshuffleInputs",
    "DecodeAudio",
    "CountRepeatedAudio",
    "ComputeFeatures",
    "PackClips",
    "Embed",
    "SeparateFailedClips",
    "EncodeRecords",
    "WriteRecords",
    "RecordKeys",
    "FlattenInferenceFailures",
    "WriteDeadLetters",
    "FlattenTallies",
    "CheckOutput",
    "KeptFiles",
    "CommitOutput",
    "WriteSummary",
]


def test_graph_has_the_documented_steps():
    options = PipelineOptions(["--input", "a.wav", "--output", "out/x", "--keras_backend", "jax"])
    pipeline = beam.Pipeline(options=options)
    build_graph(pipeline, options.view_as(EmbedOptions))
    top_level = [label for label in pipeline.applied_labels if "/" not in label]
    assert sorted(top_level) == sorted(STEPS)


def test_record_suffix():
    assert output_layout(PipelineOptions([]).view_as(EmbedOptions)).suffix == ".tfrecord"
    gzip = PipelineOptions(["--output_compression", "gzip"]).view_as(EmbedOptions)
    assert output_layout(gzip).suffix == ".tfrecord.gz"


def test_skip_existing_graph_filters_inputs_and_writes_one_file_per_input():
    options = PipelineOptions(["--input", "a.wav", "--output", "out/x", "--keras_backend", "jax", "--skip_existing"])
    pipeline = beam.Pipeline(options=options)
    build_graph(pipeline, options.view_as(EmbedOptions))
    top_level = [label for label in pipeline.applied_labels if "/" not in label]
    assert sorted(top_level) == sorted(STEPS + ["SkipCompletedInputs"])


def test_dedup_replaces_the_repeat_count():
    options = PipelineOptions(["--input", "a.wav", "--output", "out/x", "--keras_backend", "jax", "--dedup"])
    pipeline = beam.Pipeline(options=options)
    build_graph(pipeline, options.view_as(EmbedOptions))
    top_level = [label for label in pipeline.applied_labels if "/" not in label]
    assert sorted(top_level) == sorted([step for step in STEPS if step != "CountRepeatedAudio"] + ["Deduplicate"])


def test_records_glob_names_the_files_each_mode_writes():
    assert (
        output_layout(PipelineOptions(["--output", "o/x"]).view_as(EmbedOptions)).records_glob == "o/x-*-of-*.tfrecord"
    )
    skip = PipelineOptions(["--output", "o/x", "--skip_existing", "--output_compression", "gzip"])
    assert output_layout(skip.view_as(EmbedOptions)).records_glob == "o/x-by-input/*.tfrecord.gz"
