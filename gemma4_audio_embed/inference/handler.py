"""`EncoderModelHandler`: the RunInference model handler for the Gemma 4 audio encoder.

It keeps only plain settings (a `ModelSource`, a `BatchPlan`, dtypes); the Keras model is built
in `load_model`, once per worker process (or once per machine with `share_across_processes`).
Wrap it in Beam's `KeyedModelHandler` to carry each clip's `ClipInfo`, and call
`with_no_batching()`: `PackClips` makes the batches under the same plan. A batch that fails is
retried by halves, so a fault costs one clip (`inference.clip_failures`).

Axis legend: R rows, Mv valid mel frames, M row length, F mel bins, T tokens, Tv valid
tokens, O output width.
"""

import logging
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple

import numpy as np

from gemma4_audio_embed.backends import KERAS_BACKENDS
from gemma4_audio_embed.backends import encoder_module
from gemma4_audio_embed.batching.batch_plan import BatchPlan
from gemma4_audio_embed.batching.row_packing import PackingGeometry
from gemma4_audio_embed.batching.row_packing import clip_frames
from gemma4_audio_embed.batching.row_packing import packed_batch
from gemma4_audio_embed.encoder.config import COMPUTE_DTYPES
from gemma4_audio_embed.encoder.config import OUTPUT_LAYERS
from gemma4_audio_embed.encoder.config import check_choice
from gemma4_audio_embed.inference.beam_ml import ModelHandler
from gemma4_audio_embed.inference.clip_failures import ClipFailure
from gemma4_audio_embed.inference.local_cache import enable_jax_compilation_cache
from gemma4_audio_embed.inference.model_sources import ModelSource
from gemma4_audio_embed.metrics import NAMESPACE
from gemma4_audio_embed.reprs import ConfigRepr
from gemma4_audio_embed.retries import retried


class ClipEmbedding(NamedTuple):
    """What the handler returns per clip.

    Attributes:
        embedding: `float32 [Tv, O]`, the clip's valid tokens.
        model_fingerprint: str. The model's fingerprint (`ModelSource.fingerprint`).
        devices: dict. `{"count": int, "kind": str}`: the devices the batch ran on.
    """

    embedding: np.ndarray
    model_fingerprint: str
    devices: dict


class LoadedEncoder:
    """A built encoder with its compiled forward pass and fingerprint; what `load_model` returns.

    Only methods are used on it, so it also works through Beam's cross-process model proxy.

    Args:
        encoder: the `encoder` package, imported under the worker's Keras backend.
        model: Gemma4AudioEncoder. The built model.
        output_layer: str. `"lm"` or `"tower"`.
        fingerprint: str. The model fingerprint its records carry (`ModelSource.fingerprint`).
    """

    def __init__(self, encoder, model, output_layer: str, fingerprint: str):
        self._predict = encoder.make_predict_fn(model, output_layer=output_layer)
        # Made when the first batch of samples arrives (ComputeFeatures with features on the device).
        self._predict_from_samples = None
        self._make_from_samples = lambda: encoder.make_predict_fn(
            model, output_layer=output_layer, features_on_device=True
        )
        self._fingerprint = fingerprint
        self._geometry = PackingGeometry(model.frames_per_token, model.packing_gap_frames)

    def fingerprint(self) -> str:
        return self._fingerprint

    def devices(self) -> dict:
        """`{"count": int, "kind": str}`: the devices each batch's rows are spread over."""
        kinds = self._predict.devices
        return {"count": len(kinds), "kind": ", ".join(sorted(set(kinds)))}

    def packing_geometry(self) -> PackingGeometry:
        """Where clips may start in a row of this model's input."""
        return self._geometry

    def embeddings(self, inputs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """`float32 [R, M, F]` features (or `[R, M * 160]` samples), `int32 [R, M]` clip numbers
        (`packed_batch`) -> `float32 [R, T, O]`, invalid tokens 0."""
        if inputs.ndim == 3:
            return self._predict(inputs, mask)
        if self._predict_from_samples is None:
            self._predict_from_samples = self._make_from_samples()
        return self._predict_from_samples(inputs, mask)


class EncoderModelHandler(ConfigRepr, ModelHandler[np.ndarray, ClipEmbedding, LoadedEncoder]):
    """Runs the Gemma 4 audio encoder on pre-batched clips' valid log-mel frames.

    The model comes from `model_source` (`ModelSource.load`): a Hugging Face Gemma 4 E2B/E4B
    folder or Hub id, a `.keras` file, a keras-hub preset, or seeded random weights, loudly
    flagged as meaningless. Each batch is packed into rows (`packed_batch`, under `plan`), run
    through the compiled forward pass (on JAX, spread over every local device), and cut back to
    each clip's valid tokens, which equal the clip's tokens run alone.

    A transient failure of a batch (a device out of memory, an I/O error; `retries.is_transient`)
    is retried a bounded number of times; a batch that still fails is run again as two halves,
    and so on down to single clips, so only a clip that fails alone is lost: its result is a
    `ClipFailure` with its own error, which `SeparateFailedClips` makes a dead letter.

    Args:
        model_source: ModelSource. Where the weights come from.
        plan: BatchPlan. Row lengths, budget and packing geometry, as given to `PackClips`; with
            a budget of `"auto"` (a power of two of rows, chosen by `PackClips` on the worker)
            rows are padded to a power of two without a cap.
        keras_backend: str. `"tensorflow"`, `"jax"` or `"torch"`. Defaults to `"tensorflow"`.
        compute_dtype: str. `"float32"` or `"bfloat16"` dtype policy. Defaults to `"float32"`.
        output_layer: str. `"lm"` for the LM-space embeddings or `"tower"` for the `output_proj`
            result before the final norm and projection. Defaults to `"lm"`.
        share_across_processes: bool. Load one model per machine and share it between SDK
            processes (Beam's `large_model`). Defaults to False.
        model_fingerprint: str or None. The fingerprint the launch computed
            (`ModelSource.fingerprint`); the worker computes it again from the files it loads and
            stops when they differ, so no record names weights it was not made with. None
            checks nothing. Defaults to None.

    Call arguments (`run_inference`):
        batch: list of `float32 [Mv_b, F]`, valid frames of the clips of one batch, or of
            `float32 [Mv_b * 160]`, their samples (log-mel then runs in the compiled program).
        model: LoadedEncoder from `load_model`.

    Returns:
        One result per clip: a `ClipEmbedding` (`float32 [Tv_b, O]` valid-token embeddings, the
        model fingerprint and the devices), or a `ClipFailure` for a clip that fails alone.

    Raises:
        ValueError: in `load_model`, when the loaded model's packing geometry is not the plan's,
            or its files' fingerprint is not `model_fingerprint`.
    """

    def __init__(
        self,
        *,
        model_source: ModelSource,
        plan: BatchPlan,
        keras_backend: str = "tensorflow",
        compute_dtype: str = "float32",
        output_layer: str = "lm",
        share_across_processes: bool = False,
        model_fingerprint: str | None = None,
    ):
        super().__init__(large_model=share_across_processes)
        check_choice("keras_backend", keras_backend, KERAS_BACKENDS)
        check_choice("compute_dtype", compute_dtype, COMPUTE_DTYPES)
        check_choice("output_layer", output_layer, OUTPUT_LAYERS)
        self.model_source = model_source
        self.plan = plan
        self.keras_backend = keras_backend
        self.compute_dtype = compute_dtype
        self.output_layer = output_layer
        self.share_across_processes = share_across_processes
        self.model_fingerprint = model_fingerprint

    def load_model(self) -> LoadedEncoder:
        encoder = encoder_module(self.keras_backend)
        if self.keras_backend == "jax":
            enable_jax_compilation_cache()
        source = self.model_source.localized()
        fingerprint = source.fingerprint(self.compute_dtype, self.keras_backend)
        if self.model_fingerprint is not None and fingerprint != self.model_fingerprint:
            raise ValueError(
                f"{self.model_source.describe()} now fingerprints as {fingerprint[:16]}..., but the job was "
                f"launched with {self.model_fingerprint[:16]}...: its files changed since the launch. "
                "Launch the job again."
            )
        loaded = LoadedEncoder(encoder, source.load(self.compute_dtype), self.output_layer, fingerprint)
        if loaded.packing_geometry() != self.plan.geometry:
            raise ValueError(
                f"{self.model_source.describe()} packs clips as {loaded.packing_geometry()}, but the batches "
                f"were planned for {self.plan.geometry}; the plan must come from the model's own configuration."
            )
        return loaded

    def run_inference(
        self,
        batch: Sequence[np.ndarray],
        model: LoadedEncoder,
        inference_args: dict[str, Any] | None = None,
    ) -> list:
        results = [None] * len(batch)
        self._embed_or_split(batch, list(range(len(batch))), model, results)
        return results

    def _embed_or_split(self, batch: Sequence[np.ndarray], positions: list, model, results: list) -> None:
        """Fills `results[p]` for the clips `batch[p]`, `p` in `positions`: all at once, else by halves."""
        clips = [batch[position] for position in positions]
        try:
            embedded = retried(lambda: self._embedded(clips, model), what=f"embedding a batch of {len(clips)} clips")
        except Exception as error:  # noqa: BLE001 - any failure: find the clip it belongs to
            if len(positions) == 1:
                results[positions[0]] = ClipFailure.of(error)
                return
            logging.warning(
                "A batch of %d clips failed (%s: %s); embedding it again by halves.",
                len(clips),
                type(error).__name__,
                error,
            )
            half = len(positions) // 2
            self._embed_or_split(batch, positions[:half], model, results)
            self._embed_or_split(batch, positions[half:], model, results)
            return
        for position, result in zip(positions, embedded):
            results[position] = result

    def _embedded(self, batch: Sequence[np.ndarray], model: LoadedEncoder) -> list[ClipEmbedding]:
        geometry = self.plan.geometry
        mel, mask, placements = packed_batch(batch, self.plan.lengths, self.plan.fixed_max_batch_frames, geometry)
        outputs = model.embeddings(mel, mask)  # [R, T, O]
        devices = model.devices()
        fingerprint = model.fingerprint()
        results = []
        for features, (row, start) in zip(batch, placements):
            first = start // geometry.frames_per_token
            tokens = outputs[row, first : first + geometry.tokens(clip_frames(features))]  # [Tv, O]
            results.append(ClipEmbedding(np.array(tokens), fingerprint, devices))
        return results

    def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
        return sum(features.nbytes for features in batch)

    def get_metrics_namespace(self) -> str:
        return NAMESPACE

    def share_model_across_processes(self) -> bool:
        return self.share_across_processes
