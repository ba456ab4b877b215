"""Tests for pipeline/graph.py: the step labels (they name metrics and Dataflow stages) and suffixes."""

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.graph import build_graph
from pipeline.graph import record_suffix
from pipeline.graph import records_pattern
from pipeline.options import EmbedOptions

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
    "EncodeRecords",
    "WriteRecords",
    "WriteDeadLetters",
]


def test_graph_has_the_documented_steps():
    options = PipelineOptions(["--input", "a.wav", "--output", "out/x", "--keras_backend", "jax"])
    pipeline = beam.Pipeline(options=options)
    build_graph(pipeline, options.view_as(EmbedOptions))
    top_level = [label for label in pipeline.applied_labels if "/" not in label]
    assert sorted(top_level) == sorted(STEPS)


def test_record_suffix():
    assert record_suffix(PipelineOptions([]).view_as(EmbedOptions)) == ".tfrecord"
    assert (
        record_suffix(PipelineOptions(["--output_compression", "gzip"]).view_as(EmbedOptions))
        == ".tfrecord.gz"
    )


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


def test_records_pattern_names_the_files_each_mode_writes():
    assert records_pattern(PipelineOptions(["--output", "o/x"]).view_as(EmbedOptions)) == "o/x-*-of-*.tfrecord"
    skip = PipelineOptions(["--output", "o/x", "--skip_existing", "--output_compression", "gzip"])
    assert records_pattern(skip.view_as(EmbedOptions)) == "o/x-by-input/*.tfrecord.gz"
