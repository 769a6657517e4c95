"""Models: builders by name, a band-adaptive stem, preprocessing records and weights."""

from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import RGB, build_model, list_models, register
from rsvision.models.stem import adapt_stem, band_mapping, resolve_bands

__all__ = ["RGB", "Preprocessing", "adapt_stem", "band_mapping", "build_model", "list_models", "register",
           "resolve_bands"]
