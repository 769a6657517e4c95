"""VOC / DOTA detection AP (all-point and VOC07 11-point) for horizontal and rotated boxes, streamed per image.

The rules are those of the DOTA devkit's task-1 evaluation (``voc_eval`` in
``dota_evaluation_task1.py``), itself Pascal VOC's:

- the detections of a class are ranked by descending score over all images;
- each is compared with the ground truth of its image and class and takes the
  one of highest IoU (the first on ties), taken or not;
- if that IoU is strictly above the threshold: a ``difficult`` ground truth makes
  the detection ignored (neither true nor false positive); otherwise it is a true
  positive if that ground truth is not yet taken, else a false positive
  (duplicate); at or below the threshold it is a false positive;
- recall is over the non-difficult ground truth; precision is
  ``tp / max(tp + fp, eps)``; all-point AP is the area under the monotone
  precision envelope (VOC2010+), 11-point AP the mean of the best precision at
  recall >= t for t in ``np.arange(0, 1.1, 0.1)`` (the devkit's exact grid).

Because a detection is matched to its best ground truth whatever the others do,
and only within its image, each image can be settled when it arrives: the
metric keeps one (score, tp, fp) triple per detection, not the boxes. Ties in
score keep the order in which detections arrived (the devkit's unstable sort
leaves them unspecified). IoU is the continuous one of the devkit's task 1
(no +1 pixel): ``box_iou`` for ``xyxy`` boxes, exact ``rotated_iou`` for
``(cx, cy, w, h, angle)`` boxes, and exact polygon IoU (shapely) for DOTA
8-corner polygons, which the devkit compares as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from rsvision.errors import MetricInputError
from rsvision.geometry.boxes import rbox_to_poly
from rsvision.geometry.iou import box_iou, rotated_iou

__all__ = ["DetectionMetric", "voc_ap"]

# The devkit's 11 recall points, np.arange(0., 1.1, 0.1): 0.30000000000000004 etc. matter at the boundary.
VOC07_RECALLS = np.arange(0.0, 1.1, 0.1)


def voc_ap(recall: np.ndarray, precision: np.ndarray, use_07: bool = False) -> float:
    """VOC AP of a precision/recall curve: area under the precision envelope, or the VOC07 11-point mean."""
    rec = np.asarray(recall, dtype=np.float64).ravel()
    prec = np.asarray(precision, dtype=np.float64).ravel()
    if rec.shape != prec.shape:
        raise MetricInputError(f"recall and precision differ in length: {rec.size} and {prec.size}")
    if use_07:
        best = [prec[rec >= t].max() if (rec >= t).any() else 0.0 for t in VOC07_RECALLS]
        return float(np.sum(np.asarray(best) / 11.0))
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def _numpy(x: Any, dtype: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, wherever it lives
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=dtype)
    except (TypeError, ValueError):
        raise MetricInputError(f"{name}: not a numeric array") from None


def _polygon_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact IoU of ``(N, 8)`` x ``(M, 8)`` polygons with shapely."""
    pa = shapely.make_valid(shapely.polygons(a.reshape(-1, 4, 2)))
    pb = shapely.make_valid(shapely.polygons(b.reshape(-1, 4, 2)))
    inter = shapely.area(shapely.intersection(pa[:, None], pb[None, :]))
    union = shapely.area(pa)[:, None] + shapely.area(pb)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


class DetectionMetric:
    """Streaming VOC AP at one IoU threshold (DOTA devkit task-1 rules), horizontal or rotated.

    ``classes`` names the classes; labels are indices into it. Boxes are
    ``xyxy`` ``(N, 4)`` when ``rotated`` is False, else ``(cx, cy, w, h,
    angle)`` ``(N, 5)`` or 8-corner polygons ``(N, 8)``.
    """

    def __init__(self, classes: Sequence[str], iou_threshold: float = 0.5, rotated: bool = False) -> None:
        self.classes = [str(c) for c in classes]
        if not self.classes:
            raise MetricInputError("DetectionMetric needs at least one class")
        if len(set(self.classes)) != len(self.classes):
            raise MetricInputError(f"DetectionMetric class names repeat: {self.classes}")
        self.iou_threshold = float(iou_threshold)
        self.rotated = bool(rotated)
        self.reset()

    def reset(self) -> None:
        """Forget every image seen so far."""
        n = len(self.classes)
        self._scores: list[list[np.ndarray]] = [[] for _ in range(n)]
        self._tp: list[list[np.ndarray]] = [[] for _ in range(n)]
        self._fp: list[list[np.ndarray]] = [[] for _ in range(n)]
        self._num_gt = np.zeros(n, dtype=np.int64)
        self._num_det = np.zeros(n, dtype=np.int64)

    def _boxes(self, x: Any, name: str) -> np.ndarray:
        b = _numpy(x, np.float64, name)
        widths = (5, 8) if self.rotated else (4,)
        if b.size == 0:
            return b.reshape(0, widths[0])
        if b.ndim != 2 or b.shape[1] not in widths:
            kind = "(N, 5) rotated boxes or (N, 8) polygons" if self.rotated else "(N, 4) xyxy boxes"
            raise MetricInputError(f"{name} must be {kind}, got shape {b.shape}")
        if not np.isfinite(b).all():
            raise MetricInputError(f"{name} contain NaN or infinite values")
        return b

    def _labels(self, x: Any, n: int, name: str) -> np.ndarray:
        lab = _numpy(x, np.float64, name).ravel()
        if lab.size != n:
            raise MetricInputError(f"{name} has {lab.size} values for {n} boxes")
        if lab.size and (np.any(lab != np.round(lab)) or lab.min() < 0 or lab.max() >= len(self.classes)):
            raise MetricInputError(f"{name} must be class indices in [0, {len(self.classes) - 1}]")
        return lab.astype(np.int64)

    def _iou(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if not self.rotated:
            return box_iou(a, b)
        if a.shape[1] == 5 and b.shape[1] == 5:
            return rotated_iou(a, b)
        a = rbox_to_poly(a) if a.shape[1] == 5 else a
        b = rbox_to_poly(b) if b.shape[1] == 5 else b
        return _polygon_iou(a, b)

    def update(
        self,
        pred_boxes: Any,
        pred_scores: Any,
        pred_labels: Any,
        gt_boxes: Any,
        gt_labels: Any,
        gt_difficult: Any = None,
    ) -> None:
        """Add one image: its detections and its ground truth (``gt_difficult``: bool per box, default none)."""
        boxes = self._boxes(pred_boxes, "pred_boxes")
        scores = _numpy(pred_scores, np.float64, "pred_scores").ravel()
        if scores.size != len(boxes):
            raise MetricInputError(f"pred_scores has {scores.size} values for {len(boxes)} boxes")
        labels = self._labels(pred_labels, len(boxes), "pred_labels")
        gt = self._boxes(gt_boxes, "gt_boxes")
        gt_lab = self._labels(gt_labels, len(gt), "gt_labels")
        if gt_difficult is None:
            difficult = np.zeros(len(gt), dtype=bool)
        else:
            difficult = _numpy(gt_difficult, bool, "gt_difficult").ravel()
            if difficult.size != len(gt):
                raise MetricInputError(f"gt_difficult has {difficult.size} values for {len(gt)} boxes")
        self._num_gt += np.bincount(gt_lab[~difficult], minlength=len(self.classes))
        self._num_det += np.bincount(labels, minlength=len(self.classes))

        for c in np.unique(labels):
            det = np.flatnonzero(labels == c)
            det = det[np.argsort(-scores[det], kind="stable")]
            g = np.flatnonzero(gt_lab == c)
            tp = np.zeros(len(det), dtype=bool)
            fp = np.ones(len(det), dtype=bool)
            if len(g):
                iou = self._iou(boxes[det], gt[g])
                best = iou.argmax(axis=1)
                hit = iou[np.arange(len(det)), best] > self.iou_threshold
                on_difficult = hit & difficult[g][best]
                regular = np.flatnonzero(hit & ~on_difficult)
                # the first (highest-scored) detection on each ground truth takes it; later ones are duplicates
                _, first = np.unique(best[regular], return_index=True)
                tp[regular[first]] = True
                fp[hit] = False
                fp[regular] = ~tp[regular]
            self._scores[c].append(scores[det])
            self._tp[c].append(tp)
            self._fp[c].append(fp)

    def pr_curve(self, c: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Recall, precision and score of class ``c`` at each detection, by falling score (empty arrays without
        detections)."""
        scores = np.concatenate(self._scores[c]) if self._scores[c] else np.zeros(0)
        order = np.argsort(-scores, kind="stable")
        tp = np.cumsum(np.concatenate(self._tp[c])[order]) if len(order) else np.zeros(0)
        fp = np.cumsum(np.concatenate(self._fp[c])[order]) if len(order) else np.zeros(0)
        recall = tp / max(float(self._num_gt[c]), 1.0)
        precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        return recall, precision, scores[order]

    def compute(self) -> dict:
        """``map50``, ``map50_voc07`` (means over classes with non-difficult ground truth) and ``per_class``.

        ``per_class[name]`` holds ``ap50``, ``ap50_voc07``, ``num_gt`` (non-difficult)
        and ``num_det``; the APs are NaN for a class without non-difficult ground truth.
        """
        per_class: dict[str, dict[str, float | int]] = {}
        aps, aps07 = [], []
        for c, name in enumerate(self.classes):
            n_pos = int(self._num_gt[c])
            ap = ap07 = float("nan")
            if n_pos > 0:
                recall, precision, _ = self.pr_curve(c)
                ap, ap07 = voc_ap(recall, precision), voc_ap(recall, precision, use_07=True)
                aps.append(ap)
                aps07.append(ap07)
            per_class[name] = {"ap50": ap, "ap50_voc07": ap07, "num_gt": n_pos, "num_det": int(self._num_det[c])}
        return {
            "map50": float(np.mean(aps)) if aps else float("nan"),
            "map50_voc07": float(np.mean(aps07)) if aps07 else float("nan"),
            "per_class": per_class,
        }
