"""The layout of one inference batch: clips packed into rows of a few fixed lengths.

Several clips share a row of the encoder's input when each starts on a token boundary and
enough invalid frames separate it from the clip before it (`Gemma4AudioEncoder.
packing_gap_frames`): each clip's valid outputs are then those of the clip run alone, to
rounding. Rows hold whole `--max_clip_seconds` windows (`row_length`: two 30 s windows by
default), a batch holds `max_batch_frames // row` rows, and a batch that packs into one row is
cut to the smallest bucket that holds it. So XLA compiles a handful of shapes, not one per
clip, and no clip is padded to 30 s.

Pure NumPy: the Beam DoFn that chooses the clips of a batch is `batching.pack_clips`.

A clip is either its valid log-mel frames, `float32 [Mv, F]`, or (`--features_on_device`) the
16 kHz samples those frames read, `float32 [Mv * 160]`; rows of samples are laid out so that
the device's log-mel (`encoder.device_log_mel`) puts each clip's frames where rows of features
would hold them.

Axis legend: R rows, M row length in mel frames, F mel bins, Mv valid frames of a clip.
"""

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from gemma4_audio_embed.constants import FRAMES_PER_BLOCK
from gemma4_audio_embed.constants import FRAMES_PER_SECOND
from gemma4_audio_embed.constants import HOP_LENGTH
from gemma4_audio_embed.encoder import config as encoder_config

# Lengths a one-row batch is cut to, with 30 s windows: 336, 624, 1008, 1536, 2208 and 3024
# frames, each 1.4x to 2x the one before. Only the last batch of a bundle is usually one row.
DEFAULT_BUCKET_SECONDS = (3.0, 6.0, 10.0, 15.0, 22.0)
# One row of two 30 s windows, 1512 tokens: well past the ~300 tokens a GPU needs to be
# compute-bound (the encoder spec's roofline), while a CPU runs at the same frames per second at
# any batch size. Also the length rows aim for (`row_length`).
DEFAULT_MAX_BATCH_FRAMES = 8192


@dataclasses.dataclass(frozen=True)
class PackingGeometry:
    """Where a clip may start in a row: the encoder's `frames_per_token` and `packing_gap_frames`.

    Attributes:
        frames_per_token: int. Clips start at multiples of it; a clip of `Mv` valid frames
            fills `extent(Mv)` frames and yields `tokens(Mv)` output tokens.
        gap_frames: int. Invalid frames between one clip's extent and the next clip's start.
    """

    frames_per_token: int
    gap_frames: int

    def tokens(self, num_frames: int) -> int:
        """Output tokens of a clip with `num_frames` valid frames: ceil(Mv / frames_per_token)."""
        return -(-num_frames // self.frames_per_token)

    def extent(self, num_frames: int) -> int:
        """Frames a clip fills, rounded up to a whole token."""
        return self.tokens(num_frames) * self.frames_per_token

    def next_start(self, end: int) -> int:
        """The first frame a clip may start at after a clip whose extent ends at `end`."""
        return self.extent(end + self.gap_frames)

    @classmethod
    def from_encoder_config(cls, config: dict) -> "PackingGeometry":
        """The geometry of an encoder `config` (`Gemma4AudioEncoder` arguments; missing ones the
        release's), as the built model's `frames_per_token` and `packing_gap_frames` give it."""
        return cls(encoder_config.frames_per_token(config), encoder_config.packing_gap_frames(config))

    def footprint(self, num_frames: int) -> int:
        """Frames a clip takes from a row, the gap after it included: `extent + gap_frames`."""
        return self.extent(num_frames) + self.gap_frames


RELEASE_GEOMETRY = PackingGeometry.from_encoder_config({})  # 4 frames per token, 16 frames of gap


def clip_frames(clip: np.ndarray) -> int:
    """Valid mel frames of a clip given as features `[Mv, F]` or as samples `[Mv * 160]`."""
    return clip.shape[0] if clip.ndim == 2 else clip.shape[0] // HOP_LENGTH


def _whole_blocks(num_frames: float) -> int:
    return FRAMES_PER_BLOCK * math.ceil(num_frames / FRAMES_PER_BLOCK)


def bucket_lengths(bucket_seconds: Sequence[float], max_clip_seconds: float) -> tuple[int, ...]:
    """Returns the row lengths, in mel frames, for clips of up to `max_clip_seconds`.

    Each is rounded up to whole attention blocks; the last, the length of every row of a
    multi-row batch, holds a full window, whose valid frames, floor((N - 1) / 160), are fewer
    than `max_clip_seconds * 100`. Buckets at or past the window are dropped.

    Example: `bucket_lengths((2, 4), 30)` is `(240, 432, 3024)`: 200 frames round up to
    5 blocks of 48, 400 to 9, and 3000 to 63.
    """
    if any(not seconds > 0 for seconds in bucket_seconds):
        raise ValueError(f"`bucket_seconds` must all be positive. Received: {tuple(bucket_seconds)}")
    top = _whole_blocks(max_clip_seconds * FRAMES_PER_SECOND)
    lengths = {_whole_blocks(seconds * FRAMES_PER_SECOND) for seconds in bucket_seconds if seconds < max_clip_seconds}
    return tuple(sorted(length for length in lengths if length < top)) + (top,)


def row_length(window_frames: int, max_batch_frames: int | None) -> int:
    """Length of every row of a multi-row batch, in frames: as many whole windows as fit in
    `min(max_batch_frames, DEFAULT_MAX_BATCH_FRAMES)` (None, for `--max_batch_frames auto`:
    `DEFAULT_MAX_BATCH_FRAMES`), at least one.

    A row wastes the frames first fit cannot fill at its end, so fewer, longer rows waste less;
    per frame the encoder costs the same in a row of any length (its attention is local). With
    30 s windows of 3024 frames the rows are 6048 frames long: on the lognormal length mix of
    `bench/pipeline.py` (100 clips around 10 s, 44-frame gaps) 95% of padded frames were
    valid, against 93% with rows of one window (bench/RESULTS.md).

    Example: `row_length(3024, None)` is 6048, `row_length(3024, 4096)` 3024,
    `row_length(1008, 65536)` 8064 and `row_length(12048, None)` 12048.
    """
    limit = DEFAULT_MAX_BATCH_FRAMES if max_batch_frames is None else min(max_batch_frames, DEFAULT_MAX_BATCH_FRAMES)
    return window_frames * max(1, limit // window_frames)


def batch_lengths(window_lengths: Sequence[int], max_batch_frames: int | None) -> tuple[int, ...]:
    """`window_lengths` (`bucket_lengths`, the last a full window) and, when longer than the window,
    the row length (`row_length`) after them: the lengths a `BatchPlan` cuts rows to."""
    row = row_length(window_lengths[-1], max_batch_frames)
    return tuple(window_lengths) + ((row,) if row > window_lengths[-1] else ())


def bucket_length(num_frames: int, lengths: Sequence[int]) -> int:
    """Returns the smallest of `lengths` (sorted) that holds `num_frames` frames."""
    for length in lengths:
        if num_frames <= length:
            return length
    raise ValueError(f"A clip of {num_frames} mel frames is longer than the largest bucket, {lengths[-1]} frames.")


def full_batch_rows(row_frames: int, max_batch_frames: int) -> int:
    """Rows of `row_frames` in a full batch: `max_batch_frames // row_frames`, at least 1."""
    return max(1, max_batch_frames // row_frames)


def padded_rows(num_rows: int, full_rows: int | None) -> int:
    """Rows a batch of `num_rows` packed rows is padded to: the next power of two, capped at
    `full_rows` (None: no cap) unless `num_rows` is already more."""
    power = 1 << (num_rows - 1).bit_length()
    return power if full_rows is None else max(num_rows, min(full_rows, power))


def first_fit_rows(
    num_frames: Sequence[int],
    row_frames: int,
    geometry: PackingGeometry,
    max_rows: int | None = None,
) -> list[list[tuple[int, int]]]:
    """Packs clips into rows, first fit decreasing: longest first, each into the first row with room.

    Ties keep input order, so packing any subset that this function placed, in input order,
    gives the same rows: the clips it skipped never changed a row.

    Args:
        num_frames: valid frames of each clip.
        row_frames: int. Length of a row.
        geometry: where clips may start (`PackingGeometry`).
        max_rows: int or None. With a cap, clips that fit no row are left out.

    Returns:
        One list per row of `(clip index, start frame)`, in placement order.
    """
    rows, ends = [], []  # placements, and the extent end of each row's last clip
    for index in sorted(range(len(num_frames)), key=lambda i: -num_frames[i]):
        extent = geometry.extent(num_frames[index])
        if extent > row_frames:
            raise ValueError(f"Clip {index} fills {extent} frames, more than a row of {row_frames} frames holds.")
        for row, end in enumerate(ends):
            start = geometry.next_start(end)
            if start + extent <= row_frames:
                rows[row].append((index, start))
                ends[row] = start + extent
                break
        else:
            if max_rows is None or len(rows) < max_rows:
                rows.append([(index, 0)])
                ends.append(extent)
    return rows


def batch_layout(
    frames: Sequence[int],
    lengths: Sequence[int],
    max_batch_frames: int | None,
    geometry: PackingGeometry,
) -> tuple[list[tuple[int, int]], int, int]:
    """Where `packed_batch` puts clips of `frames` valid frames: `(placements, rows, row length)`.

    `placements` holds `(row, start frame)` per clip, in input order; the batch is `rows x row
    length` frames, padding included (arguments as in `packed_batch`).
    """
    rows = first_fit_rows(frames, lengths[-1], geometry)
    placements = [None] * len(frames)
    for row, placed in enumerate(rows):
        for index, start in placed:
            placements[index] = (row, start)
    if len(rows) == 1:
        return placements, 1, bucket_length(max(start + frames[index] for index, start in rows[0]), lengths)
    full_rows = None if max_batch_frames is None else full_batch_rows(lengths[-1], max_batch_frames)
    return placements, padded_rows(len(rows), full_rows), lengths[-1]


def packed_batch(
    features: Sequence[np.ndarray],
    lengths: Sequence[int],
    max_batch_frames: int | None,
    geometry: PackingGeometry,
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Packs clips' valid frames (or their samples) into one batch of rows.

    Rows are `lengths[-1]` long and padded with empty rows to `padded_rows`; a batch that
    fits one row is cut to the smallest bucket that holds its last clip.

    Args:
        features: list of `float32 [Mv_b, F]`, one per clip; or of `float32 [Mv_b * 160]`
            samples (`clip_frames`), all of one kind.
        lengths: sorted bucket lengths, in frames (`bucket_lengths`).
        max_batch_frames: int or None. The frame budget the batch was chosen under; None when
            it was chosen on the worker (`--max_batch_frames auto`, a power of two of rows),
            then the rows are padded to a power of two without a cap.
        geometry: where clips may start (`PackingGeometry`).

    Returns:
        `(inputs, mask, placements)`: `float32 [R, M, F]` (or samples `float32 [R, M * 160]`,
        a clip starting at frame s at sample 160 s), `int32 [R, M]` clip numbers (clip i of
        `features` is i + 1; frames outside clips are 0.0 and 0), the mask
        `Gemma4AudioEncoder` keeps packed clips apart by, and per clip in input order,
        `(row, start frame)`.
    """
    frames = [clip_frames(clip) for clip in features]
    placements, num_rows, length = batch_layout(frames, lengths, max_batch_frames, geometry)
    is_samples = features[0].ndim == 1
    unit = HOP_LENGTH if is_samples else 1
    shape = (num_rows, length * HOP_LENGTH) if is_samples else (num_rows, length, features[0].shape[1])
    inputs = np.zeros(shape, np.float32)  # [R, M, F] or [R, M * 160]
    mask = np.zeros((num_rows, length), np.int32)  # [R, M], clip numbers
    for number, (clip, num_frames, (row, start)) in enumerate(zip(features, frames, placements), start=1):
        inputs[row, start * unit : start * unit + clip.shape[0]] = clip
        mask[row, start : start + num_frames] = number
    return inputs, mask, placements
