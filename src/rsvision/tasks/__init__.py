"""Predictors: a batch of tiles in, outputs that know how they merge across tiles (one module per task)."""

from rsvision.tasks.base import (
    BoxPredictor,
    ChangePredictor,
    DensePredictor,
    Detections,
    Predictor,
    TileBatch,
    TilePredictor,
)
from rsvision.tasks.module import ModulePredictor

__all__ = [
    "BoxPredictor",
    "ChangePredictor",
    "DensePredictor",
    "Detections",
    "ModulePredictor",
    "Predictor",
    "TileBatch",
    "TilePredictor",
]
