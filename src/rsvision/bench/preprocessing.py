"""``rsvision eval preprocessing TASK``: how far a benchmark score moves with the input size, the resampling and the
normalisation a model is run with, and whether its card's choice is the best (the resizing and normalisation study
asks papers to report this).

One thing varies at a time, the others kept at the card's: input sizes 0.5x to 2x of the card's (classification:
the whole image resized to that size; segmentation, whose images run whole: images and masks resampled by the factor
and scored at that resolution), resampling methods for that resize (segmentation: at half size, since at its own size
nothing is resampled), and normalisations: the card's mean / std, each
image's own per-band mean / std, the evaluated dataset's per-band mean / std (up to 100 images, evenly spread), and
none (raw values divided by the card's scale). A variant is a :class:`StudyPreprocessing` put in a copy of the card;
the model's weights are the same throughout.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from rsvision.bench.model_eval import evaluate_classifier, evaluate_segmenter
from rsvision.bench.robustness import MAIN_METRIC
from rsvision.core.progress import progress_bar
from rsvision.datasets import Dataset
from rsvision.errors import EvaluationError
from rsvision.models.preprocess import Preprocessing

if TYPE_CHECKING:
    import torch

FACTORS = (0.5, 0.75, 1.0, 1.5, 2.0)
RESAMPLINGS = ("bilinear", "bicubic", "area", "nearest")  # the card's (bilinear, antialiased) first
NORMALISATIONS = ("card", "per_image", "dataset", "none")
STATISTICS_IMAGES = 100
SEGMENTATION_RESAMPLING_FACTOR = 0.5  # images run whole at their own size: resampling matters only when resized


class StudyPreprocessing(Preprocessing):
    """The card's preprocessing with another resampling for the resize and another normalisation."""

    resampling: str = "bilinear"
    normalisation: str = "card"
    dataset_mean: list[float] | None = None  # of scaled values, per band
    dataset_std: list[float] | None = None

    def resize(self, batch: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        if self.resampling == "bilinear" or batch.shape[-2:] == (self.input_size,) * 2:
            return super().resize(batch)
        size = (self.input_size, self.input_size)
        if self.resampling == "nearest":
            return F.interpolate(batch.float(), size=size, mode="nearest-exact")
        if self.resampling == "area":
            return F.interpolate(batch.float(), size=size, mode="area")
        return F.interpolate(batch.float(), size=size, mode="bicubic", antialias=True, align_corners=False)

    def normalise(self, batch: torch.Tensor) -> torch.Tensor:
        import torch

        scaled = batch.float() / self.scale
        if self.normalisation == "none":
            return scaled
        if self.normalisation == "per_image":
            mean = scaled.mean(dim=(2, 3), keepdim=True)
            return (scaled - mean) / scaled.std(dim=(2, 3), keepdim=True).clamp_min(1e-6)
        if self.normalisation == "dataset":
            mean = torch.tensor(self.dataset_mean, dtype=torch.float32).view(1, -1, 1, 1)
            return (scaled - mean) / torch.tensor(self.dataset_std, dtype=torch.float32).view(1, -1, 1, 1)
        return super().normalise(batch)


def input_sizes(card: Preprocessing) -> dict[str, int]:
    """The classification input size of each factor of the card's, a multiple of 8 pixels."""
    return {str(f): max(8, round(card.input_size * f / 8) * 8) for f in FACTORS}


def dataset_statistics(dataset: Dataset, prep: Preprocessing) -> tuple[list[float], list[float]]:
    """Per-band mean and std of scaled values over up to ``STATISTICS_IMAGES`` images, evenly spread."""
    picks = np.linspace(0, len(dataset) - 1, min(len(dataset), STATISTICS_IMAGES)).round().astype(int)
    n, total, squares = 0, 0.0, 0.0
    for i in picks:
        image = np.ma.filled(dataset.load_image(dataset[int(i)]), 0)[: len(prep.bands)].astype(np.float64) / prep.scale
        n += image[0].size
        total = total + image.sum(axis=(1, 2))
        squares = squares + (image**2).sum(axis=(1, 2))
    mean = total / n
    return mean.tolist(), np.sqrt(np.maximum(squares / n - mean**2, 1e-12)).tolist()


def with_preprocessing(weights, **changes: Any):
    """A copy of the card ``weights`` whose preprocessing is a :class:`StudyPreprocessing` with ``changes``."""
    prep = StudyPreprocessing(**{**weights.preprocessing.model_dump(), **changes})
    return weights.model_copy(update={"preprocessing": prep})


def rescaled(dataset: Dataset, factor: float, resampling: str) -> Dataset:
    """A shallow copy of a mask dataset whose images (by ``resampling``) and masks (nearest) load ``factor`` times
    their size."""
    import torch
    import torch.nn.functional as F

    if factor == 1.0:
        return dataset
    out = copy.copy(dataset)
    load_image, load_mask = dataset.load_image, dataset.load_mask

    def size_of(shape) -> tuple[int, int]:
        return max(2, round(shape[-2] * factor)), max(2, round(shape[-1] * factor))

    def image(sample, which: int = 0) -> np.ndarray:
        pixels = np.ma.filled(load_image(sample, which), 0)
        x = torch.from_numpy(pixels.astype(np.float32))[None]
        mode = {"nearest": "nearest-exact"}.get(resampling, resampling)
        kwargs = {"antialias": True, "align_corners": False} if mode in ("bilinear", "bicubic") else {}
        y = F.interpolate(x, size=size_of(pixels.shape), mode=mode, **kwargs)[0].numpy()
        if pixels.dtype.kind in "ui":
            info = np.iinfo(pixels.dtype)
            y = np.clip(np.rint(y), info.min, info.max)
        return y.astype(pixels.dtype)

    def mask(sample) -> np.ndarray:
        truth = load_mask(sample)
        x = torch.from_numpy(truth.astype(np.int64))[None, None].float()
        return F.interpolate(x, size=size_of(truth.shape), mode="nearest-exact")[0, 0].numpy().astype(truth.dtype)

    out.load_image, out.load_mask = image, mask  # type: ignore[method-assign]
    return out


def study_model(task: str, model: str | None):
    """The model a study varies: a classifier, or a loaded segmentation model (the built-in one when None)."""
    if task == "classification":
        from rsvision.models.classifier import load_classifier  # deferred: torch

        return load_classifier(model, needed_by="eval preprocessing")
    from rsvision.models.resolve import resolve_model  # deferred: torch
    from rsvision.models.segmentation import segmenter_spec
    from rsvision.models.weights import Task

    return resolve_model(segmenter_spec(model), Task.SEGMENTATION, "eval preprocessing")


def preprocessing_study(task: str, model, dataset: Dataset, *, progress: bool = False) -> dict[str, Any]:
    """The score of every variant (see the module's note) of ``model`` (a :class:`~rsvision.models.classifier.
    Classifier` for classification, a loaded segmentation model for segmentation) on ``dataset``."""
    if task not in ("classification", "segmentation"):
        raise EvaluationError(f"eval preprocessing takes classification or segmentation; not {task!r}")
    metric, card = MAIN_METRIC[task], model.weights.preprocessing
    mean, std = dataset_statistics(dataset, card)
    sizes = input_sizes(card)
    if task == "classification":  # the whole image resized to that many pixels a side
        variants = [("input_size", f, {"input_size": sizes[str(f)]}, 1.0) for f in FACTORS]
    else:  # images and masks resampled by the factor
        variants = [("input_size", f, {}, f) for f in FACTORS]
    resized = 1.0 if task == "classification" else SEGMENTATION_RESAMPLING_FACTOR
    variants += [("resampling", r, {"resampling": r}, resized) for r in RESAMPLINGS]
    variants += [
        ("normalisation", n, {"normalisation": n, "dataset_mean": mean, "dataset_std": std}, 1.0)
        for n in NORMALISATIONS
    ]
    out: dict[str, Any] = {"metric": metric, "input_size": {}, "resampling": {}, "normalisation": {}}
    out["resampling_factor"] = resized
    with progress_bar(enabled=progress) as bar:
        task_bar = bar.add_task(f"preprocessing study of {task}: {len(variants)} variants", total=len(variants))
        for group, key, changes, factor in variants:
            out[group][str(key)] = _score(task, model, dataset, changes, factor, metric, changes.get("resampling"))
            bar.advance(task_bar)
    return _summarise(out, task, card)


def _score(task, model, dataset, changes, factor, metric, resampling) -> float:
    weights = with_preprocessing(model.weights, **changes)
    if task == "classification":
        study = copy.copy(model)
        study.weights = weights
        return float(evaluate_classifier(study, dataset)[metric])
    data = rescaled(dataset, factor, resampling or "bilinear")
    return float(evaluate_segmenter(replace(model, weights=weights), data)[metric])


def _summarise(out: dict[str, Any], task: str, card: Preprocessing) -> dict[str, Any]:
    """The card's score, every variant's change from it, the best variant, and whether the card's choice is it."""
    base = out["normalisation"]["card"]
    scores = {
        f"{group}={key}": v for group in ("input_size", "resampling", "normalisation") for key, v in out[group].items()
    }
    best = max(scores, key=scores.get)
    out["card"] = {
        "input_size": card.input_size if task == "classification" else "as given",
        "resampling": "bilinear",
        "normalisation": "card",
        "score": base,
    }
    out["max_abs_change"] = max(abs(v - base) for v in scores.values())
    out["best"] = {"variant": best, "score": scores[best]}
    out["card_is_best"] = scores[best] <= base + 1e-9
    if task == "classification":
        out["input_sizes"] = input_sizes(card)
    return out
