"""Metrics of every task, streamed where the data is large."""

from rsvision.metrics.coco import coco_evaluate
from rsvision.metrics.detection import DetectionMetric, voc_ap

__all__ = ["DetectionMetric", "coco_evaluate", "voc_ap"]
