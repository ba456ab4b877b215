"""Beam's RunInference API (`ModelHandler`, `KeyedModelHandler`, `RunInference`), imported without torch.

Beam 2.77's `apache_beam.ml.inference.base` imports its `ModelManager` (for
`use_model_manager=True`, which this job never sets), whose module imports torch and SciPy's
optimizer: seconds of every launch and every worker process where torch is installed. Where it
is not, the import fails and Beam also drops the `resource` module, and then warns "Resource
module is not available" at every model load. So the first import of the base module here runs
with a stand-in for the model manager's module, whose `ModelManager` raises if ever built; the
stand-in is removed afterwards, so an explicit import of the real module still gets it.
"""

import sys
import types

_MODEL_MANAGER = "apache_beam.ml.inference.model_manager"
_BASE = "apache_beam.ml.inference.base"


class _UnavailableModelManager:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            "Beam's ModelManager (RunInference(use_model_manager=True)) was imported by gemma4_audio_embed "
            "without torch; import apache_beam.ml.inference.base before gemma4_audio_embed to use it."
        )


def _import_base_without_model_manager() -> None:
    if _BASE in sys.modules or _MODEL_MANAGER in sys.modules:
        return
    stand_in = types.ModuleType(_MODEL_MANAGER)
    stand_in.ModelManager = _UnavailableModelManager
    sys.modules[_MODEL_MANAGER] = stand_in
    try:
        __import__(_BASE)
    finally:
        if sys.modules.get(_MODEL_MANAGER) is stand_in:
            del sys.modules[_MODEL_MANAGER]


_import_base_without_model_manager()

from apache_beam.ml.inference.base import KeyedModelHandler  # noqa: E402
from apache_beam.ml.inference.base import ModelHandler  # noqa: E402
from apache_beam.ml.inference.base import RunInference  # noqa: E402

__all__ = ["KeyedModelHandler", "ModelHandler", "RunInference"]
