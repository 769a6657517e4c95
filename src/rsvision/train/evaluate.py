"""Run a classifier over a folder dataset (bad files counted, not fatal) and score it; images/s."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from rsvision.datasets.base import Dataset
from rsvision.errors import RsvisionError
from rsvision.metrics.classification import ClassificationMetric
from rsvision.models.classifier import Classifier


@dataclass
class DatasetPredictions:
    """Probabilities of the samples that could be read; ``failures`` lists ``(sample id, reason)``."""

    probabilities: np.ndarray
    indices: np.ndarray
    failures: list[tuple[str, str]] = field(default_factory=list)


def predict_dataset(classifier: Classifier, dataset: Dataset, batch_size: int = 64, tta: bool = False,
                    progress: bool = False) -> DatasetPredictions:
    """Class probabilities of every readable sample; an unreadable or unfit image is recorded with its
    reason and skipped, the rest is still classified."""
    probs, kept, failures = [], [], []
    pending: list[tuple[int, torch.Tensor]] = []

    def flush() -> None:
        if pending:
            x = torch.cat([t for _, t in pending])
            with torch.no_grad():
                if tta:
                    from rsvision.models.tta import d4_probabilities

                    p = d4_probabilities(classifier.model, x)
                else:
                    p = classifier.model(x).softmax(-1)
            probs.append(p.numpy())
            kept.extend(i for i, _ in pending)
            pending.clear()

    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"classifying {len(dataset)} images", total=len(dataset))
        for i, sample in enumerate(dataset):
            try:
                image = dataset.load_image(sample)
                pending.append((i, classifier.weights.preprocess(image, classifier.bands, where=str(sample.image))))
            except RsvisionError as err:
                failures.append((sample.id, str(err)))
            if len(pending) >= batch_size:
                flush()
            bar.advance(task)
        flush()
    k = len(classifier.classes)
    return DatasetPredictions(np.concatenate(probs) if probs else np.zeros((0, k), np.float32),
                              np.asarray(kept, dtype=np.int64), failures)


def evaluate_classifier(classifier: Classifier, dataset: Dataset, batch_size: int = 64, tta: bool = False,
                        progress: bool = False) -> dict:
    """DESIGN.md classification keys (``overall_accuracy``, ``average_accuracy``, ``kappa``, ``per_class``,
    ``confusion_matrix``) plus ``n_images`` and ``n_failed``. The dataset's classes must be the model's."""
    if list(dataset.classes) != list(classifier.classes):
        missing = sorted(set(dataset.classes) - set(classifier.classes))
        raise RsvisionError(f"{dataset.root}: dataset classes differ from the model's"
                            + (f" (unknown to the model: {', '.join(missing[:5])})" if missing else " (order)"))
    pred = predict_dataset(classifier, dataset, batch_size, tta, progress)
    metric = ClassificationMetric(classifier.classes)
    truth = np.array([dataset[int(i)].targets["label"] for i in pred.indices], dtype=np.int64)
    metric.update(pred.probabilities.argmax(1), truth)
    out = metric.compute()
    out.update(n_images=len(pred.indices), n_failed=len(pred.failures))
    return out


@torch.no_grad()
def images_per_second(model: torch.nn.Module, in_chans: int, size: int, batch_size: int = 64, threads: int = 2,
                      seconds: float = 10.0) -> float:
    """Inference throughput (float32, eval mode) on random input at ``threads`` CPU threads, after one warm-up batch."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model.eval()
        x = torch.randn(batch_size, in_chans, size, size)
        model(x)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            model(x)
            n += batch_size
        return n / (time.perf_counter() - t0)
    finally:
        torch.set_num_threads(old)
