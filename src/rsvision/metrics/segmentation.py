"""Segmentation and binary change metrics (IoU, mIoU, F1, precision, recall, OA, kappa), streamed per tile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rsvision.errors import MetricInputError
from rsvision.metrics.classification import ConfusionMatrix


class SegmentationMetric:
    """Per-pixel metrics from a confusion matrix accumulated tile by tile.

    ``update(pred, target)`` takes integer label arrays of any (equal) shape.
    Target pixels equal to ``ignore_index`` are skipped; when ``ignore_index`` is
    itself a class index, that class is left out of ``per_class`` and ``miou``.
    ``miou`` averages the IoU of the classes present in the target or the prediction.
    """

    def __init__(
        self, num_classes: int, ignore_index: int | None = None, class_names: Sequence[str] | None = None
    ) -> None:
        self.confusion = ConfusionMatrix(num_classes, ignore_index)
        if class_names is None:
            class_names = [str(i) for i in range(num_classes)]
        if len(class_names) != num_classes:
            raise MetricInputError(f"{len(class_names)} class names given for {num_classes} classes")
        self.class_names = [str(c) for c in class_names]
        self.ignore_index = ignore_index

    def update(self, pred: Any, target: Any) -> None:
        """Add one tile / batch of predicted and true label maps."""
        self.confusion.update(pred, target)

    def _scored(self) -> np.ndarray:
        keep = np.ones(self.confusion.num_classes, dtype=bool)
        if self.ignore_index is not None and 0 <= self.ignore_index < keep.size:
            keep[self.ignore_index] = False
        return keep

    def compute(self) -> dict[str, Any]:
        if self.confusion.total == 0:
            raise MetricInputError(f"{type(self).__name__}.compute() called before any pixel was added")
        pc = self.confusion.per_class()
        scored = self._scored()
        present = scored & ((pc["support"] + pc["predicted"]) > 0)
        return {
            "miou": float(pc["iou"][present].mean()) if present.any() else 0.0,
            "overall_accuracy": self.confusion.overall_accuracy(),
            "kappa": self.confusion.kappa(),
            "per_class": {
                self.class_names[i]: {
                    "iou": float(pc["iou"][i]),
                    "f1": float(pc["f1"][i]),
                    "precision": float(pc["precision"][i]),
                    "recall": float(pc["recall"][i]),
                    "support": int(pc["support"][i]),
                }
                for i in np.flatnonzero(scored)
            },
            # pixels, rows = true class, over the scored classes (the ignored one left out)
            "confusion_matrix": self.confusion.matrix[np.ix_(scored, scored)].tolist(),
        }


class ChangeMetric(SegmentationMetric):
    """Binary change detection (0 = unchanged, 1 = changed): F1, IoU, precision, recall of the change class."""

    def __init__(self, ignore_index: int | None = None) -> None:
        if ignore_index in (0, 1):
            raise MetricInputError(f"ChangeMetric ignore_index must not be a change class (0 or 1), got {ignore_index}")
        super().__init__(2, ignore_index, class_names=["unchanged", "changed"])
        self.confusion.hint = "; change maps hold 0 (unchanged) and 1 (changed), e.g. divide 0/255 masks by 255"

    def compute(self) -> dict[str, Any]:
        out = super().compute()
        changed = out["per_class"]["changed"]
        return {
            "f1": changed["f1"],
            "iou": changed["iou"],
            "precision": changed["precision"],
            "recall": changed["recall"],
            "kappa": out["kappa"],
            "overall_accuracy": out["overall_accuracy"],
            "miou": out["miou"],
            "per_class": out["per_class"],
        }
