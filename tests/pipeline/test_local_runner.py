"""Tests for pipeline/local_runner.py: the race in Beam's timed data-plane flush, and the launch's way around it."""

import threading

from apache_beam.runners.portability.fn_api_runner import worker_handlers
from apache_beam.runners.worker import data_plane

from gemma4_audio_embed.pipeline.local_runner import use_size_based_data_streams


def test_beams_timed_flush_clears_a_write_that_lands_between_its_send_and_its_clear():
    """What lost records in multi-process runs: the runner's 1 s timer flushes the stream of a
    bundle's input while the bundle thread is still writing it. Here the write lands inside the
    flush's send, as it does when the threads interleave; the flush then clears it unsent."""
    sent = []
    stream = None

    def send(data):
        sent.append(data)
        if data == b"chunk-1":  # the bundle thread writes its next chunk now
            stream.write(b"chunk-2")

    stream = data_plane.TimeBasedBufferingClosableOutputStream(
        close_callback=send, flush_callback=send, time_flush_threshold_ms=3_600_000
    )
    stream.write(b"chunk-1")
    stream.flush()  # what the timer thread does
    stream.write(b"chunk-3")
    stream.close()
    assert b"".join(sent) == b"chunk-1chunk-3"  # chunk-2 was written, and never sent


def test_the_launch_makes_the_runners_data_streams_size_based(monkeypatch):
    monkeypatch.setattr(worker_handlers, "DATA_BUFFER_TIME_LIMIT_MS", 1000)  # Beam's default
    use_size_based_data_streams()
    servicer = data_plane.BeamFnDataServicer(worker_handlers.DATA_BUFFER_TIME_LIMIT_MS)
    channel = servicer.get_conn_by_worker_id("worker_1")
    flushers = {thread.name for thread in threading.enumerate()}
    stream = channel.output_stream("bundle_1", "transform")
    assert type(stream) is data_plane.SizeBasedBufferingClosableOutputStream
    assert {thread.name for thread in threading.enumerate()} == flushers  # no timer thread to race with
    stream.write(b"chunk-1")
    stream.close()
    channel.close()
