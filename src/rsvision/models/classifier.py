"""Scene classification with a ``Weights`` record: the record's preprocessing, and one forward pass for class
probabilities (:meth:`Classifier.probabilities`, optionally D4 TTA) that every caller shares."""

from __future__ import annotations

import copy
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rsvision.errors import RsvisionError, WeightsError
from rsvision.models.backbones import head_size
from rsvision.models.registry import build_from_weights
from rsvision.models.resolve import resolve_model
from rsvision.models.tta import d4_mean
from rsvision.models.weights import Task, Weights

DEFAULT_CLASSIFIER = "aid_efficientnet_lite0"


@dataclass
class Prediction:
    label: str
    score: float
    top: list[tuple[str, float]]


class Classifier:
    """A classifier: its card (``weights``), its network (``model``) and the band names of the images it will be
    given (``bands``, matched to the card's by name; None: the card's order). ``weights`` is a card or anything
    ``-m`` takes (:func:`rsvision.models.resolve.resolve_model`; None: the built-in default); ``module`` is the
    network when the caller already has it (a third-party checkpoint)."""

    def __init__(
        self,
        weights: Weights | str | os.PathLike | None = None,
        bands: Sequence[str] | None = None,
        module: nn.Module | None = None,
        device: str = "cpu",
    ):
        if not isinstance(weights, Weights):
            loaded = resolve_model(weights or DEFAULT_CLASSIFIER)
            weights, module = loaded.weights, loaded.module
        self.weights, self.device = weights, device
        self.model = (module if module is not None else build_from_weights(weights)).eval().to(device)
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

    def probabilities(self, x: torch.Tensor, tta: bool = False) -> torch.Tensor:
        """(N, K) float32 class probabilities of a preprocessed batch ``x``: the softmax of the network's outputs;
        with ``tta``, their mean over the 8 D4 views. The one forward pass behind :meth:`predict_proba`, the
        engine's tiles and dataset inference, so all of them give the same numbers for the same pixels."""
        require_head(self)
        with torch.inference_mode():
            return d4_mean(self._softmax, x) if tta else self._softmax(x)

    def _softmax(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(self.device)).float().softmax(-1).cpu()

    def predict_proba(
        self, images: np.ndarray | Sequence[np.ndarray], tta: bool = False, where: Sequence[str] | None = None
    ) -> np.ndarray:
        """(N, K) class probabilities of raw images; ``tta`` averages the 8 D4 views."""
        return self.probabilities(self.preprocess(images, where), tta).numpy()

    def classify(self, images: np.ndarray | Sequence[np.ndarray], tta: bool = False, top: int = 5) -> list[Prediction]:
        probs = self.predict_proba(images, tta)
        out = []
        for p in probs:
            order = np.argsort(-p)[:top]
            out.append(
                Prediction(self.classes[order[0]], float(p[order[0]]), [(self.classes[i], float(p[i])) for i in order])
            )
        return out


def load_classifier(
    model: str | os.PathLike | None = None,
    bands: Sequence[str] | None = None,
    *,
    task: Task | Collection[Task] = Task.CLASSIFICATION,
    needed_by: str = "classify",
    device: str = "cpu",
) -> Classifier:
    """The classifier that ``-m MODEL`` names (the built-in default when ``None``): any form of
    :func:`rsvision.models.resolve.resolve_model`, refused in one line when its card's task is not ``task``
    (``needed_by`` names the command in that line). ``bands`` names the bands of the images it will be given
    (matched to the model's by name). ``eval probe`` also takes feature extractors (``Task.EMBEDDING``).
    ``device``: where the network runs (``cpu``, ``cuda``; see :func:`rsvision.models.device.pick_device`)."""
    loaded = resolve_model(model or DEFAULT_CLASSIFIER, task, needed_by)
    return Classifier(loaded.weights, bands, module=loaded.module, device=device)


def require_head(classifier: Classifier) -> None:
    """Refuse a feature extractor (a checkpoint without a classifier head) where classes are needed."""
    if not classifier.classes:
        raise WeightsError(
            f"{classifier.weights.name} has no classifier head: it gives features (eval probe), not classes"
        )


def feature_model(classifier: Classifier) -> nn.Module:
    """The classifier's network up to its pooled features: the final linear layer (the head that gives one
    output per class) becomes the identity. A model without such a head is returned as it is."""
    net = classifier.model
    n_classes = len(classifier.classes)
    if n_classes == 0:
        return net
    if hasattr(net, "reset_classifier") and head_size(net) == n_classes:  # timm
        out = copy.deepcopy(net)
        out.reset_classifier(0)
        return out.eval()
    linears = [name for name, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not linears or net.get_submodule(linears[-1]).out_features != n_classes:
        raise RsvisionError(f"{classifier.weights.name}: cannot find the classifier head to take features before it")
    out = copy.deepcopy(net)
    parent, _, attr = linears[-1].rpartition(".")
    setattr(out.get_submodule(parent) if parent else out, attr, nn.Identity())
    return out.eval()
