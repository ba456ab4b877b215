"""`PackClips`: groups clips into batches that pack tightly into a few rows (`row_packing`).

Axis legend: Mv valid mel frames of a clip, F mel bins.
"""

from typing import Optional
from typing import Sequence
from typing import Union

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from transforms.batch_budget import AUTO
from transforms.batch_budget import resolve_max_batch_frames
from transforms.encoder_module import has_accelerator
from transforms.metrics import MAX_BATCH_FRAMES
from transforms.metrics import NAMESPACE

from transforms.row_packing import RELEASE_GEOMETRY
from transforms.row_packing import PackingGeometry
from transforms.row_packing import clip_frames
from transforms.row_packing import first_fit_rows
from transforms.row_packing import full_batch_rows

# Clips held back, in full batches' worth of frames, so that first fit has short clips left to
# fill the rows of long ones (bench/pipeline.py: 94% of the padded frames are valid on both
# of its corpora, against 80-83% when clips were only sorted into length buckets).
LOOKAHEAD_BATCHES = 2


class ClipPacker:
    """Chooses batches from a stream of clips: what `PackClips` does within one bundle.

    Clips wait in a pool. Once the pool would fill `LOOKAHEAD_BATCHES` full batches (each clip
    counted by its `footprint`), `first_fit_rows` packs the pool into one batch's rows, longest
    clips first, and the clips it placed leave as a batch; `flush` empties the pool the same
    way. A batch lists its clips in arrival order, so `packed_batch` packs them into the same
    rows.

    Args:
        row_frames: int. Row length, the largest bucket.
        max_batch_frames: int. Frame budget of a batch: `max_batch_frames // row_frames` rows.
        geometry: where clips may start; the released encoder's by default.
    """

    def __init__(self, row_frames: int, max_batch_frames: int, geometry: PackingGeometry = RELEASE_GEOMETRY):
        self.row_frames = row_frames
        self.max_rows = full_batch_rows(row_frames, max_batch_frames)
        self.geometry = geometry
        self._pool = []  # (element, valid frames)
        self._pool_frames = 0

    def add(self, element, num_frames: int) -> list:
        """Adds a clip; returns the batches (lists of elements) now complete, maybe none."""
        self._pool.append((element, num_frames))
        self._pool_frames += self.geometry.footprint(num_frames)
        batches = []
        while self._pool_frames >= LOOKAHEAD_BATCHES * self.max_rows * self.row_frames:
            batches.append(self._take_batch())
        return batches

    def flush(self) -> list:
        """Returns the pool as batches and empties it."""
        batches = []
        while self._pool:
            batches.append(self._take_batch())
        return batches

    def _take_batch(self) -> list:
        rows = first_fit_rows([frames for _, frames in self._pool], self.row_frames, self.geometry, self.max_rows)
        chosen = sorted(index for placed in rows for index, _ in placed)
        taken = set(chosen)
        batch = [self._pool[index][0] for index in chosen]
        self._pool = [entry for index, entry in enumerate(self._pool) if index not in taken]
        self._pool_frames = sum(self.geometry.footprint(frames) for _, frames in self._pool)
        return batch


class PackClips(beam.DoFn):
    """Groups `(ClipInfo, float32 [Mv, F])` elements (or `(ClipInfo, float32 [Mv * 160])`
    samples, `ComputeFeatures` with features on the device) into lists that pack into one batch.

    Batches are chosen by `ClipPacker`; what is left at the end of a bundle is emitted then
    (Beam batches never span bundles). Feed the lists to `RunInference` with
    `with_no_batching()`; `EncoderModelHandler` packs each with `packed_batch`.

    Args:
        lengths: sorted tuple of bucket lengths in frames, from `bucket_lengths`; rows are
            `lengths[-1]` long.
        max_batch_frames: int or `"auto"`. Frame budget of a batch, padding included; at least
            the largest bucket. `"auto"` is resolved on the worker in `setup`
            (`transforms.batch_budget`), logged, and reported as the `max_batch_frames`
            string set of the namespace.
        keras_backend: str. Backend `"auto"` measures on. Defaults to `"jax"`.
        compute_dtype: str. Encoder dtype `"auto"` measures. Defaults to `"float32"`.
        features_on_device: bool or None. Whether `"auto"` measures the program that starts
            from samples; None as in `ComputeFeatures`. Defaults to None.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        max_batch_frames: Union[int, str],
        keras_backend: str = "jax",
        compute_dtype: str = "float32",
        features_on_device: Optional[bool] = None,
    ):
        lengths = tuple(lengths)
        if not lengths or list(lengths) != sorted(set(lengths)) or lengths[0] < 1:
            raise ValueError(f"`lengths` must be increasing positive frame counts. Received: {lengths}")
        if max_batch_frames != AUTO and not max_batch_frames >= lengths[-1]:
            raise ValueError(
                f"`max_batch_frames` must hold at least one row of the largest bucket, {lengths[-1]} "
                f"frames. Received: max_batch_frames={max_batch_frames}"
            )
        self.lengths = lengths
        self.max_batch_frames = max_batch_frames
        self.keras_backend = keras_backend
        self.compute_dtype = compute_dtype
        self.features_on_device = features_on_device

    def setup(self):
        on_device = self.features_on_device
        if self.max_batch_frames == AUTO and on_device is None:
            on_device = has_accelerator(self.keras_backend)
        self._budget = resolve_max_batch_frames(
            self.max_batch_frames, self.keras_backend, self.compute_dtype, self.lengths[-1], bool(on_device)
        )

    def start_bundle(self):
        self._packer = ClipPacker(self.lengths[-1], self._budget)

    def process(self, element):
        Metrics.string_set(NAMESPACE, MAX_BATCH_FRAMES).add(str(self._budget))
        yield from self._packer.add(element, clip_frames(element[1]))

    def finish_bundle(self):
        for batch in self._packer.flush():
            yield GlobalWindows.windowed_value(batch)
