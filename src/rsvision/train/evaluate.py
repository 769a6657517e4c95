"""Run a classifier over a folder dataset (bad files counted, not fatal) and score it; images/s."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from rsvision.core.progress import progress_bar
from rsvision.datasets.base import Dataset
from rsvision.errors import RsvisionError
from rsvision.metrics.classification import ClassificationMetric
from rsvision.models.classifier import Classifier


@dataclass
class DatasetOutputs:
    """Per-sample outputs ``(N, D)`` of the samples at ``indices`` (those that could be read); ``failures`` lists
    ``(sample id, reason)``."""

    values: np.ndarray
    indices: np.ndarray
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def probabilities(self) -> np.ndarray:  # what a classifier's outputs are
        return self.values



def map_dataset(classifier: Classifier, dataset: Dataset, forward: Callable[[torch.Tensor], torch.Tensor],
                width: int, batch_size: int = 64, progress: bool = False, what: str = "classifying") -> DatasetOutputs:
    """``forward`` over every readable sample, preprocessed as the classifier's weights say, in batches; an
    unreadable or unfit image is recorded with its reason and skipped, the rest is still processed."""
    values, kept, failures = [], [], []
    pending: list[tuple[int, torch.Tensor]] = []

    def flush() -> None:
        if pending:
            with torch.no_grad():
                out = forward(torch.cat([t for _, t in pending])).float()
            values.append(out.reshape(len(out), -1).numpy())
            kept.extend(i for i, _ in pending)
            pending.clear()

    with progress_bar(enabled=progress) as bar:
        task = bar.add_task(f"{what} {len(dataset)} images", total=len(dataset))
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
    return DatasetOutputs(np.concatenate(values) if values else np.zeros((0, width), np.float32),
                          np.asarray(kept, dtype=np.int64), failures)


def predict_dataset(classifier: Classifier, dataset: Dataset, batch_size: int = 64, tta: bool = False,
                    progress: bool = False) -> DatasetOutputs:
    """Class probabilities of every readable sample (see :func:`map_dataset`)."""
    from rsvision.models.tta import d4_probabilities

    def forward(x: torch.Tensor) -> torch.Tensor:
        return d4_probabilities(classifier.model, x) if tta else classifier.model(x).softmax(-1)

    return map_dataset(classifier, dataset, forward, len(classifier.classes), batch_size, progress)


def evaluate_classifier(classifier: Classifier, dataset: Dataset, batch_size: int = 64, tta: bool = False,
                        progress: bool = False) -> dict:
    """The classification keys of docs/metrics.md (``overall_accuracy``, ``average_accuracy``, ``kappa``, ``per_class``,
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
