"""Metrics of every task, streamed where the data is large."""

from rsvision.metrics.captioning import CaptionMetric, caption_scores, tokenize_caption
from rsvision.metrics.classification import ClassificationMetric, ConfusionMatrix
from rsvision.metrics.coco import coco_evaluate
from rsvision.metrics.detection import DetectionMetric, voc_ap
from rsvision.metrics.grounding import GroundingMetric, paired_box_iou
from rsvision.metrics.retrieval import retrieval_recall, retrieval_recall_from_similarity
from rsvision.metrics.segmentation import ChangeMetric, SegmentationMetric
from rsvision.metrics.vqa import VQAMetric

__all__ = [
    "CaptionMetric",
    "ChangeMetric",
    "ClassificationMetric",
    "ConfusionMatrix",
    "DetectionMetric",
    "GroundingMetric",
    "SegmentationMetric",
    "VQAMetric",
    "caption_scores",
    "coco_evaluate",
    "paired_box_iou",
    "retrieval_recall",
    "retrieval_recall_from_similarity",
    "tokenize_caption",
    "voc_ap",
]
