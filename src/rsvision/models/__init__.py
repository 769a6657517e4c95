"""Models: builders by name, a band-adaptive stem, ``Weights`` records that carry their preprocessing,
loaders for third-party checkpoints, and the scene classifier."""

from rsvision.models.checkpoints import download_from_hub, load_state, load_timm, load_torchgeo, read_state_dict
from rsvision.models.classifier import DEFAULT_CLASSIFIER, Classifier, Prediction
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import RGB, build_model, list_models, register
from rsvision.models.stem import adapt_stem, band_mapping, resolve_bands
from rsvision.models.weights import MeasuredMetrics, Weights, builtin_weights, resolve_weights, save_weights

__all__ = [
    "DEFAULT_CLASSIFIER", "RGB", "Classifier", "MeasuredMetrics", "Prediction", "Preprocessing", "Weights",
    "adapt_stem", "band_mapping", "build_model", "builtin_weights", "download_from_hub", "list_models",
    "load_state", "load_timm", "load_torchgeo", "read_state_dict", "register", "resolve_bands", "resolve_weights",
    "save_weights",
]
