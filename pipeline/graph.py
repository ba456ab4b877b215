"""The job's graph: read -> decode -> features -> batch -> infer -> write, with dead letters beside it."""

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler
from apache_beam.ml.inference.base import RunInference

from pipeline.options import EmbedOptions
from pipeline.options import input_patterns
from pipeline.options import keras_backend
from pipeline.options import share_model_across_processes
from transforms import record_files
from transforms.compute_features import ComputeFeatures
from transforms.dead_letters import DEAD_LETTER_TAG
from transforms.dead_letters import WriteDeadLetters
from transforms.decode_audio import DecodeAudio
from transforms.deduplicate import CountRepeatedAudio
from transforms.deduplicate import DeduplicateClips
from transforms.encode_record import EncodeRecord
from transforms.encoder_model_handler import EncoderModelHandler
from transforms.pack_clips import PackClips
from transforms.per_input_records import SkipCompletedInputs
from transforms.per_input_records import completed_record_files
from transforms.read_inputs import MatchInputs
from transforms.read_inputs import ReadInputs
from transforms.row_packing import bucket_lengths
from transforms.write_records import WriteRecords


def record_suffix(options: EmbedOptions) -> str:
    """File suffix of the record files: `.tfrecord`, `.tfrecord.gz` with gzip, or `.array_record`."""
    return record_files.record_suffix(options.output_format, options.output_compression)


def records_pattern(options: EmbedOptions) -> str:
    """Glob of the record files a run writes: sharded, or one per input with `--skip_existing`."""
    if options.skip_existing:
        return f"{options.output}-by-input/*{record_suffix(options)}"
    return f"{options.output}-*-of-*{record_suffix(options)}"


def index_pattern(options: EmbedOptions) -> str:
    """Glob of the index files a run writes, beside its record files."""
    if options.skip_existing:
        return f"{options.output}-by-input/*.index.parquet"
    return f"{options.output}-index-*-of-*.parquet"


def encoder_handler(options: EmbedOptions, lengths: tuple = (), max_batch_frames=0) -> EncoderModelHandler:
    """The job's `EncoderModelHandler`: the model `options` name, batched by `lengths` and `max_batch_frames`.

    The launcher builds one without batching (`lengths=()`) to fingerprint the model once.
    """
    return EncoderModelHandler(
        bucket_lengths=lengths,
        max_batch_frames=max_batch_frames,
        keras_backend=keras_backend(options),
        hf_checkpoint=options.hf_checkpoint,
        weights=options.weights,
        keras_hub_preset=options.keras_hub_preset,
        seed=options.seed,
        compute_dtype=options.compute_dtype,
        output_layer=options.output_layer,
        share_across_processes=share_model_across_processes(options),
    )


def build_graph(pipeline: beam.Pipeline, options: EmbedOptions) -> None:
    """Adds the embedding job to `pipeline`, configured by `options`.

    Every per-input and per-clip step runs under `with_exception_handling`, so a bad file or
    clip becomes a dead letter of its stage and never fails the job or its batch-mates.
    Decoding runs with `partial=True` so windows of long files stream on as they are cut.
    With `--skip_existing`, inputs whose per-input record file exists are skipped and records
    go to one file per input (`transforms.per_input_records`) instead of sharded files; either
    way each record file gets its Parquet index beside it (`transforms.write_records`). Decoded
    clips are counted by repeated audio, or with `--dedup` deduplicated, before features.
    """
    lengths = bucket_lengths(options.bucket_seconds, options.max_clip_seconds)
    backend = keras_backend(options)
    handler = encoder_handler(options, lengths, options.max_batch_frames)
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
                options.metadata_fields,
                options.max_metadata_bytes,
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
    if options.dedup:
        clips = clips | "Deduplicate" >> DeduplicateClips(options.output)
    else:
        _ = clips | "CountRepeatedAudio" >> CountRepeatedAudio()
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
    _ = records | "WriteRecords" >> WriteRecords(options.output, suffix, options.num_shards, options.skip_existing)
    _ = {
        "read": read_failed,
        "decode": decode_failed,
        "features": features_failed,
        "inference": inference_failed.failed_inferences,
        "output": output_failed,
    } | "WriteDeadLetters" >> WriteDeadLetters(options.output)
