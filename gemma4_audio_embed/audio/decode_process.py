"""Decoding in a supervised child process, so that a crash in native code costs one input, not the worker.

FFmpeg, soxr and the codecs are C: a hostile or just unlucky file can make them segfault or
abort, which kills the Python process and, on Dataflow, the work item four times over and then
the job. `DecoderProcess` runs the decoder (`audio.decode.input_clips`) in one persistent child
(`python -m gemma4_audio_embed.audio.decode_process`) that decodes inputs one after the other:

- The parent sends each input (`EncodedAudio`, pickled; encoded bytes travel with it, a file is
  opened by the child) and receives its clips as they are cut, then the end or the error the
  decoder raised, which the parent raises as its own. A pipe holds about one window at a time,
  so an hours-long input streams through it in bounded memory.
- If the child dies (a signal, an exit) or sends nothing for `stall_seconds`, the input is an
  `InputError` naming the signal or the stall and the windows sent before it (one dead letter),
  and the next input starts a fresh child. Those windows stay sent, as a decode error part-way
  keeps them.
- The child starts without Beam (it imports only the decoder's modules), with the parent's
  `sys.path`, so it decodes with the very code the parent would.

Messages are `8-byte little-endian length | pickle`; the parent reads them with `select` and a
deadline, never blocking past `stall_seconds`.
"""

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator

from gemma4_audio_embed.audio.clips import Clip
from gemma4_audio_embed.audio.span import InputError
from gemma4_audio_embed.audio.span import described
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio

STALL_SECONDS = 600.0  # longest wait for the next window of one input before its decoder is stopped
_LENGTH = struct.Struct("<Q")
_CLIP, _END, _ERROR = "clip", "end", "error"


def _write(stream, value) -> None:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(payload)) + payload)
    stream.flush()


def _read_exactly(descriptor: int, count: int, deadline: float | None) -> bytes | None:
    """`count` bytes from a pipe, or None at its end; TimeoutError past `deadline` (monotonic seconds)."""
    chunks, remaining = [], count
    while remaining:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([descriptor], [], [], wait)[0]:
                raise TimeoutError
        chunk = os.read(descriptor, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read(descriptor: int, deadline: float | None = None):
    """The next message on a pipe; EOFError at its end."""
    header = _read_exactly(descriptor, _LENGTH.size, deadline)
    payload = None if header is None else _read_exactly(descriptor, _LENGTH.unpack(header)[0], deadline)
    if payload is None:
        raise EOFError
    return pickle.loads(payload)


def _sendable(error: Exception) -> Exception:
    """`error` if it survives pickling, else an InputError with its type and message."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return InputError(f"{type(error).__name__}: {error}")


def serve(requests: int, replies) -> None:
    """The child's loop: reads `(decoder, settings)`, then decodes each input sent until the pipe ends.

    Args:
        requests: int. Descriptor of the pipe the parent writes to.
        replies: binary stream of the pipe the parent reads.
    """
    decoder, settings = _read(requests)
    while True:
        try:
            encoded = _read(requests)
        except EOFError:
            return
        try:
            for clip in decoder(encoded, **settings):
                _write(replies, (_CLIP, clip))
            _write(replies, (_END, None))
        except Exception as error:
            _write(replies, (_ERROR, _sendable(error)))


class DecoderProcess:
    """A persistent child process that decodes inputs one at a time, restarted when it dies.

    Args:
        decoder: callable `decoder(encoded, **settings) -> Iterator[Clip]`, defined at module
            level (it is pickled by reference): `audio.decode.input_clips`, or a stand-in.
        settings: dict. Keyword arguments of `decoder`, plain data.
        stall_seconds: float. Longest wait for a message of the child while it decodes one
            input. Defaults to `STALL_SECONDS`.
    """

    def __init__(self, decoder: Callable, settings: dict, stall_seconds: float = STALL_SECONDS):
        self.decoder = decoder
        self.settings = dict(settings)
        self.stall_seconds = stall_seconds
        self._child = None

    def _start(self) -> None:
        path = os.pathsep.join(entry for entry in sys.path if entry)  # the parent's modules, tests' too
        self._child = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path},
            close_fds=True,
            process_group=0,  # a terminal's Ctrl-C reaches the parent, which ends the child
        )
        _write(self._child.stdin, (self.decoder, self.settings))

    def start(self) -> None:
        """Starts the child now (it imports the decoder while the caller goes on); `clips` starts it otherwise."""
        if self._child is None or self._child.poll() is not None:
            self._start()

    def _stop(self) -> str:
        """Stops the child (killed if need be) and says how it ended: `signal SIGSEGV`, `exit status 1`."""
        child, self._child = self._child, None
        if child.poll() is None:
            child.kill()
        status = child.wait()
        for pipe in (child.stdin, child.stdout):
            pipe.close()
        return f"signal {signal.Signals(-status).name}" if status < 0 else f"exit status {status}"

    def clips(self, encoded: EncodedAudio) -> Iterator:
        """Yields what the decoder yields for one input in the child: its clips (and, from
        `input_clips`, the `OpenedAudio` report before them).

        Raises:
            The decoder's own error for the input, as it raised it (an `InputError`, ...).
            InputError: the child died while decoding it, or sent nothing for `stall_seconds`.
        """
        self.start()
        finished, sent = False, 0
        try:
            try:
                _write(self._child.stdin, encoded)
            except (BrokenPipeError, OSError):
                pass  # it died already: reading says how
            descriptor = self._child.stdout.fileno()
            while True:
                try:
                    kind, value = _read(descriptor, time.monotonic() + self.stall_seconds)
                except TimeoutError:
                    self._stop()
                    finished = True
                    raise InputError(
                        f"{described(encoded)}: the decoder sent nothing for {self.stall_seconds:g} s after "
                        f"{sent} window(s); it was stopped and the rest of the input is skipped."
                    ) from None
                except (EOFError, pickle.UnpicklingError):
                    how = self._stop()
                    finished = True
                    raise InputError(
                        f"{described(encoded)}: the decoder process died ({how}) after {sent} window(s); the "
                        "rest of the input is skipped and a fresh decoder goes on with the next."
                    ) from None
                if kind == _CLIP:
                    sent += isinstance(value, Clip)  # not the decoder's `OpenedAudio` report
                    yield value
                    continue
                finished = True
                if kind == _ERROR:
                    raise value
                return
        finally:
            if not finished and self._child is not None:  # abandoned half-way: its replies would be stale
                self._stop()

    def close(self) -> None:
        """Ends the child: its input pipe closes, and it exits (killed if it lingers)."""
        if self._child is not None:
            self._child.stdin.close()
            try:
                self._child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self._stop()


def main() -> None:
    """The child: replies on a private copy of stdout; anything else written to stdout goes to stderr.

    It ignores SIGINT (the parent, interrupted, ends it) and ends quietly when the parent's pipe
    closes at any point, even before the settings arrive."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        serve(sys.stdin.fileno(), replies)
    except (EOFError, BrokenPipeError):
        pass


if __name__ == "__main__":
    main()
