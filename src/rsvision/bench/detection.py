"""Scoring detections made elsewhere: COCO results on COCO data, DOTA task-1 / task-2 files on the rest.

Non-COCO data is scored with the DOTA devkit's VOC rules (:class:`rsvision.metrics.DetectionMetric`)
at the ten COCO IoU thresholds 0.50:0.05:0.95: ``map50`` is the all-point AP at 0.5, ``map`` the mean
of the all-point mAPs over the ten thresholds, ``map75`` the one at 0.75, ``map50_voc07`` the 11-point
AP at 0.5. COCO data gets :func:`rsvision.metrics.coco_evaluate`'s numbers plus ``map50_voc07`` from
the same rules, crowd regions acting as ``difficult`` objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rsvision.bench.match import SampleIndex
from rsvision.bench.predictions import read_dota_results
from rsvision.datasets.base import Dataset, Sample
from rsvision.datasets.coco import load_coco_results
from rsvision.geometry import Detections, xyxy_to_poly
from rsvision.metrics import DetectionMetric, coco_evaluate
from rsvision.metrics.coco import IOU_THRESHOLDS


class _SharedIouMetric(DetectionMetric):
    """DetectionMetric whose IoU matrices come from a cache shared by the metrics of the other IoU
    thresholds, so scoring ten thresholds costs one IoU computation per image and class. The driver
    clears the cache after each image."""

    def __init__(self, classes: Sequence[str], iou_threshold: float, rotated: bool, cache: dict) -> None:
        super().__init__(classes, iou_threshold, rotated)
        self._cache = cache

    def _iou(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        key = (a.shape, b.shape, a.tobytes(), b.tobytes())
        iou = self._cache.get(key)
        if iou is None:
            iou = self._cache[key] = super()._iou(a, b)
        return iou


def _ground_truth(sample: Sample, rotated: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (polygons when ``rotated``), labels and difficult flags (crowd regions count as difficult)."""
    t = sample.targets
    labels = np.asarray(t.get("labels", []), dtype=np.int64)
    if rotated:
        boxes = t["polygons"] if t.get("polygons") is not None else xyxy_to_poly(t.get("boxes", np.zeros((0, 4))))
    else:
        boxes = t.get("boxes", np.zeros((0, 4)))
    difficult = np.zeros(len(labels), dtype=bool)
    for key in ("difficult", "iscrowd"):
        if key in t:
            difficult |= np.asarray(t[key], dtype=bool)
    return np.asarray(boxes, dtype=np.float64), labels, difficult


def _run(
    dataset: Dataset, detections: Mapping[int, Detections], rotated: bool, thresholds: Sequence[float]
) -> list[dict]:
    cache: dict = {}
    metrics = [_SharedIouMetric(dataset.classes, t, rotated, cache) for t in thresholds]
    width = 8 if rotated else 4
    for i, sample in enumerate(dataset):
        gt, labels, difficult = _ground_truth(sample, rotated)
        d = detections.get(i)
        if d is None:
            boxes, scores, pred_labels = np.zeros((0, width)), np.zeros(0), np.zeros(0, dtype=np.int64)
        else:
            boxes, scores, pred_labels = (d.as_polygons() if rotated else d.as_boxes()), d.scores, d.labels
        for m in metrics:
            m.update(boxes, scores, pred_labels, gt, labels, difficult)
        cache.clear()
    return [m.compute() for m in metrics]


def voc_detection_scores(dataset: Dataset, detections: Mapping[int, Detections], rotated: bool) -> dict[str, Any]:
    """``map50``, ``map``, ``map75``, ``map50_voc07`` and ``per_class`` of detections keyed by sample index."""
    results = _run(dataset, detections, rotated, IOU_THRESHOLDS)
    at50, at75 = results[0], results[int(np.flatnonzero(IOU_THRESHOLDS == 0.75)[0])]
    per_class = {}
    for name in dataset.classes:
        aps = [r["per_class"][name]["ap50"] for r in results]
        c50 = at50["per_class"][name]
        per_class[name] = {
            "ap50": c50["ap50"],
            "ap": float(np.mean(aps)),  # NaN for a class without ground truth, as each AP is
            "ap75": at75["per_class"][name]["ap50"],
            "ap50_voc07": c50["ap50_voc07"],
            "num_gt": c50["num_gt"],
            "num_det": c50["num_det"],
        }
    return {
        "map50": at50["map50"],
        "map": float(np.mean([r["map50"] for r in results])),
        "map75": at75["map50"],
        "map50_voc07": at50["map50_voc07"],
        "per_class": per_class,
    }


def evaluate_dota_results(dataset: Dataset, folder) -> dict[str, Any]:
    """Score a folder of ``Task1_<class>.txt`` (polygon IoU against the ground-truth polygons, or boxes as
    rectangles) or ``Task2_<class>.txt`` (box IoU against the ground-truth boxes, the envelopes of
    oriented objects) files; ``imgname`` is the sample id (the annotation or image file's stem)."""
    by_name, rotated = read_dota_results(folder, dataset.classes)
    keys = [[(s.id,)] + ([(s.image.stem,)] if hasattr(s.image, "stem") else []) for s in dataset]
    index = SampleIndex([s.id for s in dataset], keys)
    names = list(by_name)
    owners = index.assign(names, str(folder), "prediction image", require_all=False)
    return voc_detection_scores(dataset, {i: by_name[n] for i, n in zip(owners, names)}, rotated)


def evaluate_coco_results(dataset: Dataset, path) -> dict[str, Any]:
    """COCO's numbers (:func:`coco_evaluate`) plus ``map50_voc07`` and per-class ``ap50_voc07``,
    ``num_gt``, ``num_det`` from the DOTA/VOC rules on the same boxes."""
    rows, by_sample = load_coco_results(path, dataset)
    out = coco_evaluate(dataset.coco, rows)
    position = {s.id: i for i, s in enumerate(dataset)}
    (voc,) = _run(dataset, {position[k]: d for k, d in by_sample.items()}, False, [0.5])
    out["map50_voc07"] = voc["map50_voc07"]
    for name, values in voc["per_class"].items():
        out["per_class"][name].update(
            ap50_voc07=values["ap50_voc07"], num_gt=values["num_gt"], num_det=values["num_det"]
        )
    return out
