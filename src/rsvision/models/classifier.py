"""Scene classification with a ``Weights`` record: the record's preprocessing, optional D4 TTA."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from rsvision.models.tta import d4_probabilities
from rsvision.models.weights import Weights, resolve_weights

DEFAULT_CLASSIFIER = "aid_resnet18w05"


@dataclass
class Prediction:
    label: str
    score: float
    top: list[tuple[str, float]]


class Classifier:
    """A classifier built from its weights card; ``predict_proba`` takes raw (C, H, W) images."""

    def __init__(self, weights: Weights | str | os.PathLike | None = None, bands: Sequence[str] | None = None):
        self.weights = weights if isinstance(weights, Weights) else resolve_weights(weights or DEFAULT_CLASSIFIER)
        self.model = self.weights.build_model()
        self.bands = bands

    @property
    def classes(self) -> list[str]:
        return self.weights.classes

    def preprocess(self, images: np.ndarray | Sequence[np.ndarray], where: Sequence[str] | None = None) -> torch.Tensor:
        """Raw (N, C, H, W) or a list of (C, H, W) images of any sizes -> one model-ready batch."""
        if isinstance(images, np.ndarray) and images.ndim == 4:
            return self.weights.preprocess(images, self.bands)
        names = where or [f"image {i}" for i in range(len(images))]
        return torch.cat([self.weights.preprocess(im, self.bands, where=w) for im, w in zip(images, names)])

    @torch.no_grad()
    def predict_proba(self, images: np.ndarray | Sequence[np.ndarray], tta: bool = False,
                      where: Sequence[str] | None = None) -> np.ndarray:
        """(N, K) class probabilities; ``tta`` averages the 8 D4 views."""
        x = self.preprocess(images, where)
        if tta:
            return d4_probabilities(self.model, x).numpy()
        return self.model(x).softmax(-1).numpy()

    def classify(self, images: np.ndarray | Sequence[np.ndarray], tta: bool = False, top: int = 5) -> list[Prediction]:
        probs = self.predict_proba(images, tta)
        out = []
        for p in probs:
            order = np.argsort(-p)[:top]
            out.append(Prediction(self.classes[order[0]], float(p[order[0]]),
                                  [(self.classes[i], float(p[i])) for i in order]))
        return out
