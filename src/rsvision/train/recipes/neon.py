"""The built-in tree-crown detector, trained on the NEON Yellowstone crops (0.1 m RGB, 853 crowns in two images) and
reported on a held-out strip of each.

Split by space, never by overlapping chips: in each image the columns 0-65% train, 65-80% are the validation strip
that chooses the epoch and every setting, and 80-100% are the test strip, read once at the end. A box belongs to
the strip holding its centre and is clipped to it. RetinaNet (torchvision) over EfficientNet-Lite0 features (timm)
with a 128-channel pyramid, the backbone started from the shipped AID classifier.

Rebuild: ``python -m rsvision.train.recipes neon_trees --data ../shared/data/neon_trees --out
src/rsvision/models/weights`` (the same command resumes from ``--work``'s checkpoint; ``--no-test`` leaves the
test strips unread).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rsvision.bench.plots import plot_detections, plot_pr_curve
from rsvision.core.files import atomic_output
from rsvision.datasets.registry import open_dataset
from rsvision.datasets.voc import write_voc
from rsvision.io.images import read_image
from rsvision.metrics.detection import DetectionMetric
from rsvision.models.preprocess import Preprocessing
from rsvision.models.weights import MeasuredMetrics, Task, Weights, save_weights
from rsvision.train.detection import (
    BoxSamples,
    DetTrainConfig,
    DetTrainResult,
    card_values,
    detection_preprocessing,
    evaluate_detector,
    fit_detector,
    initial_detector,
    predict_boxes,
)
from rsvision.train.recipes.common import (
    EnsembleRecipe,
    as_shipped,
    join_members,
    recipe_entry,
    recipe_session,
    run_notes,
    seeded,
    write_ensemble,
)

TRAIN_PART, VAL_PART, TEST_PART = (0.0, 0.65), (0.65, 0.8), (0.8, 1.0)  # of each image's columns
CLASSES = ["tree"]
LICENCE = (
    "Weights: Apache-2.0 (rsvision). Trained on NEON AOP imagery (public domain) with DeepForest's crown boxes (MIT)."
)


@dataclass(frozen=True)
class DetRecipe:
    recipe: str
    name: str
    arch: str
    config: DetTrainConfig
    arch_kwargs: dict = field(default_factory=dict)
    init: str | None = None
    input_size: int = 400  # the tile inference uses (DeepForest's 400 px at 0.1 m)
    classes: tuple[str, ...] = tuple(CLASSES)
    refit: bool = False  # train on train + validation strips for the epochs chosen on validation; keep the last


TREES = DetRecipe(
    "neon_trees",
    "neon_trees_retinanet",
    "retinanet",
    DetTrainConfig(epochs=24, steps=30, batch_size=4, crop=384, lr=1e-3, weight_decay=1e-4, jitter=0.2),
    # anchors from 16 px (anchor_scale 2): a third of the validation crowns are under 25 px, which RetinaNet's
    # 32 px anchors almost never found (validation AP50 0.397 with them, 0.525 with these)
    arch_kwargs={"backbone": "timm:efficientnet_lite0", "channels": 128, "anchor_scale": 2.0},
    init="aid_efficientnet_lite0",
)
# ``neon_trees`` chose every setting on the validation strip; its last epoch scored as its best (AP50 0.523 at
# epoch 24, 0.525 at 19), so the refit keeps the last of the same 24 epochs on columns 0-80%, a third more crowns
TREES_REFIT = replace(TREES, recipe="neon_trees_refit", refit=True)
# a second member for an ensemble with the shipped model: the same settings under another seed (initial head,
# crops and their order), so that the two err differently; validation decides whether the ensemble ships
TREES_SEED1 = seeded(TREES, 1)

# the built-in detector: the two members' boxes joined by weighted boxes fusion (rsvision.models.ensemble) at the
# fusion IoU chosen on the validation strips: 0.5 / 0.55 (ensemble-boxes' default) / 0.6 gave AP50 0.558 / 0.536 /
# 0.524 (the members alone 0.525 and 0.479)
TREES_ENSEMBLE = EnsembleRecipe("neon_trees_ensemble", "neon_trees_retinanet", (TREES, TREES_SEED1))
TREES_FUSION_IOU = 0.5
CHOSEN_ON = "neon_trees (validation strip columns 65-80%: AP50 0.525, best epoch 19 of 24, last epoch 0.523)"


def strip(image: np.ndarray, boxes: np.ndarray, part: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The columns ``part`` (fractions) of ``image`` and the xyxy boxes whose centre lies in them, clipped to them
    and shifted to the strip's pixels."""
    width = image.shape[-1]
    x0, x1 = round(part[0] * width), round(part[1] * width)
    centre = (boxes[:, 0] + boxes[:, 2]) / 2
    kept = boxes[(centre >= x0) & (centre < x1)].copy()
    kept[:, [0, 2]] = np.clip(kept[:, [0, 2]], x0, x1) - x0
    return image[:, :, x0:x1], kept


def tree_samples(dataset, part: tuple[float, float]) -> BoxSamples:
    """The strip ``part`` of every image of the NEON dataset, with its crowns (class 0)."""
    images, boxes, ids = [], [], []
    for sample in dataset:
        image, kept = strip(read_image(sample.image)[:3], np.asarray(sample.targets["boxes"], float), part)
        images.append(image)
        boxes.append(kept)
        ids.append(sample.id)
    return BoxSamples(images, boxes, [np.zeros(len(b), np.int64) for b in boxes], ids)


def write_strips(dataset, part: tuple[float, float], folder: Path) -> list[Path]:
    """The strip ``part`` of every image as a Pascal VOC dataset in ``folder`` (PNG strips, lossless, so that
    ``rsvision eval detection --data FOLDER --format voc`` scores the very pixels the recipe scored)."""
    folder.mkdir(exist_ok=True)
    written = []
    samples = tree_samples(dataset, part)
    for sid, image, boxes in zip(samples.ids, samples.images, samples.boxes):
        name = f"{sid}_columns_{round(100 * part[0])}_{round(100 * part[1])}"
        with atomic_output(folder / f"{name}.png") as tmp:  # PIL: a PNG has no georeference for rasterio to miss
            Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0))).save(tmp, format="PNG")
        written.append(
            write_voc(folder / f"{name}.xml", f"{name}.png", image.shape[:0:-1], boxes, ["Tree"] * len(boxes))
        )
    return written


def neon_trees_strips(*, out: str, data: str = "../shared/data/neon_trees", progress: bool = False) -> None:
    """Write the validation and test strips as Pascal VOC datasets in ``out/validation`` and ``out/test``, for
    ``rsvision eval detection --data OUT/test --format voc`` (no training)."""
    dataset = open_dataset(data, "voc")
    for part, sub in ((VAL_PART, "validation"), (TEST_PART, "test")):
        written = write_strips(dataset, part, Path(out) / sub)
        print(f"{len(written)} strips -> {Path(out) / sub}")


def train_detector(
    recipe: DetRecipe, train: BoxSamples, val: BoxSamples | None, work_dir: Path, *, progress: bool, log
) -> tuple[torch.nn.Module, Preprocessing, DetTrainResult]:
    """The recipe's detector fitted on ``train`` (:func:`fit_detector`; ``val`` None keeps the last epoch) and
    rounded as shipped, with its preprocessing: RGB normalised by the training images' statistics, tiles of
    ``recipe.input_size`` at inference."""
    prep = detection_preprocessing(train.images, recipe.input_size)
    model = initial_detector(recipe.arch, len(recipe.classes), recipe.arch_kwargs, recipe.init, recipe.config.seed)
    result = fit_detector(
        model, prep, train, val, recipe.config, work_dir, classes=recipe.classes, progress=progress, log=log
    )
    as_shipped(model)
    model.eval()
    return model, prep, result


def save_detector(recipe: DetRecipe, model: torch.nn.Module, prep: Preprocessing, out: str, **card) -> Weights:
    """``out/NAME.safetensors`` and its card: task, architecture and classes from the recipe, the rest ``card``."""
    return save_weights(
        model,
        out,
        recipe.name,
        task=Task.DETECTION,
        architecture=recipe.arch,
        architecture_kwargs=recipe.arch_kwargs,
        preprocessing=prep,
        classes=list(recipe.classes),
        **card,
    )


def train_detection_recipe(
    recipe: DetRecipe,
    *,
    out: str,
    data: str = "../shared/data/neon_trees",
    work: str | None = None,
    threads: int = 2,
    progress: bool = True,
    test: bool = True,
) -> Path:
    """Train (or resume) ``recipe``; write ``out/NAME.safetensors`` + card with the validation strip's AP50 and,
    with ``test``, the test strip's (read once, after every choice), its PR curve and a picture of detections."""
    with recipe_session(recipe.recipe, data, out, work, threads) as (work_dir, log, text):
        dataset = open_dataset(data, "voc")
        train, val = fit_parts(recipe, dataset, log)
        notes = split_notes(recipe)
        started = time.time()
        model, prep, result = train_detector(recipe, train, val, work_dir, progress=progress, log=log)
        best = f" (best epoch {result.best_epoch})"
        metrics, pictures = measure(model, prep, dataset, val, test, Path(out) / recipe.name, log, best)
        notes.update(pictures)
        record = save_detector(
            recipe,
            model,
            prep,
            out,
            metrics=metrics,
            licence=LICENCE,
            command=text,
            gsd_m=0.1,
            notes={
                **run_notes(recipe, result, threads, started, "backbone"),
                **notes,
            },
        )
        log(f"wrote {record.weights_path}")
        return record.weights_path


def train_ensemble_recipe(
    recipe: EnsembleRecipe,
    *,
    out: str,
    data: str = "../shared/data/neon_trees",
    work: str | None = None,
    threads: int = 2,
    progress: bool = True,
    test: bool = True,
) -> Path:
    """Train (or resume, or reuse from ``work/members``) each member recipe, join them into one model, and write
    ``out/NAME.safetensors`` + card with the validation strips' AP50 and, with ``test``, the test strips'."""
    with recipe_session(recipe.recipe, data, out, work, threads) as (work_dir, log, text):
        joined = join_members(recipe, work_dir, train_detection_recipe, log, data=data, progress=progress)
        joined.module.fusion_iou = TREES_FUSION_IOU
        prep, dataset = joined.weights.preprocessing, open_dataset(data, "voc")
        val = tree_samples(dataset, VAL_PART)
        metrics, pictures = measure(joined.module, prep, dataset, val, test, Path(out) / recipe.name, log)
        notes = {**split_notes(TREES), **pictures}
        return write_ensemble(joined, out, recipe, log, metrics=metrics, licence=LICENCE, command=text, notes=notes)


def measure(
    model, prep: Preprocessing, dataset, val: BoxSamples | None, test: bool, stem: Path, log, said: str = ""
) -> tuple[list[MeasuredMetrics], dict[str, str]]:
    """The card's AP50 on the validation strips (none for a refit) and, with ``test``, on the test strips (read once,
    after every choice) with the PR curve and picture named after ``stem``; ``said`` ends the validation line."""
    metrics, pictures = [], {}
    if val is not None:
        scores = evaluate_detector(model, prep, val, CLASSES)
        log(f"validation strips: AP50 {scores['map50']:.4f}{said}")
        metrics.append(MeasuredMetrics(dataset="neon_trees", split="columns 65-80%", values=card_values(scores)))
    if test:
        test_set = tree_samples(dataset, TEST_PART)
        scores = evaluate_detector(model, prep, test_set, CLASSES)
        metrics.append(MeasuredMetrics(dataset="neon_trees", split="columns 80-100%", values=card_values(scores)))
        log(f"test strips: AP50 {scores['map50']:.4f}")
        pictures = _pictures(model, prep, test_set, stem)
    return metrics, pictures


def fit_parts(recipe: DetRecipe, dataset, log) -> tuple[BoxSamples, BoxSamples | None]:
    """The training strips and the validation strips (None for a refit, which trains on them)."""
    if recipe.refit:
        train = tree_samples(dataset, (TRAIN_PART[0], VAL_PART[1]))
        log(f"refit: columns 0-80% train ({sum(len(b) for b in train.boxes)} crowns), settings from {CHOSEN_ON}")
        return train, None
    train, val = tree_samples(dataset, TRAIN_PART), tree_samples(dataset, VAL_PART)
    counts = [sum(len(b) for b in s.boxes) for s in (train, val)]
    log(f"columns 0-65% train ({counts[0]} crowns), 65-80% validation ({counts[1]}); test strip 80-100%")
    return train, val


def split_notes(recipe: DetRecipe) -> dict[str, str]:
    split = {"split": "by columns of each image: 0-65% train, 65-80% validation, 80-100% test"}
    if recipe.refit:
        split["refit"] = f"trained on columns 0-80% with the settings chosen by {CHOSEN_ON}"
    return split


def _pictures(model, prep, samples: BoxSamples, stem: Path) -> dict[str, str]:
    """The test strips' precision-recall curve and the first strip's detections over its truth."""
    found = [predict_boxes(model, prep, image) for image in samples.images]
    metric = DetectionMetric(CLASSES, 0.5)
    for f, boxes, labels in zip(found, samples.boxes, samples.labels):
        metric.update(f["boxes"], f["scores"], f["labels"], boxes, labels)
    curve = plot_pr_curve(
        *metric.pr_curve(0), stem.with_name(f"{stem.name}_pr.png"), f"{stem.name}: test strips, IoU 0.5"
    )
    picture = plot_detections(
        samples.images[0],
        samples.boxes[0],
        found[0]["boxes"][found[0]["scores"] >= 0.3],
        stem.with_name(f"{stem.name}_example.png"),
        f"{samples.ids[0]}, test strip (score >= 0.3)",
    )
    return {"pr_curve_png": curve.name, "example_png": picture.name}


neon_trees = recipe_entry(
    train_detection_recipe,
    TREES,
    "RetinaNet over EfficientNet-Lite0 (AID backbone) on NEON crowns (neon_trees_retinanet).",
)
neon_trees_seed1 = recipe_entry(
    train_detection_recipe,
    TREES_SEED1,
    "neon_trees under seed 1: the second member of the ensemble (neon_trees_retinanet_seed1).",
)
neon_trees_ensemble = recipe_entry(
    train_ensemble_recipe,
    TREES_ENSEMBLE,
    "neon_trees and neon_trees_seed1 joined, heads averaged per anchor (the built-in neon_trees_retinanet).",
)
neon_trees_refit = recipe_entry(
    train_detection_recipe,
    TREES_REFIT,
    "neon_trees' settings and epochs refitted on the training and validation strips (neon_trees_retinanet).",
)
