"""Test-wide setup: the Keras backend (JAX unless KERAS_BACKEND says otherwise), repo paths and markers.

Markers (pyproject.toml) let a developer run the fast unit loop, `pytest -m "not oracle and not
e2e and not emulator"`; CI runs everything. They are given here, by rule, so a new test in one of
these places is marked without anyone remembering to.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
from testbed import TEST_DATA  # noqa: E402
from testbed import TINY_ENCODER_CONFIG  # noqa: E402


@pytest.fixture(scope="session")
def speech_16k():
    """float32 [N] speech at 16 kHz (tests/data/speech_16k.wav, espeak-ng)."""
    import soundfile

    audio, rate = soundfile.read(TEST_DATA / "speech_16k.wav", dtype="float32")
    assert rate == 16000 and audio.ndim == 1
    return audio


@pytest.fixture(scope="session")
def tiny_encoder_path(tmp_path_factory):
    """Path of a saved `.keras` Gemma4AudioEncoder with TINY_ENCODER_CONFIG and seeded weights."""
    from gemma4_audio_embed import encoder

    model = encoder.default_encoder(seed=1, **TINY_ENCODER_CONFIG)
    path = tmp_path_factory.mktemp("encoder") / "tiny.keras"
    model.save(path)
    return path


@pytest.fixture
def gcs_bucket(monkeypatch):
    """`gs://test-bucket` on a gcp-storage-emulator served on loopback, via STORAGE_EMULATOR_HOST.

    Beam's GCS client first looks for Google credentials, retrying for up to ~30 s per process
    before it goes on anonymously, which the emulator accepts.
    """
    import socket

    from gcp_storage_emulator.server import create_server

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="test-bucket")
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    yield "gs://test-bucket"
    server.stop()


@pytest.fixture
def gcs_preconditions(gcs_bucket, monkeypatch):
    """`gcs_bucket`, with the emulator honouring `ifGenerationMatch` on uploads and deletes, as GCS does.

    The emulator ignores generation preconditions; the output lock (`outputs/lock.py`) relies on
    them, so this fixture answers 412 Precondition Failed when the object's generation (0: none)
    is not the one asked for. Check and write happen under one lock, as they are atomic in GCS.
    """
    import threading
    from http import HTTPStatus

    from gcp_storage_emulator import server
    from gcp_storage_emulator.exceptions import NotFound
    from gcp_storage_emulator.handlers import objects

    atomic = threading.Lock()

    def generation(storage, bucket_name, object_id) -> str:
        try:
            return str(storage.get_file_obj(bucket_name, object_id)["generation"])
        except NotFound:
            return "0"

    def guarded(original, object_id_of):
        def handler(request, response, storage, *args, **kwargs):
            with atomic:
                wanted = request.query.get("ifGenerationMatch")
                object_id = object_id_of(request)
                if wanted and generation(storage, request.params["bucket_name"], object_id) != wanted[0]:
                    response.status = HTTPStatus.PRECONDITION_FAILED
                    response.json({"error": {"code": 412, "message": "Precondition Failed"}})
                    return
                return original(request, response, storage, *args, **kwargs)

        return handler

    def uploaded_name(request):
        if "name" in request.query:
            return request.query["name"][0]
        return request.data["meta"].get("name") if isinstance(request.data, dict) else None

    replacements = {
        objects.insert: guarded(objects.insert, uploaded_name),
        objects.delete: guarded(objects.delete, lambda request: request.params["object_id"]),
    }
    for _, handlers in server.HANDLERS:
        for method, handler in list(handlers.items()):
            if handler in replacements:
                monkeypatch.setitem(handlers, method, replacements[handler])
    monkeypatch.setattr(objects, "insert", replacements[objects.insert])
    return gcs_bucket


# Modules whose tests compare against transformers or keras-hub, and fixtures that are such oracles.
_ORACLE_MODULES = {
    "test_hf_checkpoint.py",
    "test_keras_hub_weights.py",
    "test_transformers_lm.py",
    "test_keras_hub_lm.py",
    "test_finetune_examples.py",  # the examples train a transformers and a keras-hub Gemma 4
}
_ORACLE_FIXTURES = {"hf_extractor"}
# Whole-pipeline runs (a Beam job or a CLI subprocess): every test under these folders but the pure ones.
_E2E_FOLDERS = {"pipeline", "bench"}
_NOT_E2E = {
    "test_options.py",
    "test_graph.py",
    "test_summary.py",
    "test_progress.py",
    "test_console.py",
    "test_dead_letter_reasons.py",
    "test_local_runner.py",
}
_E2E_FIXTURES = {"image_weights", "embedded_corpus"}  # the Flex Template's local run; the training tests' job run
_E2E_MODULES = {"test_finetune_examples.py"}  # each example embeds its corpus in a subprocess
# Loopback services: the GCS emulator fixture, and the Hub server of the model-source tests.
_EMULATOR_MODULES = {"test_model_sources.py", "test_hf_hub.py"}


def pytest_collection_modifyitems(items):
    for item in items:
        fixtures, module = set(item.fixturenames), item.path.name
        if module in _ORACLE_MODULES or fixtures & _ORACLE_FIXTURES or "transformers" in item.name:
            item.add_marker(pytest.mark.oracle)
        in_e2e_folder = item.path.parent.name in _E2E_FOLDERS and module not in _NOT_E2E
        if in_e2e_folder or module in _E2E_MODULES or fixtures & _E2E_FIXTURES:
            item.add_marker(pytest.mark.e2e)
        if fixtures & {"gcs_bucket", "gcs_preconditions"} or module in _EMULATOR_MODULES:
            item.add_marker(pytest.mark.emulator)
