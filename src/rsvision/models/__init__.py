"""Models: builders by name, a band-adaptive stem, ``Weights`` records that carry their preprocessing and task,
loaders for third-party checkpoints, the resolver of ``-m MODEL``, the scene classifier and dataset inference.

Names are loaded on first use (PEP 562): ``rsvision.models.weights`` (the cards) imports without torch, so the
command line lists models and checks arguments without waiting seconds for it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "checkpoints": ("download_from_hub", "load_timm", "load_torchgeo"),
    "classifier": ("DEFAULT_CLASSIFIER", "Classifier", "Prediction", "load_classifier"),
    "dual_encoder": ("DualEncoder",),
    "embedder": ("DEFAULT_EMBEDDER", "Embedder", "load_embedder"),
    "inference": ("DatasetOutputs", "extract_features", "images_per_second", "predict_dataset"),
    "preprocess": ("Preprocessing",),
    "registry": ("RGB", "build_from_weights", "build_model", "list_models", "register"),
    "resolve": ("LoadedModel", "register_loader", "resolve_model"),
    "state": ("load_state", "read_state_dict"),
    "stem": ("adapt_stem", "band_mapping", "resolve_bands"),
    "weights": ("MeasuredMetrics", "Task", "Weights", "builtin_weights", "resolve_weights", "save_weights"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'rsvision.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rsvision.models.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
