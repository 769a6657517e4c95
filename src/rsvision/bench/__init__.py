"""Evaluation harness: score predictions made elsewhere against a dataset, for every task.

``evaluate_predictions("detection", "data/dota", "preds/")`` -> the metric dict of DESIGN.md
(docs/eval.md lists the prediction formats and keys); ``write_metrics_json`` writes it with NaN as null.
"""

from rsvision.bench.evaluate import (
    TASK_FORMATS,
    TASKS,
    evaluate_predictions,
    open_task_dataset,
    score_predictions,
)
from rsvision.bench.predictions import read_classification_csv, read_task2
from rsvision.bench.report import jsonable, metrics_json, write_metrics_json

__all__ = [
    "TASKS",
    "TASK_FORMATS",
    "evaluate_predictions",
    "jsonable",
    "metrics_json",
    "open_task_dataset",
    "read_classification_csv",
    "read_task2",
    "score_predictions",
    "write_metrics_json",
]
