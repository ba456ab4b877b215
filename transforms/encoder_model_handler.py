"""`EncoderModelHandler`: the RunInference model handler for the Gemma 4 audio encoder.

It keeps only paths and plain settings; the Keras model is built in `load_model`, once per
worker process (or once per machine with `share_across_processes`). Wrap it in Beam's
`KeyedModelHandler` to carry each clip's `ClipInfo`, and call `with_no_batching()`:
`PackClips` makes the batches.

Axis legend: R rows, Mv valid mel frames, M row length, F mel bins, T tokens, Tv valid
tokens, O output width.
"""

import json
import logging
from typing import Any
from typing import Optional
from typing import Sequence
from typing import Union

import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler
from apache_beam.ml.inference.base import PredictionResult

from transforms.batch_budget import AUTO
from transforms.encoder_module import KERAS_BACKENDS
from transforms.encoder_module import encoder_module
from transforms.metrics import DEVICES
from transforms.metrics import NAMESPACE
from transforms.model_sources import load_keras_file
from transforms.model_sources import load_keras_hub_preset
from transforms.model_sources import local_hf_checkpoint
from transforms.row_packing import PackingGeometry
from transforms.row_packing import clip_frames
from transforms.row_packing import packed_batch

COMPUTE_DTYPES = ("float32", "bfloat16")
OUTPUT_LAYERS = ("lm", "tower")
RANDOM_WEIGHTS_WARNING = (
    "No --hf_checkpoint, --weights or --keras_hub_preset given: the encoder has the released configuration with "
    "RANDOM weights (seed {seed}). Its embeddings are MEANINGLESS; use this only for tests, "
    "benchmarks and dry runs."
)


class LoadedEncoder:
    """A built encoder with its compiled forward pass and fingerprint; what `load_model` returns.

    Only methods are used on it, so it also works through Beam's cross-process model proxy.
    """

    def __init__(self, encoder, model, output_layer: str):
        self._predict = encoder.make_predict_fn(model, output_layer=output_layer)
        # Made when the first batch of samples arrives (ComputeFeatures with features on the device).
        self._predict_from_samples = None
        self._make_from_samples = lambda: encoder.make_predict_fn(model, output_layer=output_layer, features_on_device=True)
        self._fingerprint = encoder.model_fingerprint(model)
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
        """`float32 [R, M, F]` features (or `[R, M * 160]` samples), `bool [R, M]` ->
        `float32 [R, T, O]`, invalid tokens 0."""
        if inputs.ndim == 3:
            return self._predict(inputs, mask)
        if self._predict_from_samples is None:
            self._predict_from_samples = self._make_from_samples()
        return self._predict_from_samples(inputs, mask)


class EncoderModelHandler(ModelHandler[np.ndarray, PredictionResult, LoadedEncoder]):
    """Runs the Gemma 4 audio encoder on pre-batched clips' valid log-mel frames.

    The model comes from `hf_checkpoint` (a Hugging Face Gemma 4 E2B/E4B folder or Hub id),
    `weights` (a `.keras` file) or `keras_hub_preset`, or, with none, is the released
    configuration with seeded random weights, loudly flagged as meaningless. Paths may be local
    or `gs://`; remote ones are copied to a local temporary folder first, a checkpoint's only
    as far as its audio tensors go (`transforms.model_sources`).

    Each batch is packed into rows (`packed_batch`, with the loaded model's packing
    geometry), run through the compiled forward pass (on JAX, spread over every local
    device; the `devices` string set of the namespace says which), and cut back to each clip's valid
    tokens, which equal the clip's tokens run alone.

    Args:
        bucket_lengths: sorted tuple of ints. Row lengths in frames (`bucket_lengths`).
        max_batch_frames: int or `"auto"`. Frame budget per batch, as given to `PackClips`;
            with `"auto"` (a power of two of rows, chosen by `PackClips` on the worker) rows
            are padded to a power of two without a cap.
        keras_backend: str. `"tensorflow"`, `"jax"` or `"torch"`. Defaults to `"tensorflow"`.
        hf_checkpoint: str or None. Hugging Face checkpoint folder, or Hub id
            `org/name[@revision]` (pin the commit, as the launcher does). Defaults to None.
        weights: str or None. `.keras` file of a saved `Gemma4AudioEncoder`. Defaults to None.
        keras_hub_preset: str or None. keras-hub preset name, Kaggle handle or preset folder.
            Defaults to None.
        seed: int. Seed of the random weights when neither source is given. Defaults to 0.
        compute_dtype: str. `"float32"` or `"bfloat16"` dtype policy. Defaults to `"float32"`.
        output_layer: str. `"lm"` for the LM-space embeddings (the seed's output) or
            `"tower"` for the `output_proj` result before the final norm and projection.
            Defaults to `"lm"`.
        share_across_processes: bool. Load one model per machine and share it between SDK
            processes (Beam's `large_model`). Defaults to False.

    Call arguments (`run_inference`):
        batch: list of `float32 [Mv_b, F]`, valid frames of the clips of one batch, or of
            `float32 [Mv_b * 160]`, their samples (log-mel then runs in the compiled program).
        model: LoadedEncoder from `load_model`.

    Returns:
        One `PredictionResult(example, inference, model_id)` per clip: the input frames,
        `float32 [Tv_b, O]` valid-token embeddings, and the model fingerprint.
    """

    def __init__(
        self,
        *,
        bucket_lengths: Sequence[int],
        max_batch_frames: Union[int, str],
        keras_backend: str = "tensorflow",
        hf_checkpoint: Optional[str] = None,
        weights: Optional[str] = None,
        keras_hub_preset: Optional[str] = None,
        seed: int = 0,
        compute_dtype: str = "float32",
        output_layer: str = "lm",
        share_across_processes: bool = False,
    ):
        super().__init__(large_model=share_across_processes)
        sources = {"hf_checkpoint": hf_checkpoint, "weights": weights, "keras_hub_preset": keras_hub_preset}
        if sum(bool(value) for value in sources.values()) > 1:
            raise ValueError(
                "Pass at most one of `hf_checkpoint`, `weights`, `keras_hub_preset`. Received: "
                + ", ".join(f"{name}={value!r}" for name, value in sources.items() if value)
            )
        for name, value, allowed in [
            ("keras_backend", keras_backend, KERAS_BACKENDS),
            ("compute_dtype", compute_dtype, COMPUTE_DTYPES),
            ("output_layer", output_layer, OUTPUT_LAYERS),
        ]:
            if value not in allowed:
                raise ValueError(f"`{name}` must be one of {allowed}. Received: {name}={value!r}")
        self.bucket_lengths = tuple(bucket_lengths)
        self.max_batch_frames = max_batch_frames
        self.keras_backend = keras_backend
        self.hf_checkpoint = hf_checkpoint
        self.weights = weights
        self.keras_hub_preset = keras_hub_preset
        self.seed = seed
        self.compute_dtype = compute_dtype
        self.output_layer = output_layer
        self.share_across_processes = share_across_processes

    def _model(self, encoder):
        if self.hf_checkpoint:
            return encoder.load_hf_checkpoint(local_hf_checkpoint(self.hf_checkpoint), dtype=self.compute_dtype)
        if self.weights:
            return load_keras_file(self.weights, self.compute_dtype)
        if self.keras_hub_preset:
            return load_keras_hub_preset(self.keras_hub_preset, self.compute_dtype)
        logging.warning(RANDOM_WEIGHTS_WARNING.format(seed=self.seed))
        return encoder.default_encoder(seed=self.seed, dtype=self.compute_dtype)

    def load_model(self) -> LoadedEncoder:
        encoder = encoder_module(self.keras_backend)
        return LoadedEncoder(encoder, self._model(encoder), self.output_layer)

    def run_inference(
        self,
        batch: Sequence[np.ndarray],
        model: LoadedEncoder,
        inference_args: Optional[dict[str, Any]] = None,
    ) -> list[PredictionResult]:
        geometry = model.packing_geometry()
        budget = None if self.max_batch_frames == AUTO else self.max_batch_frames
        mel, mask, placements = packed_batch(batch, self.bucket_lengths, budget, geometry)
        outputs = model.embeddings(mel, mask)  # [R, T, O]
        Metrics.string_set(NAMESPACE, DEVICES).add(json.dumps(model.devices(), sort_keys=True))
        fingerprint = model.fingerprint()
        results = []
        for features, (row, start) in zip(batch, placements):
            first = start // geometry.frames_per_token
            tokens = outputs[row, first : first + geometry.tokens(clip_frames(features))]  # [Tv, O]
            results.append(PredictionResult(features, np.array(tokens), fingerprint))
        return results

    def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
        return sum(features.nbytes for features in batch)

    def get_metrics_namespace(self) -> str:
        return NAMESPACE

    def share_model_across_processes(self) -> bool:
        return self.share_across_processes
