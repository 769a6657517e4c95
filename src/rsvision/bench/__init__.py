"""Evaluation harness: score predictions made elsewhere against a dataset, for every task, or run a model.

``evaluate_predictions("detection", "data/dota", "preds/")`` -> the metric dict of docs/metrics.md
(docs/eval.md lists the prediction formats and keys); ``evaluate_model("classification", "data/AID", "MODEL")``
runs a model (``evaluate_classifier`` scores an opened classifier on an opened dataset: the one classifier
evaluator, behind ``rsvision eval -m`` and the metrics training writes on a card); ``probe("data/UCM", "MODEL")``
gives the linear-probe and k-NN accuracy of its features;
``write_metrics_json`` writes a metric dict with NaN as null.
"""

from rsvision.bench.change import evaluate_change_method, evaluate_change_model, predict_pair
from rsvision.bench.evaluate import (
    TASK_FORMATS,
    TASKS,
    evaluate_predictions,
    open_task_dataset,
    score_predictions,
)
from rsvision.bench.model_eval import evaluate_classifier, evaluate_model
from rsvision.bench.predictions import read_classification_csv, read_task2
from rsvision.bench.probe import knn_predict, probe, probe_features
from rsvision.bench.report import jsonable, metrics_json, write_metrics_json

__all__ = [
    "TASKS",
    "TASK_FORMATS",
    "evaluate_change_method",
    "evaluate_change_model",
    "evaluate_classifier",
    "evaluate_model",
    "evaluate_predictions",
    "jsonable",
    "knn_predict",
    "metrics_json",
    "open_task_dataset",
    "predict_pair",
    "probe",
    "probe_features",
    "read_classification_csv",
    "read_task2",
    "score_predictions",
    "write_metrics_json",
]
