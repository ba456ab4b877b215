"""Tests for audio/decode_process.py: a crash or a stall in the decoder costs one input, and the next goes on."""

import os
import signal

import apache_beam as beam
import numpy as np
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to
from decode_stand_ins import crashing_decoder
from decode_stand_ins import stalling_decoder
from synthetic_audio import audio_bytes
from synthetic_audio import tone

from gemma4_audio_embed.audio.clips import Clip
from gemma4_audio_embed.audio.decode import input_clips
from gemma4_audio_embed.audio.decode_audio import DecodeAudio
from gemma4_audio_embed.audio.decode_process import DecoderProcess
from gemma4_audio_embed.audio.span import InputError
from gemma4_audio_embed.inputs.dead_letter import DEAD_LETTER_TAG
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio

SETTINGS = {"max_clip_seconds": 1.0}


def _input(key, seconds=1.5, seed=0):
    return EncodedAudio(key, f"gs://b/{key}", audio_bytes(tone(seconds, seed=seed), 16000, subtype="FLOAT"))


def _outcome(process, encoded):
    """`(clips, error or None)` of one input decoded by `process`."""
    clips = []
    try:
        for item in process.clips(encoded):
            if isinstance(item, Clip):  # not the `OpenedAudio` report
                clips.append(item)
    except InputError as error:
        return clips, error
    return clips, None


def test_clips_from_the_process_equal_clips_decoded_here():
    process = DecoderProcess(input_clips, SETTINGS)
    try:
        encoded = _input("a.flac", seconds=2.5)
        clips, error = _outcome(process, encoded)
        here = [item for item in input_clips(encoded, **SETTINGS) if isinstance(item, Clip)]
        assert error is None and [clip.info for clip in clips] == [clip.info for clip in here]
        for ours, theirs in zip(clips, here):
            np.testing.assert_array_equal(ours.waveform, theirs.waveform)
        bad = EncodedAudio("text.wav", "gs://b/text.wav", b"not audio at all" * 10)
        assert "Cannot decode text.wav as audio" in str(_outcome(process, bad)[1])  # the decoder's own error
    finally:
        process.close()


def test_a_ctrl_c_at_the_terminal_does_not_reach_the_decoder_process_and_a_sigint_leaves_it_decoding():
    process = DecoderProcess(input_clips, SETTINGS)
    try:
        assert _outcome(process, _input("a.flac"))[1] is None  # the child is up and serving
        child = process._child.pid
        assert os.getpgid(child) != os.getpgid(0)  # not in the terminal's foreground group
        os.kill(child, signal.SIGINT)
        clips, error = _outcome(process, _input("b.flac", seed=1))
        assert error is None and len(clips) == 2 and process._child.pid == child  # the same child, alive
    finally:
        process.close()


def test_a_crash_is_one_inputs_error_and_a_fresh_decoder_takes_the_next():
    process = DecoderProcess(crashing_decoder, SETTINGS)
    try:
        good, _ = _outcome(process, _input("a.wav"))
        crashed, error = _outcome(process, _input("crash.wav"))
        late, late_error = _outcome(process, _input("crash_late.wav", seconds=2.5))
        after, after_error = _outcome(process, _input("b.wav", seed=1))
    finally:
        process.close()
    assert len(good) == 2 and crashed == [] and after_error is None and len(after) == 2
    assert str(error) == (
        "crash.wav: the decoder process died (signal SIGSEGV) after 0 window(s); the rest of the input is "
        "skipped and a fresh decoder goes on with the next."
    )
    assert [clip.info.segment_index for clip in late] == [0] and "(signal SIGSEGV) after 1 window(s)" in str(late_error)


def test_a_stalled_decoder_is_stopped_and_the_next_input_decodes():
    process = DecoderProcess(stalling_decoder, SETTINGS, stall_seconds=1.0)
    try:
        clips, error = _outcome(process, _input("stall.wav"))
        after, after_error = _outcome(process, _input("b.wav"))
    finally:
        process.close()
    assert clips == [] and "the decoder sent nothing for 1 s after 0 window(s); it was stopped" in str(error)
    assert after_error is None and len(after) == 2


def test_in_a_pipeline_the_crashing_input_is_a_dead_letter_and_the_others_have_their_clips():
    inputs = [_input("a.wav"), _input("crash.wav"), _input("b.wav", seed=1)]
    with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
        clips, dead = (
            pipeline
            | beam.Create(inputs)
            | beam.ParDo(DecodeAudio(1.0, decoder=crashing_decoder)).with_exception_handling(
                dead_letter_tag=DEAD_LETTER_TAG, partial=True
            )
        )
        assert_that(
            clips | "Keys" >> beam.Map(lambda clip: clip.info.key),
            equal_to(["a.wav@0", "a.wav@1", "b.wav@0", "b.wav@1"]),
        )
        assert_that(
            dead | "Dead" >> beam.Map(lambda letter: (letter[0].key, "signal SIGSEGV" in letter[1][1])),
            equal_to([("crash.wav", True)]),
            label="DeadLetters",
        )
    assert os.getpid()  # this process is alive: the crash stayed in the decoder process
