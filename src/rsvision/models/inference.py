"""Dataset inference: a classifier over every sample of a dataset (a :class:`~rsvision.datasets.base.Dataset`, or
anything of the :class:`ImageSource` shape), in batches, with the card's preprocessing; an unreadable or unfit
image is recorded with its reason and the rest still runs.

The one path by which ``rsvision eval -m``, ``eval probe``, ``classify FOLDER`` and the training recipes' final
evaluation run a model over images: :func:`predict_dataset` (class probabilities, optionally D4 TTA, through
:meth:`Classifier.probabilities`) and :func:`extract_features` (pooled features) sit on :func:`map_dataset`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from rsvision.core.progress import progress_bar
from rsvision.core.settings import torch_threads
from rsvision.errors import RsvisionError
from rsvision.models.classifier import Classifier, feature_model, require_head


class SampleLike(Protocol):
    id: str
    image: Any  # its path(s), named in failure messages


class ImageSource(Protocol):
    """What dataset inference reads: samples in order and their raw (C, H, W) pixels on demand, an unreadable one
    raising an :class:`~rsvision.errors.RsvisionError`. :class:`rsvision.datasets.base.Dataset` is one; the models
    package imports nothing of datasets (or of files of imagery)."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[SampleLike]: ...

    def load_image(self, sample: Any) -> np.ndarray: ...


@dataclass
class DatasetOutputs:
    """Per-sample outputs ``(N, D)`` of the samples at ``indices`` (those that could be read, in dataset order);
    ``failures`` lists ``(sample id, reason)`` for the others."""

    values: np.ndarray
    indices: np.ndarray
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def probabilities(self) -> np.ndarray:  # what a classifier's outputs are
        return self.values


def map_dataset(
    classifier: Classifier,
    dataset: ImageSource,
    forward: Callable[[torch.Tensor], torch.Tensor],
    width: int,
    batch_size: int = 64,
    progress: bool = False,
    what: str = "classifying",
) -> DatasetOutputs:
    """``forward`` over every readable sample, preprocessed as the classifier's card says, ``batch_size`` images
    at a time; an image that cannot be read or that the card refuses is recorded with its reason and skipped.
    ``width`` is the output size when no image could be read; ``what`` titles the progress bar."""
    values: list[np.ndarray] = []
    kept: list[int] = []
    failures: list[tuple[str, str]] = []
    pending: list[tuple[int, torch.Tensor]] = []

    def flush() -> None:
        if pending:
            with torch.inference_mode():
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
    return DatasetOutputs(
        np.concatenate(values) if values else np.zeros((0, width), np.float32),
        np.asarray(kept, dtype=np.int64),
        failures,
    )


def predict_dataset(
    classifier: Classifier, dataset: ImageSource, batch_size: int = 64, tta: bool = False, progress: bool = False
) -> DatasetOutputs:
    """Class probabilities (:meth:`Classifier.probabilities`, D4-averaged with ``tta``) of every readable sample."""
    require_head(classifier)
    return map_dataset(
        classifier, dataset, lambda x: classifier.probabilities(x, tta), len(classifier.classes), batch_size, progress
    )


def extract_features(
    classifier: Classifier, dataset: ImageSource, batch_size: int = 64, progress: bool = False
) -> DatasetOutputs:
    """Pooled features (the input of the classifier head, :func:`feature_model`) of every readable sample."""
    # width 0: with no readable image there are no features to size
    return map_dataset(classifier, dataset, feature_model(classifier), 0, batch_size, progress, what="features of")


def images_per_second(
    model: nn.Module, in_chans: int, size: int, batch_size: int = 64, threads: int = 2, seconds: float = 10.0
) -> float:
    """Inference throughput (float32, eval mode) on random input at ``threads`` CPU threads (set only for the
    measurement), after one warm-up batch."""
    model.eval()
    x = torch.randn(batch_size, in_chans, size, size)
    with torch_threads(threads, inference=True):
        model(x)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            model(x)
            n += batch_size
        return n / (time.perf_counter() - t0)
