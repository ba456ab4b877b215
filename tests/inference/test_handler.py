"""Tests for inference/handler.py on the tiny encoder (see tests/conftest.py).

Toy config: hidden 32, 2 blocks, SSCP channels (8, 4), output_proj 48, output 64. Clips of
Mv valid frames give ceil(Mv / 4) tokens.
"""

import math
import pickle

import apache_beam as beam
import keras
import numpy as np
import pytest
from apache_beam.ml.inference.base import KeyedModelHandler
from apache_beam.ml.inference.base import RunInference
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to
from fingerprints import files_fingerprint
from testbed import TINY_ENCODER_CONFIG

from gemma4_audio_embed.batching.batch_plan import BatchPlan
from gemma4_audio_embed.batching.row_packing import RELEASE_GEOMETRY
from gemma4_audio_embed.batching.row_packing import PackingGeometry
from gemma4_audio_embed.inference.handler import EncoderModelHandler
from gemma4_audio_embed.inference.model_sources import ModelSource

LENGTHS = (240, 432, 3024)
PLAN = BatchPlan(lengths=LENGTHS, max_batch_frames=4096, geometry=RELEASE_GEOMETRY)
# Packed into two rows of 3024 (gap 16 frames): 2990 alone; 300 at 0, 240 at 316, 37 at 572.
NUM_FRAMES = (37, 240, 300, 2990)


def _handler(tiny_encoder_path, **kwargs):
    kwargs = {"plan": PLAN, "keras_backend": keras.backend.backend()} | kwargs
    return EncoderModelHandler(model_source=ModelSource("weights", str(tiny_encoder_path)), **kwargs)


def _features(num_frames, seed):
    return np.random.default_rng(seed).normal(-4.0, 2.0, (num_frames, 128)).astype(np.float32)  # [Mv, F]


def _direct(model, features, output_layer="lm"):
    """The encoder called eagerly on one unpadded clip: `float32 [ceil(Mv / 4), O]`."""
    mask = np.ones((1, features.shape[0]), bool)
    outputs = model(features[None], mask, output_layer=output_layer)  # [1, T, O]
    return keras.ops.convert_to_numpy(outputs)[0]


def _tiny_fingerprint(tiny_encoder_path, compute_dtype="float32"):
    return files_fingerprint({"tiny.keras": tiny_encoder_path}, TINY_ENCODER_CONFIG, compute_dtype)


def _relative_error(actual, expected):
    return np.linalg.norm(actual - expected) / np.linalg.norm(expected)


@pytest.fixture(scope="module")
def tiny_model(tiny_encoder_path):
    return keras.saving.load_model(tiny_encoder_path)


def test_handler_holds_only_plain_configuration(tiny_encoder_path):
    handler = _handler(tiny_encoder_path)
    restored = pickle.loads(pickle.dumps(handler))
    assert restored.model_source == ModelSource("weights", str(tiny_encoder_path))
    plain = (str, int, float, bool, tuple, type(None), dict, ModelSource, BatchPlan)
    assert all(isinstance(value, plain) for value in vars(handler).values())


def test_repr_shows_the_configuration(tiny_encoder_path):
    text = repr(_handler(tiny_encoder_path))
    assert text.startswith("EncoderModelHandler(model_source=ModelSource(kind='weights'")
    assert "compute_dtype='float32'" in text and "output_layer='lm'" in text


@pytest.mark.parametrize("output_layer, width", [("lm", 64), ("tower", 48)])
def test_run_inference_equals_direct_calls_per_clip(tiny_encoder_path, tiny_model, output_layer, width):
    handler = _handler(tiny_encoder_path, output_layer=output_layer)
    loaded = handler.load_model()
    batch = [_features(num_frames, seed) for seed, num_frames in enumerate(NUM_FRAMES)]
    results = handler.run_inference(batch, loaded)
    assert len(results) == len(NUM_FRAMES)
    for features, result in zip(batch, results):
        assert result.embedding.shape == (math.ceil(features.shape[0] / 4), width)
        assert result.embedding.dtype == np.float32
        assert result.model_fingerprint == _tiny_fingerprint(tiny_encoder_path)
        assert result.devices["count"] == 1
        assert _relative_error(result.embedding, _direct(tiny_model, features, output_layer)) <= 1e-5


def test_loaded_model_reports_its_packing_geometry(tiny_encoder_path):
    loaded = _handler(tiny_encoder_path).load_model()
    assert loaded.packing_geometry() == PackingGeometry(frames_per_token=4, gap_frames=16)


def test_a_plan_for_another_geometry_stops_the_model_load(tiny_encoder_path):
    plan = BatchPlan(lengths=LENGTHS, max_batch_frames=4096, geometry=PackingGeometry(4, 40))
    with pytest.raises(ValueError, match="the batches were planned for"):
        _handler(tiny_encoder_path, plan=plan).load_model()


def test_bfloat16_compute_recasts_saved_float32_weights(tiny_encoder_path, tiny_model):
    handler = _handler(tiny_encoder_path, compute_dtype="bfloat16")
    loaded = handler.load_model()
    features = _features(240, 0)
    (result,) = handler.run_inference([features], loaded)
    assert result.model_fingerprint == _tiny_fingerprint(tiny_encoder_path, "bfloat16")  # the dtype is in it
    assert 0 < _relative_error(result.embedding, _direct(tiny_model, features)) < 0.05


def test_keyed_run_inference_keeps_keys(tiny_encoder_path):
    handler = KeyedModelHandler(_handler(tiny_encoder_path)).with_no_batching()
    batch_a = [("a", _features(37, 0)), ("b", _features(200, 1))]
    batch_b = [("c", _features(300, 2))]
    with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
        shapes = (
            pipeline
            | "Create" >> beam.Create([batch_a, batch_b])
            | "Embed" >> RunInference(handler)
            | "Shapes" >> beam.Map(lambda keyed: (keyed[0], keyed[1].embedding.shape))
        )
        # ceil(37 / 4) = 10, ceil(200 / 4) = 50, ceil(300 / 4) = 75 tokens of width 64.
        assert_that(shapes, equal_to([("a", (10, 64)), ("b", (50, 64)), ("c", (75, 64))]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"keras_backend": "numpy"}, "keras_backend"),
        ({"compute_dtype": "float16"}, "compute_dtype"),
        ({"output_layer": "logits"}, "output_layer"),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EncoderModelHandler(model_source=ModelSource("random", 0), plan=PLAN, **kwargs)


def test_weights_on_gcs_are_copied_to_a_local_file(tiny_encoder_path, tiny_model, gcs_bucket):
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.create(f"{gcs_bucket}/models/tiny.keras") as f:
        f.write(tiny_encoder_path.read_bytes())
    handler = EncoderModelHandler(
        model_source=ModelSource("weights", f"{gcs_bucket}/models/tiny.keras"),
        plan=PLAN,
        keras_backend=keras.backend.backend(),
    )
    assert handler.load_model().fingerprint() == _tiny_fingerprint(tiny_encoder_path)  # the same bytes


def test_the_launch_fingerprint_is_checked_against_the_files_the_worker_loads(tiny_encoder_path):
    launched = _tiny_fingerprint(tiny_encoder_path)
    assert _handler(tiny_encoder_path, model_fingerprint=launched).load_model().fingerprint() == launched
    with pytest.raises(ValueError, match="its files changed since the launch"):
        _handler(tiny_encoder_path, model_fingerprint="0" * 64).load_model()


class _FailingOn:
    """A `LoadedEncoder` that fails every batch holding a clip of `bad_frames` valid frames.

    `error` is raised each time; `transient_failures` first makes that many calls fail with a
    device out of memory, whatever they hold, as a worker's RESOURCE_EXHAUSTED does."""

    def __init__(self, loaded, bad_frames: int, error: Exception, transient_failures: int = 0):
        self.loaded = loaded
        self.bad_frames = bad_frames
        self.error = error
        self.transient_failures = transient_failures
        self.batches = []  # number of rows of every call

    def __getattr__(self, name):
        return getattr(self.loaded, name)

    def embeddings(self, inputs, mask):
        self.batches.append(int(mask.any(axis=1).sum()))
        if self.transient_failures:
            self.transient_failures -= 1
            raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 12 MiB")
        if self.bad_frames in {run for row in mask for run in _runs(row)}:
            raise self.error
        return self.loaded.embeddings(inputs, mask)


def _runs(row):
    """Lengths of the runs of True in one mask row: the clips packed in it."""
    runs, length = [], 0
    for valid in row.tolist() + [False]:
        if valid:
            length += 1
        elif length:
            runs.append(length)
            length = 0
    return runs


def test_a_failing_clip_costs_only_itself_with_its_own_error(tiny_encoder_path, tiny_model, monkeypatch):
    from gemma4_audio_embed import retries
    from gemma4_audio_embed.inference.clip_failures import ClipFailure

    monkeypatch.setattr(retries, "BACKOFF_SECONDS", 0.0)
    handler = _handler(tiny_encoder_path)
    # Four clips packed as in NUM_FRAMES; the one of 240 frames makes any batch holding it fail.
    failing = _FailingOn(handler.load_model(), 240, ValueError("clip 240 breaks the encoder"))
    batch = [_features(num_frames, seed) for seed, num_frames in enumerate(NUM_FRAMES)]
    results = handler.run_inference(batch, failing)
    assert [type(result).__name__ for result in results] == ["ClipEmbedding", "ClipFailure"] + ["ClipEmbedding"] * 2
    failure = results[1]
    assert isinstance(failure, ClipFailure) and failure.error_type == "ValueError"
    assert "clip 240 breaks the encoder" in failure.traceback_lines[-1]
    for index in (0, 2, 3):
        assert _relative_error(results[index].embedding, _direct(tiny_model, batch[index])) <= 1e-5
    # 4 clips, then halves [37, 240] and [300, 2990], then [37] and [240] alone: 5 calls, no retry
    # of the ValueError, which is not transient.
    assert len(failing.batches) == 5


def test_a_transient_failure_is_retried_before_the_batch_is_split(tiny_encoder_path, monkeypatch):
    from gemma4_audio_embed import retries

    monkeypatch.setattr(retries, "BACKOFF_SECONDS", 0.0)
    handler = _handler(tiny_encoder_path)
    flaky = _FailingOn(handler.load_model(), -1, ValueError("never"), transient_failures=2)
    batch = [_features(num_frames, seed) for seed, num_frames in enumerate(NUM_FRAMES)]
    results = handler.run_inference(batch, flaky)
    assert all(type(result).__name__ == "ClipEmbedding" for result in results)
    assert len(flaky.batches) == 3  # two out-of-memory tries, then the whole batch at once


def test_run_inference_with_a_failing_clip_dead_letters_it_alone(tiny_encoder_path, tmp_path, monkeypatch):
    """The graph's steps: RunInference with the keyed handler, then SeparateFailedClips."""
    from apache_beam.testing.util import assert_that

    from gemma4_audio_embed.inference.clip_failures import FAILED_CLIPS_TAG
    from gemma4_audio_embed.inference.clip_failures import SeparateFailedClips

    class _Faulty(EncoderModelHandler):
        def load_model(self):
            return _FailingOn(super().load_model(), 240, ValueError("clip 240 breaks the encoder"))

    handler = _Faulty(model_source=ModelSource("weights", str(tiny_encoder_path)), plan=PLAN, keras_backend="jax")
    batch = [(f"clip{num_frames}", _features(num_frames, seed)) for seed, num_frames in enumerate(NUM_FRAMES)]
    with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
        separated = (
            pipeline
            | beam.Create([batch])
            | RunInference(KeyedModelHandler(handler).with_no_batching())
            | beam.ParDo(SeparateFailedClips()).with_outputs(FAILED_CLIPS_TAG, main="main")
        )
        assert_that(
            separated.main | "Keys" >> beam.Map(lambda keyed: keyed[0]),
            equal_to(["clip37", "clip300", "clip2990"]),
            label="embedded",
        )
        assert_that(
            separated[FAILED_CLIPS_TAG]
            | "Failed" >> beam.Map(lambda dead: (dead[0][0], dead[1][0], dead[1][2][-1].strip())),
            equal_to([("clip240", "ValueError", "ValueError: clip 240 breaks the encoder")]),
            label="dead letters",
        )
