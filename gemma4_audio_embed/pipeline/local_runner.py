"""A fix for Beam's local multi-process runner, which can silently drop part of a bundle's input.

With `--direct_running_mode multi_processing` (or `multi_threading`, or a portable job service
in this process) the FnApiRunner sends each bundle's input to its SDK workers over gRPC, through
output streams that Beam 2.77 flushes on a timer every `DATA_BUFFER_TIME_LIMIT_MS` (1000 ms,
`runners/portability/fn_api_runner/worker_handlers.py`). The timer's flush
(`TimeBasedBufferingClosableOutputStream.flush` in `runners/worker/data_plane.py`) sends the
buffer and then clears it, under a lock that `write` does not take: a chunk the bundle thread
writes between the send and the clear is cleared unsent. The worker processes the bundle without
it and nothing fails or logs. A chunk is 10 MiB of elements, so runs whose bundles carry
hundreds of MiB (records of 1536 floats per token) lost 35-230 records in about one run in four,
while small runs almost never did (measured; `tests/pipeline/test_local_runner.py` shows the
race on the stream itself).

The runner needs no timer to send a bundle's input (it closes the stream when the input is
written, which sends the rest), and the in-process runner and the SDK workers use size-based
streams already. `use_size_based_data_streams` sets the runner's limit to 0, so its streams are
size-based and have no flush thread to race with.
"""

from apache_beam.runners.portability.fn_api_runner import worker_handlers


def use_size_based_data_streams() -> None:
    """Makes the local runner's gRPC data plane flush by size only (no timer); call before running."""
    worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = 0
