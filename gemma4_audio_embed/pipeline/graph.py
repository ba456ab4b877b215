"""The job's graph: read -> decode -> features -> batch -> infer -> write -> check -> commit -> summarise, with dead letters beside it."""

import time

import apache_beam as beam

from gemma4_audio_embed.audio.decode_audio import DecodeAudio
from gemma4_audio_embed.batching.batch_plan import BatchPlan
from gemma4_audio_embed.batching.features import ComputeFeatures
from gemma4_audio_embed.batching.pack_clips import PackClips
from gemma4_audio_embed.inference.beam_ml import KeyedModelHandler
from gemma4_audio_embed.inference.beam_ml import RunInference
from gemma4_audio_embed.inference.clip_failures import FAILED_CLIPS_TAG
from gemma4_audio_embed.inference.clip_failures import SeparateFailedClips
from gemma4_audio_embed.inference.handler import EncoderModelHandler
from gemma4_audio_embed.inference.model_sources import ModelSource
from gemma4_audio_embed.inputs.dead_letter import DEAD_LETTER_TAG
from gemma4_audio_embed.inputs.read import MatchInputs
from gemma4_audio_embed.inputs.read import ReadInputs
from gemma4_audio_embed.metrics import TALLY_TAG
from gemma4_audio_embed.outputs.commit import CommitOutput
from gemma4_audio_embed.outputs.dead_letters import WriteDeadLetters
from gemma4_audio_embed.outputs.dedup import CountRepeatedAudio
from gemma4_audio_embed.outputs.dedup import DeduplicateClips
from gemma4_audio_embed.outputs.encode import EncodeRecord
from gemma4_audio_embed.outputs.layout import new_run_id
from gemma4_audio_embed.outputs.output_check import CheckOutput
from gemma4_audio_embed.outputs.resume import SkipCompletedInputs
from gemma4_audio_embed.outputs.resume import completed_record_files
from gemma4_audio_embed.outputs.writer import WriteRecords
from gemma4_audio_embed.pipeline.options import EmbedOptions
from gemma4_audio_embed.pipeline.options import input_patterns
from gemma4_audio_embed.pipeline.options import keras_backend
from gemma4_audio_embed.pipeline.options import model_source
from gemma4_audio_embed.pipeline.options import output_layout
from gemma4_audio_embed.pipeline.options import read_limits
from gemma4_audio_embed.pipeline.options import share_model_across_processes
from gemma4_audio_embed.pipeline.stamp import stamp_json
from gemma4_audio_embed.pipeline.summary import WriteSummary


def batch_plan(options: EmbedOptions, source: ModelSource) -> BatchPlan:
    """The job's `BatchPlan`: `--bucket_seconds`, `--max_clip_seconds`, `--max_batch_frames` and the
    packing geometry of the model `source` holds (read from its configuration)."""
    return BatchPlan.from_seconds(
        bucket_seconds=options.bucket_seconds,
        max_clip_seconds=options.max_clip_seconds,
        max_batch_frames=options.max_batch_frames,
        encoder_config=source.encoder_config(),
    )


def encoder_handler(
    options: EmbedOptions, plan: BatchPlan, model_fingerprint: str | None = None
) -> EncoderModelHandler:
    """The job's `EncoderModelHandler`: the model `options` name, batched by `plan`; its workers check
    the files they load against `model_fingerprint` (the launch's), when given."""
    return EncoderModelHandler(
        model_source=model_source(options),
        plan=plan,
        keras_backend=keras_backend(options),
        compute_dtype=options.compute_dtype,
        output_layer=options.output_layer,
        share_across_processes=share_model_across_processes(options),
        model_fingerprint=model_fingerprint,
    )


def _with_tally(dofn):
    """`ParDo(dofn)` with its tally as a second output (`metrics.TALLY_TAG`); main output `main`."""
    return beam.ParDo(dofn).with_outputs(TALLY_TAG, main="main")


def _handled(dofn, partial: bool = False):
    """`ParDo(dofn)` with its tally and its dead letters: outputs `main`, `TALLY_TAG`, `DEAD_LETTER_TAG`."""
    return _with_tally(dofn).with_exception_handling(dead_letter_tag=DEAD_LETTER_TAG, partial=partial)


def _split(outputs) -> tuple:
    """`(main, dead letters, tally)` of a `_handled` step (its outputs are tagged, not ordered)."""
    return outputs["main"], outputs[DEAD_LETTER_TAG], outputs[TALLY_TAG]


def build_graph(
    pipeline: beam.Pipeline, options: EmbedOptions, launch_time: float | None = None, stamp: dict | None = None
) -> None:
    """Adds the embedding job to `pipeline`, configured by `options`.

    Every per-input and per-clip step runs under `with_exception_handling`, so a bad file or
    clip becomes a dead letter of its stage and never fails the job or its batch-mates; a
    failed encoder batch is retried by halves down to the clip that fails alone.
    Decoding runs with `partial=True` so windows of long files stream on as they are cut.
    With `--skip_existing`, inputs whose per-input record file exists are skipped and records
    go to one file per input (`outputs.resume`) instead of sharded files; either way each
    record file gets its Parquet index beside it (`outputs.writer`), records reaching it
    through spill files, never a shuffle. Decoded clips are counted by repeated audio, or with
    `--dedup` deduplicated, before features. The last steps check the files written against
    every step's tally (`outputs.output_check`), move them into place (`outputs.commit`) and
    write the summary (`pipeline.summary.WriteSummary`).

    Args:
        pipeline: the Beam pipeline to add the steps to.
        options: EmbedOptions. The job's flags; `run_id` names the run's files (a new id when
            unset).
        launch_time: float or None. Epoch seconds at launch, for the summary's wall time;
            None is now.
        stamp: dict or None. The output stamp, written with a sharded run's files; None when
            the launch wrote it (`--skip_existing`) or no stamp is wanted.
    """
    run_id = options.run_id or new_run_id()
    layout = output_layout(options)
    source = model_source(options)
    plan = batch_plan(options, source)
    backend = keras_backend(options)
    tallies = []
    files = pipeline | "MatchInputs" >> MatchInputs(
        input_patterns(options),
        input_lists=[options.input_list] if options.input_list else [],
        excluded_prefix=layout.owned_prefix,
    )
    if options.skip_existing:
        skipped = files | "SkipCompletedInputs" >> _with_tally(
            SkipCompletedInputs(layout, completed_record_files(layout))
        )
        files = skipped.main
        tallies.append(skipped[TALLY_TAG])
    inputs, read_failed, read_tally = _split(
        files
        | "ReshuffleFiles" >> beam.Reshuffle()
        | "ReadInputs"
        >> _handled(
            ReadInputs(
                input_format=options.input_format,
                tfrecord_audio_feature=options.tfrecord_audio_feature,
                tfrecord_id_feature=options.tfrecord_id_feature,
                parquet_audio_column=options.parquet_audio_column,
                parquet_id_column=options.parquet_id_column,
                tfrecord_sample_rate=options.tfrecord_sample_rate,
                metadata_fields=options.metadata_fields,
                max_metadata_bytes=options.max_metadata_bytes,
                allowed_roots=options.allowed_roots or (),
                limits=read_limits(options),
            ),
            partial=True,
        )
    )
    clips, decode_failed, decode_tally = _split(
        inputs
        | "ReshuffleInputs" >> beam.Reshuffle()
        | "DecodeAudio"
        >> _handled(
            DecodeAudio(
                options.max_clip_seconds,
                sample_rates=(options.min_sample_rate, options.max_sample_rate),
                allowed_roots=options.allowed_roots or (),
            ),
            partial=True,
        )
    )
    tallies += [read_tally, decode_tally]
    duplicates_written = None
    if options.dedup:
        clips, dedup_tally, duplicates_written = clips | "Deduplicate" >> DeduplicateClips(layout, run_id)
        tallies.append(dedup_tally)
    else:
        tallies.append(clips | "CountRepeatedAudio" >> CountRepeatedAudio())
    features, features_failed, features_tally = _split(
        clips
        | "ComputeFeatures"
        >> _handled(
            ComputeFeatures(
                keras_backend=backend,
                min_clip_seconds=options.min_clip_seconds,
                features_on_device=options.features_on_device,
            )
        )
    )
    packed = features | "PackClips" >> _with_tally(
        PackClips(
            plan,
            keras_backend=backend,
            compute_dtype=options.compute_dtype,
            features_on_device=options.features_on_device,
        )
    )
    embeddings, inference_failed = (
        packed.main
        | "Embed"
        >> RunInference(
            KeyedModelHandler(
                encoder_handler(options, plan, source.fingerprint(options.compute_dtype, backend))
            ).with_no_batching()
        ).with_exception_handling()
    )
    embedded = embeddings | "SeparateFailedClips" >> beam.ParDo(SeparateFailedClips()).with_outputs(
        FAILED_CLIPS_TAG, main="main"
    )
    records, output_failed, encode_tally = _split(
        embedded.main | "EncodeRecords" >> _handled(EncodeRecord(options.output_dtype))
    )
    tallies += [features_tally, packed[TALLY_TAG], encode_tally]
    written_files = records | "WriteRecords" >> WriteRecords(
        layout=layout, run_id=run_id, num_shards=options.num_shards
    )
    dead_letters_written, dead_letter_tally = {
        "read": read_failed,
        "decode": decode_failed,
        "features": features_failed,
        "inference": (inference_failed.failed_inferences, embedded[FAILED_CLIPS_TAG])
        | "FlattenInferenceFailures" >> beam.Flatten(),
        "output": output_failed,
    } | "WriteDeadLetters" >> WriteDeadLetters(layout, run_id)
    tallies.append(dead_letter_tally)
    tallies = tallies | "FlattenTallies" >> beam.Flatten()
    checked = tallies | "CheckOutput" >> CheckOutput(
        written=written_files,
        keys=records | "RecordKeys" >> beam.Map(lambda item: item[0]["key"]),
        dead_letter_files=dead_letters_written,
        duplicates_files=duplicates_written,
        sharded=not layout.per_input,
    )
    committed = checked | "CommitOutput" >> CommitOutput(
        layout=layout,
        run_id=run_id,
        written=written_files,
        kept=[files for files in (dead_letters_written, duplicates_written) if files is not None]
        | "KeptFiles" >> beam.Flatten(),
        stamp_json=None if stamp is None else stamp_json(stamp),
    )
    _ = tallies | "WriteSummary" >> WriteSummary(
        layout=layout,
        run_id=run_id,
        committed=committed,
        dead_letter_files=dead_letters_written,
        outputs=layout.outputs(options.dedup),
        model=source.describe(),
        launch_time=time.time() if launch_time is None else launch_time,
    )
