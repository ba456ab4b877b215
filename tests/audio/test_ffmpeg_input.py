"""Tests for audio/ffmpeg_input.py: FFmpeg opens audio containers only, follows nothing, and reads 7.1 safely."""

import io
import socket
import threading
import time

import numpy as np
import pytest
import soundfile
import soxr
from synthetic_audio import audio_bytes
from synthetic_audio import tone

from gemma4_audio_embed.audio.decode import OpenedAudio
from gemma4_audio_embed.audio.decode import decoded_clips
from gemma4_audio_embed.audio.decode import input_clips
from gemma4_audio_embed.audio.decode_process import DecoderProcess
from gemma4_audio_embed.audio.span import InputError
from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio


def _bound_udp_ports() -> set:
    """Local ports of the UDP sockets bound on this machine (IPv4 and IPv6), from /proc/net."""
    ports = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except FileNotFoundError:
            continue
        ports |= {int(line.split()[1].rsplit(":", 1)[1], 16) for line in lines}
    return ports


class _PortWatch:
    """Polls the bound UDP ports every millisecond while open; `seen` is every port found."""

    def __enter__(self):
        self.seen, self._stop = set(), threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        time.sleep(0.05)
        return self

    def _poll(self):
        while not self._stop.is_set():
            self.seen |= _bound_udp_ports()
            time.sleep(0.001)

    def __exit__(self, *exc_info):
        time.sleep(0.05)
        self._stop.set()
        self._thread.join()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_sdp_file_is_refused_and_binds_no_socket():
    port = _free_port()
    sdp = f"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio {port} RTP/AVP 0\n"
    sdp += "a=rtpmap:0 PCMU/8000\n"
    with _PortWatch() as watch:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ours:  # the watch does see a bound port
            ours.bind(("127.0.0.1", 0))
            time.sleep(0.05)
            own_port = ours.getsockname()[1]
        with pytest.raises(InputError, match="FFmpeg reads it as 'sdp', which is not one of the audio containers"):
            list(decoded_clips(EncodedAudio("x.wav", "x.wav", None), io.BytesIO(sdp.encode()), 30.0))
    assert own_port in watch.seen
    assert not {port, port + 1} & watch.seen  # FFmpeg's RTP demuxer would bind both (RTP, RTCP)


def test_a_concat_script_reads_no_other_file(tmp_path):
    (tmp_path / "secret.wav").write_bytes(audio_bytes(tone(1.0), 16000))
    script = tmp_path / "script.wav"
    script.write_bytes(b"ffconcat version 1.0\nfile secret.wav\n")  # relative: a neighbour of the script
    as_file = EncodedAudio(str(script), str(script), None)
    as_member = EncodedAudio("s.tar#script.wav", "s.tar", script.read_bytes())  # as a tar member
    for encoded in (as_file, as_member):
        with pytest.raises(InputError, match="FFmpeg reads it as 'concat'"):
            list(input_clips(encoded, max_clip_seconds=30.0))


@pytest.mark.parametrize("subtype", ["VORBIS", "OPUS"])
def test_an_8_channel_ogg_decodes_to_its_channel_mean(subtype):
    """PyAV miscounts the planes of a 7.1 frame; reading them crashed the process (exit 139). Decoded in a
    decoder process, so a regression is a failed test, not a crashed test run."""
    channels = tone(1.0, 48000, channels=8)  # [48000, 8], each channel its own noise
    buffer = io.BytesIO()
    soundfile.write(buffer, channels, 48000, format="OGG", subtype=subtype)
    process = DecoderProcess(input_clips, {"max_clip_seconds": 30.0})
    try:
        opened, clip = process.clips(EncodedAudio("7.1.ogg", "s", buffer.getvalue()))
        assert opened == OpenedAudio("ogg", 48000, 8)
    finally:
        process.close()
    reference, _ = soundfile.read(io.BytesIO(buffer.getvalue()), dtype="float32")  # libsndfile's own decoder
    expected = soxr.resample(reference.mean(axis=1, dtype=np.float32), 48000, 16000, quality="HQ")
    length = min(expected.shape[0], clip.waveform.shape[0])
    assert abs(clip.waveform.shape[0] - expected.shape[0]) < 400  # decoders trim Opus pre-skip alike, to 25 ms
    error = np.abs(clip.waveform[:length] - expected[:length]).max()
    assert error < 0.02 * np.abs(expected).max(), error
