"""`BatchPlan`: how clips become inference batches, decided once and handed to both `PackClips` and the model handler.

The plan holds the row lengths (`bucket_lengths` and `row_length`), the frame budget of a batch (a number, or
`"auto"`, resolved on each worker for its devices by `batch_budget`) and the packing geometry
of the model the job loads (from its configuration, `PackingGeometry.from_encoder_config`), so
the step that chooses a batch's clips and the step that lays them out in rows agree.
"""

import dataclasses
from collections.abc import Sequence

from gemma4_audio_embed.batching.batch_budget import AUTO
from gemma4_audio_embed.batching.row_packing import PackingGeometry
from gemma4_audio_embed.batching.row_packing import batch_lengths
from gemma4_audio_embed.batching.row_packing import bucket_lengths


@dataclasses.dataclass(frozen=True)
class BatchPlan:
    """The batching of one job.

    Args:
        lengths: tuple of int. Increasing row lengths in mel frames; rows of a multi-row batch
            are `lengths[-1]` long (`batch_lengths`).
        max_batch_frames: int or `"auto"`. Frame budget of a batch, padding included; at least
            `lengths[-1]`.
        geometry: PackingGeometry. Where clips may start in a row of the model's input.
    """

    lengths: tuple
    max_batch_frames: object
    geometry: PackingGeometry

    def __post_init__(self):
        lengths = tuple(self.lengths)
        if not lengths or list(lengths) != sorted(set(lengths)) or lengths[0] < 1:
            raise ValueError(f"`lengths` must be increasing positive frame counts. Received: {lengths}")
        if self.max_batch_frames != AUTO and not (
            isinstance(self.max_batch_frames, int) and self.max_batch_frames >= lengths[-1]
        ):
            raise ValueError(
                f"`max_batch_frames` must hold at least one row of the largest bucket, {lengths[-1]} frames, "
                f"or be {AUTO!r}. Received: max_batch_frames={self.max_batch_frames!r}"
            )
        object.__setattr__(self, "lengths", lengths)

    @classmethod
    def from_seconds(
        cls,
        *,
        bucket_seconds: Sequence[float],
        max_clip_seconds: float,
        max_batch_frames,
        encoder_config: dict,
    ) -> "BatchPlan":
        """The plan for `--bucket_seconds`, `--max_clip_seconds`, `--max_batch_frames` and a model
        of configuration `encoder_config` (`ModelSource.encoder_config`)."""
        return cls(
            lengths=batch_lengths(bucket_lengths(bucket_seconds, max_clip_seconds), _fixed(max_batch_frames)),
            max_batch_frames=max_batch_frames,
            geometry=PackingGeometry.from_encoder_config(encoder_config),
        )

    @property
    def fixed_max_batch_frames(self) -> int | None:
        """The budget as `packed_batch` takes it: the number, or None for `"auto"` (chosen on the worker)."""
        return _fixed(self.max_batch_frames)

    @property
    def row_frames(self) -> int:
        """Length of every row of a multi-row batch: the largest bucket."""
        return self.lengths[-1]


def _fixed(max_batch_frames) -> int | None:
    return None if max_batch_frames == AUTO else max_batch_frames
