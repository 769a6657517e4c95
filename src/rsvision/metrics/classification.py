"""Confusion-matrix metrics, streamed: scene classification here; segmentation and change build on it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rsvision.errors import MetricInputError

# Labels are flattened and counted this many at a time, so one huge update never
# allocates more than a few MB of indices.
_CHUNK = 1 << 20


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise, 0 where den is 0 (sklearn's zero_division=0)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


class ConfusionMatrix:
    """Counts (true, predicted) label pairs in an int64 matrix, rows = true, columns = predicted.

    Labels are integers in ``[0, num_classes)``; pixels whose target equals
    ``ignore_index`` are skipped. ``update`` may be called per batch or per tile.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None, hint: str = "") -> None:
        if int(num_classes) < 1:
            raise MetricInputError(f"num_classes must be at least 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.hint = hint
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, pred: Any, target: Any) -> None:
        """Add every (target, pred) pair of two equally shaped integer label arrays."""
        pred = np.asarray(pred)
        target = np.asarray(target)
        if pred.shape != target.shape:
            raise MetricInputError(f"prediction shape {pred.shape} differs from target shape {target.shape}")
        for name, arr in (("prediction", pred), ("target", target)):
            if arr.dtype.kind not in "biu":
                raise MetricInputError(f"{name} labels must be integers, got dtype {arr.dtype}")
        nc = self.num_classes
        trash = nc * nc  # bin that collects ignored pixels
        flat_p, flat_t = pred.ravel(), target.ravel()
        # one reused index buffer: fresh int64 arrays per chunk cost more than the counting
        buf = np.empty(min(_CHUNK, flat_t.size), dtype=np.intp)
        counts = np.zeros(trash + 1, dtype=np.int64)
        for start in range(0, flat_t.size, _CHUNK):
            t = flat_t[start : start + _CHUNK]
            p = flat_p[start : start + _CHUNK]
            keep = None
            ign = self.ignore_index
            if ign is not None and t.min() <= ign <= t.max():
                keep = t != ign
            self._check_range(t if keep is None else t[keep], "target")
            self._check_range(p if keep is None else p[keep], "prediction")
            idx = buf[: t.size]
            np.multiply(t, nc, out=idx, dtype=np.intp, casting="unsafe")
            np.add(idx, p, out=idx, dtype=np.intp, casting="unsafe")
            if keep is not None:
                idx[~keep] = trash
            counts += np.bincount(idx, minlength=trash + 1)
        self.matrix += counts[:trash].reshape(nc, nc)

    def _check_range(self, labels: np.ndarray, name: str) -> None:
        if labels.size == 0:
            return
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= self.num_classes:
            bad = lo if lo < 0 else hi
            raise MetricInputError(f"{name} holds label {bad} outside [0, {self.num_classes}){self.hint}")

    def merge(self, other: ConfusionMatrix) -> None:
        """Add the counts of another matrix of the same size (e.g. from another worker)."""
        if other.matrix.shape != self.matrix.shape:
            raise MetricInputError(f"cannot merge a {other.matrix.shape} confusion matrix into {self.matrix.shape}")
        self.matrix += other.matrix

    @property
    def total(self) -> int:
        return int(self.matrix.sum())

    def overall_accuracy(self) -> float:
        return float(np.trace(self.matrix) / self.total) if self.total else 0.0

    def kappa(self) -> float:
        """Cohen's kappa, (p_o - p_e) / (1 - p_e); 1 when both sides use one and the same class only."""
        n = float(self.total)
        if n == 0:
            return 0.0
        m = self.matrix.astype(np.float64)
        p_o = np.trace(m) / n
        p_e = float(m.sum(axis=1) @ m.sum(axis=0)) / (n * n)
        if p_e >= 1.0:
            return 1.0
        return float((p_o - p_e) / (1.0 - p_e))

    def per_class(self) -> dict[str, np.ndarray]:
        """Per-class arrays: tp, support (true count), predicted count, precision, recall, f1, iou."""
        m = self.matrix
        tp = np.diag(m).astype(np.int64)
        support = m.sum(axis=1)
        predicted = m.sum(axis=0)
        precision = _ratio(tp, predicted)
        recall = _ratio(tp, support)
        return {
            "tp": tp,
            "support": support,
            "predicted": predicted,
            "precision": precision,
            "recall": recall,
            "f1": _ratio(2 * tp, support + predicted),
            "iou": _ratio(tp, support + predicted - tp),
        }


class ClassificationMetric:
    """Scene classification: overall and average accuracy, Cohen's kappa, confusion matrix, per-class P/R/F1.

    ``update`` takes labels as class indices or class names.
    """

    def __init__(self, classes: Sequence[str]) -> None:
        self.classes = [str(c) for c in classes]
        if not self.classes:
            raise MetricInputError("ClassificationMetric needs at least one class")
        if len(set(self.classes)) != len(self.classes):
            raise MetricInputError("ClassificationMetric got duplicate class names")
        self._index = {c: i for i, c in enumerate(self.classes)}
        self.confusion = ConfusionMatrix(len(self.classes))

    def _indices(self, labels: Any, what: str) -> np.ndarray:
        arr = np.asarray(labels)
        if arr.ndim != 1:
            arr = arr.reshape(-1)
        if arr.dtype.kind in "biu":
            return arr
        out = np.empty(arr.shape, dtype=np.int64)
        for i, name in enumerate(arr.tolist()):
            idx = self._index.get(str(name))
            if idx is None:
                raise MetricInputError(f"unknown class {name!r} in {what}; known: {', '.join(self.classes)}")
            out[i] = idx
        return out

    def update(self, pred_labels: Any, true_labels: Any) -> None:
        """Add a batch of predicted and true labels (indices or names)."""
        self.confusion.update(self._indices(pred_labels, "predictions"), self._indices(true_labels, "ground truth"))

    def compute(self) -> dict[str, Any]:
        if self.confusion.total == 0:
            raise MetricInputError("ClassificationMetric.compute() called before any sample was added")
        pc = self.confusion.per_class()
        present = pc["support"] > 0
        return {
            "overall_accuracy": self.confusion.overall_accuracy(),
            # mean recall over the classes that occur in the ground truth
            "average_accuracy": float(pc["recall"][present].mean()),
            "kappa": self.confusion.kappa(),
            "confusion_matrix": self.confusion.matrix.tolist(),
            "per_class": {
                name: {
                    "precision": float(pc["precision"][i]),
                    "recall": float(pc["recall"][i]),
                    "f1": float(pc["f1"][i]),
                    "support": int(pc["support"][i]),
                }
                for i, name in enumerate(self.classes)
            },
        }
