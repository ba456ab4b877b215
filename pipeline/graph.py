"""The job's graph: read -> decode -> features -> batch -> infer -> write, with dead letters beside it."""

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.ml.inference.base import KeyedModelHandler
from apache_beam.ml.inference.base import RunInference

from pipeline.options import EmbedOptions
from pipeline.options import input_patterns
from pipeline.options import keras_backend
from pipeline.options import share_model_across_processes
from transforms.compute_features import ComputeFeatures
from transforms.dead_letters import DEAD_LETTER_TAG
from transforms.dead_letters import WriteDeadLetters
from transforms.decode_audio import DecodeAudio
from transforms.encode_record import EncodeRecord
from transforms.encoder_model_handler import EncoderModelHandler
from transforms.pack_clips import PackClips
from transforms.per_input_records import SkipCompletedInputs
from transforms.per_input_records import WriteRecordsPerInput
from transforms.per_input_records import completed_record_files
from transforms.read_inputs import MatchInputs
from transforms.read_inputs import ReadInputs
from transforms.row_packing import bucket_lengths


def record_suffix(options: EmbedOptions) -> str:
    """File suffix of the record shards: `.tfrecord`, or `.tfrecord.gz` with gzip."""
    return ".tfrecord.gz" if options.output_compression == "gzip" else ".tfrecord"


def records_pattern(options: EmbedOptions) -> str:
    """Glob of the record files a run writes: sharded, or one per input with `--skip_existing`."""
    if options.skip_existing:
        return f"{options.output}-by-input/*{record_suffix(options)}"
    return f"{options.output}-*-of-*{record_suffix(options)}"


def build_graph(pipeline: beam.Pipeline, options: EmbedOptions) -> None:
    """Adds the embedding job to `pipeline`, configured by `options`.

    Every per-input and per-clip step runs under `with_exception_handling`, so a bad file or
    clip becomes a dead letter of its stage and never fails the job or its batch-mates.
    Decoding runs with `partial=True` so windows of long files stream on as they are cut.
    With `--skip_existing`, inputs whose per-input record file exists are skipped and records
    go to one file per input (`transforms.per_input_records`) instead of sharded files.
    """
    lengths = bucket_lengths(options.bucket_seconds, options.max_clip_seconds)
    backend = keras_backend(options)
    handler = EncoderModelHandler(
        bucket_lengths=lengths,
        max_batch_frames=options.max_batch_frames,
        keras_backend=backend,
        hf_checkpoint=options.hf_checkpoint,
        weights=options.weights,
        keras_hub_preset=options.keras_hub_preset,
        seed=options.seed,
        compute_dtype=options.compute_dtype,
        output_layer=options.output_layer,
        share_across_processes=share_model_across_processes(options),
    )
    suffix = record_suffix(options)
    files = pipeline | "MatchInputs" >> MatchInputs(input_patterns(options))
    if options.skip_existing:
        completed = completed_record_files(options.output, suffix)
        files = files | "SkipCompletedInputs" >> beam.ParDo(SkipCompletedInputs(options.output, suffix, completed))
    inputs, read_failed = (
        files
        | "ReshuffleFiles" >> beam.Reshuffle()
        | "ReadInputs"
        >> beam.ParDo(
            ReadInputs(
                options.input_format,
                options.tfrecord_audio_feature,
                options.tfrecord_id_feature,
                options.parquet_audio_column,
                options.parquet_id_column,
                options.tfrecord_sample_rate,
            )
        ).with_exception_handling(dead_letter_tag=DEAD_LETTER_TAG, partial=True)
    )
    clips, decode_failed = (
        inputs
        | "ReshuffleInputs" >> beam.Reshuffle()
        | "DecodeAudio"
        >> beam.ParDo(DecodeAudio(options.max_clip_seconds)).with_exception_handling(
            dead_letter_tag=DEAD_LETTER_TAG, partial=True
        )
    )
    features, features_failed = clips | "ComputeFeatures" >> beam.ParDo(
        ComputeFeatures(backend, options.min_clip_seconds, options.features_on_device)
    ).with_exception_handling(dead_letter_tag=DEAD_LETTER_TAG)
    embeddings, inference_failed = (
        features
        | "PackClips" >> beam.ParDo(
            PackClips(lengths, options.max_batch_frames, backend, options.compute_dtype, options.features_on_device)
        )
        | "Embed" >> RunInference(KeyedModelHandler(handler).with_no_batching()).with_exception_handling()
    )
    records, output_failed = embeddings | "EncodeRecords" >> beam.ParDo(
        EncodeRecord(options.output_dtype)
    ).with_exception_handling(dead_letter_tag=DEAD_LETTER_TAG)
    if options.skip_existing:
        _ = records | "WriteRecordsPerInput" >> WriteRecordsPerInput(options.output, suffix)
    else:
        _ = records | "WriteRecords" >> beam.io.WriteToTFRecord(
            options.output,
            file_name_suffix=suffix,
            num_shards=options.num_shards,
            compression_type=(
                CompressionTypes.GZIP if options.output_compression == "gzip" else CompressionTypes.UNCOMPRESSED
            ),
        )
    _ = {
        "read": read_failed,
        "decode": decode_failed,
        "features": features_failed,
        "inference": inference_failed.failed_inferences,
        "output": output_failed,
    } | "WriteDeadLetters" >> WriteDeadLetters(options.output)
