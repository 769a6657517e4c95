"""Ensembles: several trained networks of one task as one model, one card, one prediction.

An ensemble card has the architecture ``ensemble`` and names its members' architectures in
``architecture_kwargs["members"]``; its weights file holds member ``i``'s tensors under ``members.<i>.``. The members
share the card's bands, preprocessing and classes, so every tool runs an ensemble as it runs one network. Members
trained on other images (a cross-validation ensemble's, each on other cities) may differ in their band statistics:
the ensemble is fed the first member's normalisation and each other member maps it onto its own (``renormalise``,
recorded in its member spec); detectors must share theirs. Their outputs are combined while they are still per
pixel or per image, or, for boxes, by fusing each image's boxes:

- classifiers, segmenters and change models: the mean of the members' class probabilities, returned as its
  logarithm, so that the softmax (and argmax) every consumer takes reads the mean;
- detectors of horizontal boxes (RetinaNet, FCOS, Faster R-CNN): each member's boxes of an image joined by
  weighted boxes fusion (:class:`BoxEnsemble`). On the tree crowns' validation strips it measured above averaging
  two RetinaNets' heads per anchor (AP50 0.558 against 0.493; docs/detection.md).

``-m A+B`` joins built-in names or weights files on the fly (:func:`join_models`); :func:`save_ensemble` writes one
file and card (``rsvision models --ensemble A+B -o OUT.safetensors``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torchvision.models.detection import FCOS, RetinaNet
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN

from rsvision.errors import WeightsError
from rsvision.models.detection import is_rotated
from rsvision.models.preprocess import Preprocessing
from rsvision.models.weights import Task, Weights, save_weights

ENSEMBLE = "ensemble"
JOINABLE = (Task.CLASSIFICATION, Task.SEGMENTATION, Task.CHANGE, Task.DETECTION)
DETECTORS = (RetinaNet, FCOS, GeneralizedRCNN)
# ensemble-boxes' default; the shipped tree-crown ensemble's card sets its own (docs/detection.md)
FUSION_IOU = 0.55


class ProbabilityEnsemble(nn.Module):
    """Members mapping the same inputs to class logits along dim 1: the log of their mean softmax."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        mean = torch.stack([torch.softmax(m(*inputs).float(), dim=1) for m in self.members]).mean(0)
        return torch.log(mean.clamp_min(1e-12))


class BoxEnsemble(nn.Module):
    """Detectors of horizontal boxes: each member's detections of an image fused by weighted boxes fusion
    (Solovyev et al. 2021, with the ``ensemble-boxes`` package): boxes of one class that overlap a cluster by IoU
    ``fusion_iou`` or more become one box, its corners the score-weighted mean of theirs and its score their mean
    over all members (a member that found nothing there counts 0). Inference only: train each member."""

    def __init__(self, members: Sequence[nn.Module], fusion_iou: float = FUSION_IOU):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.fusion_iou = float(fusion_iou)

    def forward(self, images, targets: list[dict] | None = None) -> list[dict[str, torch.Tensor]]:
        if self.training or targets is not None:
            raise WeightsError("an ensemble is joined from trained members: train each member, then join them")
        found = [member(images) for member in self.members]
        return [self._fuse([f[i] for f in found], image.shape[-2:]) for i, image in enumerate(images)]

    def _fuse(self, outputs: list[dict[str, torch.Tensor]], size) -> dict[str, torch.Tensor]:
        # deferred: the package imports numba (a quarter of a second), which no other model needs
        from ensemble_boxes import weighted_boxes_fusion

        device = outputs[0]["boxes"].device
        scale = np.array([size[1], size[0], size[1], size[0]], np.float64)
        boxes, scores, labels = [], [], []
        for o in outputs:  # boxes of no area (clipped to an edge) cover nothing: the fusion would warn of each
            box = np.clip(o["boxes"].cpu().numpy() / scale, 0.0, 1.0)
            keep = (box[:, 2] > box[:, 0]) & (box[:, 3] > box[:, 1])
            boxes.append(box[keep])
            scores.append(o["scores"].cpu().numpy()[keep])
            labels.append(o["labels"].cpu().numpy()[keep])
        fused, scores, labels = weighted_boxes_fusion(boxes, scores, labels, iou_thr=self.fusion_iou, skip_box_thr=0.0)
        return {
            "boxes": torch.as_tensor(fused * scale, dtype=torch.float32, device=device).reshape(-1, 4),
            "scores": torch.as_tensor(scores, dtype=torch.float32, device=device),
            "labels": torch.as_tensor(labels, dtype=torch.int64, device=device),
        }


def combine(members: Sequence[nn.Module], fusion_iou: float = FUSION_IOU) -> nn.Module:
    """The ensemble module of built ``members``: detectors of horizontal boxes fuse their boxes (oriented ones are
    refused: weighted boxes fusion averages corners); anything else averages class probabilities."""
    detectors = [isinstance(m, DETECTORS) for m in members]
    if any(is_rotated(m) for m in members):
        raise WeightsError("ensembles join detectors of horizontal boxes only (oriented boxes are not fused)")
    if all(detectors):
        return BoxEnsemble(members, fusion_iou)
    if any(detectors):
        raise WeightsError("an ensemble joins detectors with detectors only")
    return ProbabilityEnsemble(members)


def member_specs(cards: Sequence[Weights]) -> list[dict[str, Any]]:
    """``architecture_kwargs["members"]`` of an ensemble of ``cards`` (an ensemble member contributes its own), each
    with the ``renormalise`` that takes the first card's normalised inputs to its own, where they differ."""
    specs = []
    for card in cards:
        outer = renormalisation(card.preprocessing, cards[0].preprocessing)
        own = card.architecture_kwargs["members"] if card.architecture == ENSEMBLE else [_spec(card)]
        for spec in own:
            mapping = _composed(outer, spec.get("renormalise"))
            specs.append({**spec, "renormalise": mapping} if mapping else spec)
    return specs


def _spec(card: Weights) -> dict[str, Any]:
    return {"architecture": card.architecture, "architecture_kwargs": card.architecture_kwargs}


def renormalisation(own: Preprocessing, first: Preprocessing) -> dict[str, list[float]] | None:
    """Per band, the gain and offset that take inputs normalised by ``first``'s band statistics to ``own``'s,
    ``(x * std_first + mean_first - mean_own) / std_own``; None where the statistics agree to float noise."""
    if own.same_as(first):
        return None
    own_std = np.asarray(own.std, dtype=np.float64)
    gain = np.asarray(first.std, dtype=np.float64) / own_std
    offset = (np.asarray(first.mean, dtype=np.float64) - np.asarray(own.mean, dtype=np.float64)) / own_std
    return {"gain": gain.tolist(), "offset": offset.tolist()}


def _composed(outer: dict | None, inner: dict | None) -> dict | None:
    """``outer``'s mapping, then ``inner``'s (a nested ensemble's member, normalised apart from its own first)."""
    if outer is None or inner is None:
        return outer or inner
    gain, offset = np.asarray(inner["gain"]), np.asarray(inner["offset"])
    return {
        "gain": (np.asarray(outer["gain"]) * gain).tolist(),
        "offset": (np.asarray(outer["offset"]) * gain + offset).tolist(),
    }


def renormalised(parts: Sequence[nn.Module], specs: Sequence[dict[str, Any]]) -> list[nn.Module]:
    """The built members ``parts``, each fed the ensemble's normalisation through its spec's ``renormalise`` (the
    whole mapping, nested ones composed by :func:`member_specs`), where it has one."""
    return [
        renormalise(part, spec["renormalise"]) if "renormalise" in spec else part
        for part, spec in zip(parts, specs, strict=True)
    ]


def renormalise(module: nn.Module, mapping: dict[str, list[float]]) -> nn.Module:
    """``module`` fed inputs normalised by another member's statistics: each input tensor ``(N, C, H, W)`` mapped
    per band by ``mapping``'s gain and offset first (a forward pre-hook, so the module's tensors keep their names);
    a module mapped before takes the new mapping in place of its old one."""
    gain = torch.tensor(mapping["gain"], dtype=torch.float32).view(1, -1, 1, 1)
    offset = torch.tensor(mapping["offset"], dtype=torch.float32).view(1, -1, 1, 1)
    if hasattr(module, "input_gain"):
        module.input_gain, module.input_offset = gain, offset
        return module
    module.register_buffer("input_gain", gain, persistent=False)
    module.register_buffer("input_offset", offset, persistent=False)
    module.register_forward_pre_hook(_renormalised)
    return module


def _renormalised(module: nn.Module, inputs: tuple) -> tuple:
    def mapped(x: torch.Tensor) -> torch.Tensor:
        dates = x.shape[1] // module.input_gain.shape[1]  # a change model reads both dates' bands stacked
        return x * module.input_gain.repeat(1, dates, 1, 1) + module.input_offset.repeat(1, dates, 1, 1)

    return tuple(mapped(x) for x in inputs)


def check_joinable(cards: Sequence[Weights]) -> None:
    """Refuse, in one line, members that cannot form one model: fewer than two, another task, or other classes,
    bands or preprocessing than the first's."""
    if len(cards) < 2:
        raise WeightsError("an ensemble needs two or more models (A+B)")
    first = cards[0]
    for card in cards:
        if card.task not in JOINABLE:
            raise WeightsError(f"{card.name} is a {card.task.value} model; ensembles join {_tasks()} models")
        for field, what in (("task", "tasks"), ("classes", "classes")):
            if getattr(card, field) != getattr(first, field):
                raise WeightsError(f"cannot join {first.name} and {card.name}: their {what} differ")
        if not card.preprocessing.same_but_statistics(first.preprocessing):  # statistics: renormalise
            raise WeightsError(f"cannot join {first.name} and {card.name}: their preprocessing differ")
        if card.task == Task.DETECTION and not card.preprocessing.same_as(first.preprocessing):
            raise WeightsError(f"cannot join {first.name} and {card.name}: detectors must share band statistics")


def _tasks() -> str:
    return ", ".join(t.value for t in JOINABLE)


def ensemble_card(cards: Sequence[Weights], name: str, file: str, sha256: str, **fields: Any) -> Weights:
    """The card of the ensemble of ``cards`` (checked joinable): the first member's task, classes, preprocessing
    and GSD, the members' architectures; ``fields`` adds metrics, command, notes."""
    check_joinable(cards)
    first = cards[0]
    members = [{"name": c.name, "sha256": c.sha256, "metrics": [m.model_dump() for m in c.metrics]} for c in cards]
    notes = {"members": members, **fields.pop("notes", {})}
    return Weights(
        name=name,
        file=file,
        sha256=sha256,
        task=first.task,
        architecture=ENSEMBLE,
        architecture_kwargs={"members": member_specs(cards)},
        preprocessing=first.preprocessing,
        gsd_m=first.gsd_m,
        classes=first.classes,
        licence=fields.pop("licence", "; ".join(dict.fromkeys(c.licence for c in cards))),
        command=fields.pop("command", f"rsvision models --ensemble {'+'.join(c.name for c in cards)}"),
        notes=notes,
        **fields,
    )


def joined_digest(cards: Sequence[Weights]) -> str:
    """A sha256 naming an on-the-fly ensemble: of its members' digests, in order."""
    return hashlib.sha256("+".join(c.sha256 for c in cards).encode()).hexdigest()


def members_module(modules: Sequence[nn.Module], specs: Sequence[dict[str, Any]]) -> nn.Module:
    """The members' built networks as one ensemble (an ensemble member contributes its own members), each flat
    member mapped onto its own normalisation by its spec (the joined card's ``architecture_kwargs["members"]``)."""
    flat = []
    for module in modules:
        flat.extend(module.members if isinstance(module, ProbabilityEnsemble | BoxEnsemble) else [module])
    return combine(renormalised(flat, specs)).eval()


def save_ensemble(card: Weights, module: nn.Module, out_dir, name: str, **fields: Any) -> Weights:
    """Write a joined ensemble (the in-memory ``card`` and ``module`` of ``-m A+B``) as ``out_dir/NAME.safetensors``
    and its card; ``fields`` replace the card's (metrics, command, notes ...)."""
    kept = card.model_dump(exclude={"name", "file", "sha256"})
    if isinstance(module, BoxEnsemble):  # the fusion the card's figures were measured with
        kept["architecture_kwargs"] = {**kept["architecture_kwargs"], "fusion_iou": module.fusion_iou}
    return save_weights(module, out_dir, name, **{**kept, **fields})
