"""`PackClips`: groups clips into batches that pack tightly into a few rows (`row_packing`).

Axis legend: Mv valid mel frames of a clip, F mel bins.
"""

from apache_beam.transforms.window import GlobalWindows

from gemma4_audio_embed.backends import has_accelerator
from gemma4_audio_embed.batching.batch_budget import AUTO
from gemma4_audio_embed.batching.batch_budget import resolve_max_batch_frames
from gemma4_audio_embed.batching.batch_plan import BatchPlan
from gemma4_audio_embed.batching.row_packing import PackingGeometry
from gemma4_audio_embed.batching.row_packing import batch_layout
from gemma4_audio_embed.batching.row_packing import clip_frames
from gemma4_audio_embed.batching.row_packing import first_fit_rows
from gemma4_audio_embed.batching.row_packing import full_batch_rows
from gemma4_audio_embed.metrics import FRAMES_COMPUTED
from gemma4_audio_embed.metrics import FRAMES_VALID
from gemma4_audio_embed.metrics import MAX_BATCH_FRAMES
from gemma4_audio_embed.metrics import TallyingDoFn
from gemma4_audio_embed.reprs import ConfigRepr

# Clips held back, in full batches' worth of frames, so that first fit has short clips left to
# fill the rows of long ones (bench/pipeline.py reports the share of padded frames that are valid;
# bench/RESULTS.md records it).
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
        geometry: PackingGeometry. Where clips may start (`BatchPlan.geometry`).
    """

    def __init__(self, row_frames: int, max_batch_frames: int, geometry: PackingGeometry):
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


class PackClips(ConfigRepr, TallyingDoFn):
    """Groups `(ClipInfo, float32 [Mv, F])` elements (or `(ClipInfo, float32 [Mv * 160])`
    samples, `ComputeFeatures` with features on the device) into lists that pack into one batch.

    Batches are chosen by `ClipPacker` with the plan's rows and geometry; what is left at the
    end of a bundle is emitted then (Beam batches never span bundles). Feed the lists to
    `RunInference` with `with_no_batching()`; `EncoderModelHandler` packs each with
    `packed_batch` under the same plan.

    Args:
        plan: BatchPlan. Rows, budget and geometry. A budget of `"auto"` is resolved on the
            worker in `setup` (`batch_budget`), logged, and noted in the tally as the
            `max_batch_frames` setting.
        keras_backend: str. Backend `"auto"` measures on. Defaults to `"jax"`.
        compute_dtype: str. Encoder dtype `"auto"` measures. Defaults to `"float32"`.
        features_on_device: bool or None. Whether `"auto"` measures the program that starts
            from samples; None as in `ComputeFeatures`. Defaults to None.
    """

    def __init__(
        self,
        plan: BatchPlan,
        *,
        keras_backend: str = "jax",
        compute_dtype: str = "float32",
        features_on_device: bool | None = None,
    ):
        self.plan = plan
        self.keras_backend = keras_backend
        self.compute_dtype = compute_dtype
        self.features_on_device = features_on_device

    def setup(self):
        super().setup()
        on_device = self.features_on_device
        if self.plan.max_batch_frames == AUTO and on_device is None:
            on_device = has_accelerator(self.keras_backend)
        self._budget = resolve_max_batch_frames(
            self.plan.max_batch_frames, self.keras_backend, self.compute_dtype, self.plan.row_frames, bool(on_device)
        )

    def start_bundle(self):
        super().start_bundle()
        self._packer = ClipPacker(self.plan.row_frames, self._budget, self.plan.geometry)
        self._noted = False

    def process(self, element):
        if not self._noted:
            self.tally.note(MAX_BATCH_FRAMES, self._budget)
            self._noted = True
        for batch in self._packer.add(element, clip_frames(element[1])):
            yield self._counted(batch)

    def finish_bundle(self):
        for batch in self._packer.flush():
            yield GlobalWindows.windowed_value(self._counted(batch))
        yield from super().finish_bundle()

    def _counted(self, batch: list) -> list:
        """Counts the batch's valid frames and the frames the encoder computes for it."""
        frames = [clip_frames(clip) for _, clip in batch]
        _, rows, length = batch_layout(frames, self.plan.lengths, self.plan.fixed_max_batch_frames, self.plan.geometry)
        self.tally.add(FRAMES_VALID, sum(frames))
        self.tally.add(FRAMES_COMPUTED, rows * length)
        return batch
