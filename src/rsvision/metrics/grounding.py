"""Visual grounding: accuracy at IoU thresholds, mean IoU and cumulative IoU of one box per phrase."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rsvision.errors import MetricInputError


def _boxes(boxes: Any, what: str) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise MetricInputError(f"{what} must be xyxy boxes of shape (N, 4), got {np.shape(boxes)}")
    if not np.isfinite(arr).all():
        raise MetricInputError(f"{what} hold NaN or infinite coordinates")
    if (arr[:, 2] < arr[:, 0]).any() or (arr[:, 3] < arr[:, 1]).any():
        raise MetricInputError(f"{what} hold a box with x2 < x1 or y2 < y1 (boxes are xyxy)")
    return arr


def paired_box_iou(a: Any, b: Any) -> np.ndarray:
    """IoU of a[i] with b[i] for xyxy boxes of shape (N, 4); 0 where both boxes are empty."""
    a, b = _boxes(a, "boxes a"), _boxes(b, "boxes b")
    if a.shape != b.shape:
        raise MetricInputError(f"paired IoU needs as many boxes on each side, got {len(a)} and {len(b)}")
    inter, union = _inter_union(a, b)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _inter_union(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = w * h
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter, area_a + area_b - inter


class GroundingMetric:
    """One predicted box per referring expression against its true box (xyxy).

    ``compute()``: ``acc_at_0.5`` (share with IoU >= 0.5) and the other
    thresholds given, ``miou`` (mean IoU) and ``cum_iou`` (summed intersection
    over summed union).
    """

    def __init__(self, thresholds: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9)) -> None:
        self.thresholds = tuple(float(t) for t in thresholds)
        self._ious: list[np.ndarray] = []
        self._inter = 0.0
        self._union = 0.0

    def update(self, pred_boxes: Any, gt_boxes: Any) -> None:
        """Add a batch of predicted boxes and their true boxes, paired by position."""
        pred, gt = _boxes(pred_boxes, "predicted boxes"), _boxes(gt_boxes, "true boxes")
        if pred.shape != gt.shape:
            raise MetricInputError(f"{len(pred)} predicted boxes for {len(gt)} true boxes")
        inter, union = _inter_union(pred, gt)
        self._ious.append(np.divide(inter, union, out=np.zeros_like(inter), where=union > 0))
        self._inter += float(inter.sum())
        self._union += float(union.sum())

    def compute(self) -> dict[str, float]:
        ious = np.concatenate(self._ious) if self._ious else np.zeros(0)
        if ious.size == 0:
            raise MetricInputError("GroundingMetric.compute() called before any box was added")
        out = {f"acc_at_{t:g}": float((ious >= t).mean()) for t in self.thresholds}
        out["miou"] = float(ious.mean())
        out["cum_iou"] = self._inter / self._union if self._union > 0 else 0.0
        return out
