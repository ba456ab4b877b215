"""Length-bucketed batching: clips of similar length together, padded to a few fixed lengths.

Each clip goes to the smallest bucket length (in mel frames) that holds it, and a batch of
bucket length L holds at most `max_batch_frames // L` clips, so every full batch has the same
padded size. The lengths are whole attention blocks (48 frames), and a partial batch is
padded to a power of two of rows, so XLA compiles a handful of shapes, not one per clip.

Axis legend: B batch rows, Mv valid mel frames of a clip, M bucket length, F mel bins.
"""

import math
from typing import Sequence

import apache_beam as beam
import numpy as np
from apache_beam.transforms.window import GlobalWindows

from transforms.elements import MEL_FRAMES_PER_SECOND

FRAMES_PER_TOKEN = 4  # the SSCP's two stride-2 convolutions
TOKENS_PER_BLOCK = 12  # the released attention chunk_size
FRAMES_PER_BLOCK = FRAMES_PER_TOKEN * TOKENS_PER_BLOCK  # 48 frames, 0.48 s
# Six lengths with 30 s windows: 336, 624, 1008, 1536, 2208 and 3024 frames. Each is 1.4x to 2x
# the one before, which pads a log-uniform 2-30 s mix by about 12% (bench/pipeline.py).
DEFAULT_BUCKET_SECONDS = (3.0, 6.0, 10.0, 15.0, 22.0)
# 2048 tokens per batch: well past the ~300 tokens a GPU needs to be compute-bound (the encoder
# spec's roofline), while a CPU runs at the same frames per second at any batch size.
DEFAULT_MAX_BATCH_FRAMES = 8192


def _whole_blocks(num_frames: float) -> int:
    return FRAMES_PER_BLOCK * math.ceil(num_frames / FRAMES_PER_BLOCK)


def bucket_lengths(bucket_seconds: Sequence[float], max_clip_seconds: float) -> tuple[int, ...]:
    """Returns the padded lengths, in mel frames, for clips of up to `max_clip_seconds`.

    Each bucket is rounded up to whole attention blocks; the last one holds a full window,
    whose valid frames, floor((N - 1) / 160), are fewer than `max_clip_seconds * 100`.
    Buckets at or past the window are dropped.

    Example: `bucket_lengths((2, 4), 30)` is `(240, 432, 3024)`: 200 frames round up to
    5 blocks of 48, 400 to 9, and 3000 to 63.
    """
    if any(not seconds > 0 for seconds in bucket_seconds):
        raise ValueError(f"`bucket_seconds` must all be positive. Received: {tuple(bucket_seconds)}")
    top = _whole_blocks(max_clip_seconds * MEL_FRAMES_PER_SECOND)
    lengths = {_whole_blocks(seconds * MEL_FRAMES_PER_SECOND) for seconds in bucket_seconds}
    return tuple(sorted(length for length in lengths if length < top)) + (top,)


def bucket_length(num_frames: int, lengths: Sequence[int]) -> int:
    """Returns the smallest of `lengths` (sorted) that holds `num_frames` frames."""
    for length in lengths:
        if num_frames <= length:
            return length
    raise ValueError(
        f"A clip of {num_frames} mel frames is longer than the largest bucket, {lengths[-1]} frames."
    )


def full_batch_rows(length: int, max_batch_frames: int) -> int:
    """Clips in a full batch of bucket `length`: `max_batch_frames // length`, at least 1."""
    return max(1, max_batch_frames // length)


def padded_rows(num_clips: int, full_rows: int) -> int:
    """Rows a batch of `num_clips` is padded to: the next power of two, at most `full_rows`."""
    return min(full_rows, 1 << (num_clips - 1).bit_length())


def padded_batch(
    features: Sequence[np.ndarray], lengths: Sequence[int], max_batch_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pads clips' valid frames into one batch of a bucket shape.

    Args:
        features: list of `float32 [Mv_b, F]`, one per clip.
        lengths: sorted bucket lengths, in frames.
        max_batch_frames: int. The frame budget the batch was built under.

    Returns:
        `(mel, mask)`: `float32 [B, M, F]` and `bool [B, M]`, True = valid, with M the bucket
        of the longest clip and B = `padded_rows`. Frames past a clip are 0.0 and False. Rows
        past the clips repeat the first clip, so no row is all padding; callers drop them.
    """
    length = bucket_length(max(clip.shape[0] for clip in features), lengths)
    rows = padded_rows(len(features), full_batch_rows(length, max_batch_frames))
    if len(features) > rows:
        raise ValueError(f"{len(features)} clips exceed the {rows} rows a batch of {length} frames may hold.")
    num_bins = features[0].shape[1]
    mel = np.zeros((rows, length, num_bins), np.float32)  # [B, M, F]
    mask = np.zeros((rows, length), bool)  # [B, M]
    for row in range(rows):
        clip = features[row] if row < len(features) else features[0]
        mel[row, : clip.shape[0]] = clip
        mask[row, : clip.shape[0]] = True
    return mel, mask


class BatchByLength(beam.DoFn):
    """Groups `(ClipInfo, float32 [Mv, F])` elements into lists that share a bucket length.

    A bucket's list is emitted as soon as it holds `full_batch_rows` clips; what is left at
    the end of a bundle is emitted then (Beam batches never span bundles). Feed the lists to
    `RunInference` with `with_no_batching()`.

    Args:
        lengths: sorted tuple of bucket lengths in frames, from `bucket_lengths`.
        max_batch_frames: int. Frame budget of a batch, padding included; at least the largest
            bucket.
    """

    def __init__(self, lengths: Sequence[int], max_batch_frames: int):
        lengths = tuple(lengths)
        if not lengths or list(lengths) != sorted(set(lengths)) or lengths[0] < 1:
            raise ValueError(f"`lengths` must be increasing positive frame counts. Received: {lengths}")
        if not max_batch_frames >= lengths[-1]:
            raise ValueError(
                f"`max_batch_frames` must hold at least one clip of the largest bucket, {lengths[-1]} "
                f"frames. Received: max_batch_frames={max_batch_frames}"
            )
        self.lengths = lengths
        self.max_batch_frames = max_batch_frames

    def start_bundle(self):
        self._pending = {length: [] for length in self.lengths}

    def process(self, element):
        length = bucket_length(element[1].shape[0], self.lengths)
        pending = self._pending[length]
        pending.append(element)
        if len(pending) == full_batch_rows(length, self.max_batch_frames):
            self._pending[length] = []
            yield pending

    def finish_bundle(self):
        for length, pending in self._pending.items():
            if pending:
                yield GlobalWindows.windowed_value(pending)
        self._pending = {length: [] for length in self.lengths}
