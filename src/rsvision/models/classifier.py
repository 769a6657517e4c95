"""Scene classification with a ``Weights`` record: the record's preprocessing, optional D4 TTA."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from rsvision.errors import RsvisionError, WeightsError
from rsvision.models.preprocess import Preprocessing
from rsvision.models.tta import d4_probabilities
from rsvision.models.weights import Weights, resolve_weights, sha256_file

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


# Resolving -m MODEL: built-in names, weights files, third-party checkpoints ---------------------------------

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CheckpointClassifier(Classifier):
    """A :class:`Classifier` around a model loaded from a third-party checkpoint, with the preprocessing its
    publisher documents held in an in-memory :class:`Weights` record (no card on disk)."""

    def __init__(self, weights: Weights, model, bands: Sequence[str] | None = None):
        self.weights, self.model, self.bands = weights, model.eval(), bands


def _third_party_record(spec: str, path: Path, architecture: str, prep: Preprocessing, classes: list[str]) -> Weights:
    return Weights(
        name=spec, file=str(path.resolve()), sha256=sha256_file(path), architecture=architecture,
        preprocessing=prep, classes=classes, licence="third-party checkpoint: see its publisher's terms",
        command="(third-party checkpoint, not trained by rsvision)",
    )


def load_classifier(model: str | os.PathLike | None = None, bands: Sequence[str] | None = None) -> Classifier:
    """The classifier that ``-m MODEL`` names (the built-in default when ``None``).

    - a built-in name (``rsvision models``) or a ``NAME.safetensors`` / ``NAME.json`` weights file;
    - ``timm:NAME:PATH``: a timm ``state_dict`` of ``timm.create_model(NAME)`` for 8-bit RGB, with timm's
      preprocessing for NAME (its mean / std and input size); classes named ``class_0`` ...;
    - ``torchgeo:ARCH:PATH``: a TorchGeo Sentinel-2 checkpoint (13 bands B01 .. B12, a feature extractor),
      with the SSL4EO-S12 weights' transform: reflectance divided by 10000, 224 px.

    ``bands`` names the bands of the images it will be given (matched to the model's by name).
    """
    text = str(model) if model is not None else DEFAULT_CLASSIFIER
    kind, _, rest = text.partition(":")
    if kind in ("timm", "torchgeo") and rest:
        arch, sep, path_text = rest.partition(":")
        if not sep or not arch or not path_text:
            raise WeightsError(f"-m {text}: third-party checkpoints are named {kind}:NAME:PATH")
        path = Path(path_text)
        if kind == "timm":
            return _load_timm(text, arch, path, bands)
        return _load_torchgeo(text, arch, path, bands)
    return Classifier(resolve_weights(text), bands=bands)


def _load_timm(spec: str, name: str, path: Path, bands: Sequence[str] | None) -> Classifier:
    from rsvision.models.checkpoints import load_timm

    net = load_timm(path, name)
    cfg = getattr(net, "pretrained_cfg", None) or {}
    size = cfg.get("input_size", (3, 224, 224))[-1]
    head = _head_size(net)
    prep = Preprocessing(bands=list(net.band_names), scale=255.0, value_range=(0, 255),
                         mean=list(cfg.get("mean", IMAGENET_MEAN)), std=list(cfg.get("std", IMAGENET_STD)),
                         input_size=int(size))
    record = _third_party_record(spec, path, f"timm:{name}", prep, [f"class_{i}" for i in range(head)])
    return CheckpointClassifier(record, net, bands)


def _load_torchgeo(spec: str, arch: str, path: Path, bands: Sequence[str] | None) -> Classifier:
    from rsvision.models.checkpoints import load_torchgeo

    kwargs = {"img_size": 224} if arch.startswith("vit") else {}
    net = load_torchgeo(path, arch, num_classes=0, **kwargs)
    n = len(net.band_names)
    prep = Preprocessing(bands=list(net.band_names), scale=10000.0, value_range=(0, 65535), mean=[0.0] * n,
                         std=[1.0] * n, input_size=224)
    return CheckpointClassifier(_third_party_record(spec, path, arch, prep, []), net, bands)


def _head_size(model) -> int:
    """Outputs of a timm model's classifier (0 when it has none)."""
    get = getattr(model, "get_classifier", None)
    head = get() if callable(get) else None
    return int(getattr(head, "out_features", 0) or 0)


def require_head(classifier: Classifier) -> None:
    """Refuse a feature extractor (a checkpoint without a classifier head) where classes are needed."""
    if not classifier.classes:
        raise WeightsError(f"{classifier.weights.name} has no classifier head: it gives features (eval probe), "
                           "not classes")


def feature_model(classifier: Classifier):
    """The classifier's network up to its pooled features: the final linear layer (the head that gives one
    output per class) becomes the identity. A model without such a head is returned as it is."""
    import copy

    from torch import nn

    net = classifier.model
    n_classes = len(classifier.classes)
    if n_classes == 0:
        return net
    if hasattr(net, "reset_classifier") and _head_size(net) == n_classes:  # timm
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
