"""Train a scene classifier on any image-folder dataset with :func:`rsvision.train.fit`, resuming from its work
folder's checkpoints, and write the weights with their card (``rsvision train classification`` runs this).

Recipe: a stratified, seeded validation part of the data chooses the best epoch and is the only thing the card's
metrics are measured on (by :func:`rsvision.bench.model_eval.evaluate_classifier` on the written weights file and
the part's original images: what ``rsvision eval`` would print for them); every image is decoded and resized once
into a memory-mapped cache at 1.25 x the input size (random resized crops are taken from it); band statistics come
from the training part.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rsvision.bench.model_eval import evaluate_classifier
from rsvision.core.files import check_weights_outputs
from rsvision.core.progress import plural
from rsvision.core.sensors import SENTINEL2_ORDER
from rsvision.datasets import Dataset, stratified_split
from rsvision.errors import BandCountError, RsvisionError
from rsvision.models.classifier import Classifier
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import RGB, build_model
from rsvision.models.resolve import resolve_model
from rsvision.models.weights import MeasuredMetrics, Task, Weights, save_weights
from rsvision.train.cache import band_statistics, image_cache
from rsvision.train.loop import ArrayData, TrainConfig, fit
from rsvision.train.publish import card_scores


def default_bands(count: int) -> list[str]:
    """Band names for images whose bands are not named: RGB for 3, Sentinel-2's 13 in canonical order."""
    if count == 3:
        return list(RGB)
    if count == 13:
        return list(SENTINEL2_ORDER)
    raise BandCountError(f"the images have {plural(count, 'band')}: name them with --bands (e.g. red,green,blue,nir)")


def value_scale(images: np.ndarray) -> tuple[float, tuple[float, float]]:
    """``(scale, value_range)`` of raw pixels: 8-bit -> 255; other integers (reflectance) -> 10000 over the
    dtype's range; floats -> 1 over the training values' range widened by its span on each side."""
    dtype = images.dtype
    if dtype == np.uint8:
        return 255.0, (0.0, 255.0)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return 10000.0, (float(info.min), float(info.max))
    lo, hi = float(np.min(images)), float(np.max(images))
    span = max(hi - lo, 1.0)
    return 1.0, (lo - span, hi + span)


def train_folder_classifier(
    dataset: Dataset,
    output: str | Path,
    *,
    arch: str = "resnet18",
    arch_kwargs: dict[str, Any] | None = None,
    init: str | None = None,
    epochs: int = 30,
    size: int = 128,
    batch: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    val_fraction: float = 0.1,
    bands: Sequence[str] | None = None,
    gsd_m: float | None = None,
    work: str | Path | None = None,
    command: str = "",
    log: Callable[[str], None] = print,
    progress: bool = True,
):
    """Train (or resume) a classifier on a classification ``dataset`` and write ``output`` (NAME.safetensors)
    with its card NAME.json. ``init`` (a ``-m`` name or weights file) starts from those weights, adapting the
    stem to ``bands`` and replacing the head; its architecture is used. Returns the :class:`Weights` record."""
    out = Path(output)
    if not 0.0 <= val_fraction < 1.0:
        raise RsvisionError(f"--val must be in [0, 1), got {val_fraction}")
    work_dir = check_weights_outputs(out, work)
    labels = np.array([s.targets["label"] for s in dataset], dtype=np.int64)
    classes = list(dataset.classes)
    if len(classes) < 2:
        raise RsvisionError(f"{dataset.root}: training a classifier needs at least 2 classes, found {len(classes)}")
    if val_fraction > 0:
        val_idx, train_idx = stratified_split(labels, fraction=val_fraction, seed=seed)
    else:
        val_idx, train_idx = np.zeros(0, np.int64), np.arange(len(labels))
    cache_size = round(size * 1.25)
    split = dataset.split or "all"
    images = image_cache(dataset, cache_size, work_dir / f"cache_{split}_{cache_size}.npy", progress=progress)
    train = ArrayData(images[train_idx], labels[train_idx])
    val = ArrayData(images[val_idx], labels[val_idx]) if len(val_idx) else None
    band_names = list(bands) if bands else default_bands(images.shape[1])
    if len(band_names) != images.shape[1]:
        raise RsvisionError(f"{len(band_names)} band names given for images of {images.shape[1]} bands")
    scale, value_range = value_scale(train.images)
    mean, std = band_statistics(train.images, scale)
    prep = Preprocessing(bands=band_names, scale=scale, value_range=value_range, mean=mean, std=std, input_size=size)
    log(
        f"{dataset.root}: {len(train)} training and {len(val) if val else 0} validation images, {len(classes)} "
        f"classes, {images.shape[1]} bands ({', '.join(band_names)}), cached at {cache_size} px in {work_dir}"
    )
    torch.manual_seed(seed)
    model, arch, arch_kwargs = initial_model(init, arch, arch_kwargs, len(classes), band_names)
    batch = min(batch, len(train))
    config = TrainConfig(epochs=epochs, batch_size=batch, lr=lr, seed=seed, warmup_epochs=min(2.0, epochs / 10))
    started = time.time()
    result = fit(model, train, val, prep, config, work_dir, log=log, progress=progress)
    model.load_state_dict(torch.load(work_dir / "best.pt", map_location="cpu", weights_only=True)["model"])
    notes = {
        "training_seconds": round(sum(r["seconds"] for r in result.history)),
        "best_epoch": result.best_epoch,
        "epochs": epochs,
        "train_config": asdict(config),
        "validation_curve": [round(r.get("val_accuracy", float("nan")), 4) for r in result.history],
        "trained_from": f"weights {init}" if init else "scratch (random initialisation)",
        "training_cache_size": cache_size,
    }
    record = save_weights(
        model,
        out.parent,
        out.stem,
        architecture=arch,
        architecture_kwargs=arch_kwargs,
        preprocessing=prep,
        gsd_m=gsd_m,
        classes=classes,
        notes=notes,
        licence=f"set by its trainer; trained on {dataset.root}, whose terms apply",
        command=command or f"rsvision train classification --data {dataset.root} -o {out}",
    )
    if len(val_idx):  # measured on the written file, so the card says what loading it gives
        part = f"{split}: validation part ({val_fraction:.0%}, stratified, seed {seed})"
        record.metrics = [validation_metrics(record, dataset.subset(val_idx), part)]
        record.save_card()
    log(
        f"wrote {record.weights_path} and its card {record.weights_path.with_suffix('.json').name} "
        f"(best epoch {result.best_epoch}, {(time.time() - started):.0f} s this run)"
    )
    return record


def initial_model(
    init: str | None, arch: str, arch_kwargs: dict[str, Any] | None, n_classes: int, bands: list[str]
) -> tuple[nn.Module, str, dict[str, Any]]:
    """``(model, architecture, its kwargs)`` to train: ``arch`` at random initialisation, or with ``init`` those
    weights' architecture and tensors, the stem adapted to ``bands`` and a new head for ``n_classes``."""
    if not init:
        arch_kwargs = dict(arch_kwargs or {})
        return build_model(arch, num_classes=n_classes, bands=bands, **arch_kwargs), arch, arch_kwargs
    loaded = resolve_model(init, (Task.CLASSIFICATION, Task.EMBEDDING), "train classification --init")
    record = loaded.weights
    arch_kwargs = dict(record.architecture_kwargs)
    with warnings.catch_warnings():  # a new head for these classes is the point of --init: no warning about it
        warnings.filterwarnings("ignore", message=".*(left out|keep their random initialisation)")
        model = build_model(
            record.architecture,
            num_classes=n_classes,
            bands=bands,
            source_bands=record.bands,
            source_state=loaded.module.state_dict(),
            **arch_kwargs,
        )
    return model, record.architecture, arch_kwargs


def validation_metrics(record: Weights, part: Dataset, split: str) -> MeasuredMetrics:
    """The card's metrics of the written weights on the validation ``part`` of the data, by the evaluator of
    ``rsvision eval`` (its original images, the card's preprocessing)."""
    scores = evaluate_classifier(Classifier(record), part)
    return MeasuredMetrics(dataset=str(part.root), split=split, values=card_scores(scores))
