"""Object detection as a task: the engine's box predictor around a detector (:mod:`rsvision.models.detection`) and
its ``Weights`` card. Tiles reach the network at their own size (the detectors pad to their stride themselves);
the card's band order, value checks and normalisation apply as they do to classifiers and segmenters, and so does
the band choice of :func:`rsvision.tasks.classification.select_bands`. Each tile gives one
:class:`~rsvision.geometry.detections.Detections` in tile pixels: ``xyxy`` boxes, or le90 rotated boxes for an
oriented model; the engine merges them across tiles (cut boxes, class-aware NMS)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rsvision.core.sensors import Band
from rsvision.geometry.detections import Detections
from rsvision.models.detection import is_rotated
from rsvision.models.resolve import LoadedModel, resolve_model
from rsvision.models.weights import Task, Weights
from rsvision.tasks.base import BoxPredictor, TileBatch
from rsvision.tasks.classification import BandChoice, card_fingerprint, card_input, select_bands, tiles_from

DEFAULT_SCORE = 0.3


class Detector(BoxPredictor):
    """Objects in every tile with a score of at least ``score``: class ids index the card's classes. ``bands`` says
    which scene bands are read and how (:func:`~rsvision.tasks.classification.select_bands`); ``dtype`` is the
    scene's (integer tiles reach the card's value checks as the file's values)."""

    def __init__(
        self,
        weights: Weights,
        module,
        bands: BandChoice | None = None,
        *,
        score: float = DEFAULT_SCORE,
        dtype: str | None = None,
        tile_size: int | None = None,
        iou_threshold: float | None = None,
        device: str = "cpu",
    ):
        choice = bands or BandChoice(None, "position")
        self.weights, self.score, self.device = weights, float(score), device
        self.module = module.eval().to(device)
        self.rotated = is_rotated(module)
        self.class_names = list(weights.classes)
        self.bands, self.to_8bit = choice.read, choice.to_8bit
        self.model_bands = list(weights.bands) if choice.read is not None else None
        self.dtype = dtype if dtype and np.dtype(dtype).kind in "ui" else None
        self.tile_size = int(tile_size or weights.input_size)
        if iou_threshold is not None:
            self.iou_threshold = float(iou_threshold)

    def predict(self, batch: TileBatch) -> list[Detections]:
        import torch

        with torch.inference_mode():
            return [self._detections(out) for out in self.module(card_input(self, batch.images, tiles_from(batch)))]

    def _detections(self, out: dict) -> Detections:
        keep = (out["scores"] >= self.score).cpu().numpy()
        labels, scores = out["labels"].cpu().numpy()[keep], out["scores"].cpu().numpy()[keep]
        if self.rotated:
            return Detections(labels, scores, rboxes=out["rboxes"].cpu().numpy()[keep])
        return Detections(labels, scores, boxes=out["boxes"].cpu().numpy()[keep])

    def fingerprint(self) -> str:
        settings = (self.score, self.bands, self.dtype, self.to_8bit, self.tile_size, self.iou_threshold)
        return card_fingerprint(self, self.weights, *settings)


def load_detector(
    model: LoadedModel | str,
    *,
    scene_bands: Sequence[str | Band] | None = None,
    bands: Sequence[str] | None = None,
    dtype: str = "uint8",
    sensor: str | None = None,
    where: str = "scene",
    score: float = DEFAULT_SCORE,
    tile_size: int | None = None,
    device: str = "cpu",
) -> tuple[Detector, str]:
    """The :class:`Detector` of ``model`` (a loaded card and network, or what ``-m`` names: refused unless a
    detection model) for a scene with ``scene_bands`` (``bands`` renames them, as ``--bands`` does), and a note on
    how its bands were chosen (empty when the scene is what the model was trained on). Without ``scene_bands`` the
    tiles must hold the card's bands in its order."""
    loaded = model if isinstance(model, LoadedModel) else resolve_model(model, Task.DETECTION, "detect")
    weights = loaded.weights
    choice = None
    if scene_bands is not None:
        choice = select_bands(weights, scene_bands, bands, where, dtype, sensor)
    predictor = Detector(weights, loaded.module, choice, score=score, dtype=dtype, tile_size=tile_size, device=device)
    return predictor, choice.describe(weights) if choice else ""
