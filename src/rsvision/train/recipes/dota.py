"""The oriented-object detector for DOTA-v1.0's 15 classes, trained on what the shared data holds and scored with
DOTA's task-1 AP.

Training: ``dota8``'s 4 training tiles (1024 px cuts of DOTA-v1.0 images, Ultralytics' YOLO-OBB labels; corners
outside the tile are clipped, counted in the log) and the devkit's example image P1888 (712 x 557 px, labelTxt, fed
whole: training cuts random crops anyway). Evaluation: ``dota8``'s 4 validation tiles, whole, by the call behind
``rsvision eval detection`` on the written file (VOC rules of the devkit's ``dota_evaluation_task1.py``, polygon IoU
0.5: ``map50_voc07`` is the devkit's 11-point figure, ``map50`` the all-point one).

Those 4 tiles are the only held-out images, so they choose nothing: the run trains a fixed number of epochs, keeps
the last and reads the validation tiles once, at the end. Five images (about 250 objects, most of them in one
harbour) cannot teach 15 classes: the figure is low and says little of the method. What the recipe is for is the
pipeline, the same for the full DOTA or one's own data: rotated FCOS (ProbIoU loss, le90 boxes) over
EfficientNet-Lite0 features with a 128-channel pyramid, the backbone started from the shipped AID classifier;
crops turned by any angle as well as the flips and quarter turns; at inference (``rsvision detect SCENE -m
dota_rotated_fcos``) 1024 px tiles, rotated NMS across tiles, DOTA labelTxt / task-1 files or GeoPackage polygons.

Rebuild: ``python -m rsvision.train.recipes dota_obb --data ../shared/data/dota --out src/rsvision/models/weights``
(``--data`` holds ``dota8/`` and ``devkit_example/``; the same command resumes from ``--work``'s checkpoint).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from rsvision.bench.model_eval import evaluate_detector_model
from rsvision.datasets.base import Dataset
from rsvision.datasets.dota import DOTA_V1_CLASSES
from rsvision.datasets.registry import open_dataset
from rsvision.models.resolve import resolve_model
from rsvision.models.weights import MeasuredMetrics, Task
from rsvision.train.detection import BoxSamples, DetTrainConfig, load_box_samples
from rsvision.train.recipes.common import recipe_entry, recipe_session, run_notes
from rsvision.train.recipes.neon import DetRecipe, save_detector, train_detector

# (folder under --data, format, split)
TRAIN_PARTS = (("dota8", "yolo-obb", "train"), ("devkit_example", "dota", None))
VAL_PART = ("dota8", "yolo-obb", "val")
CARD_KEYS = ("map50", "map50_voc07", "map")
LICENCE = (
    "Weights: Apache-2.0 (rsvision). Trained on DOTA-v1.0 images (DOTA's terms: academic use only) as cut by "
    "Ultralytics' dota8 (shipped with the GPL-3.0 text) and the DOTA devkit's example P1888."
)

OBB = DetRecipe(
    "dota_obb",
    "dota_rotated_fcos",
    "rotated_fcos",
    DetTrainConfig(epochs=10, steps=25, batch_size=4, crop=512, lr=1e-3, weight_decay=1e-4, jitter=0.2, rotate=True),
    arch_kwargs={"backbone": "timm:efficientnet_lite0", "channels": 128},
    init="aid_efficientnet_lite0",
    input_size=1024,  # the tile of large images at inference, and the size of DOTA's usual cuts
    classes=DOTA_V1_CLASSES,
)


def open_parts(data: str | Path, parts: Sequence[tuple[str, str, str | None]]) -> list[Dataset]:
    """The datasets ``parts`` names under ``data``, their labels indexing DOTA-v1.0's classes."""
    return [open_dataset(Path(data) / folder, fmt, split, classes=DOTA_V1_CLASSES) for folder, fmt, split in parts]


def obb_samples(datasets: Sequence[Dataset]) -> BoxSamples:
    """Every image of ``datasets``, whole and RGB, with its le90 boxes and labels."""
    parts = [load_box_samples(dataset, range(len(dataset)), rotated=True) for dataset in datasets]
    return BoxSamples(*([x for p in parts for x in getattr(p, k)] for k in ("images", "boxes", "labels", "ids")))


def describe(dataset: Dataset) -> str:
    """``dota8/train: 4 images, 125 objects (16 clipped)`` for the log."""
    objects = sum(len(s.targets["labels"]) for s in dataset)
    repaired = ", ".join(f"{n} {kind}" for kind, n in dataset.issues.items())
    return f"{dataset.root.name}/{dataset.split or 'all'}: {len(dataset)} images, {objects} objects" + (
        f" ({repaired})" if repaired else ""
    )


def per_class(scores: dict) -> dict[str, dict[str, float]]:
    """AP50 (all-point and 11-point) and object count of each class with validation objects."""
    return {
        name: {k: round(float(v[k]), 4) for k in ("ap50", "ap50_voc07", "num_gt")}
        for name, v in scores["per_class"].items()
        if v["num_gt"] > 0
    }


def train_obb_recipe(
    recipe: DetRecipe,
    *,
    out: str,
    data: str = "../shared/data/dota",
    work: str | None = None,
    threads: int = 2,
    progress: bool = True,
) -> Path:
    """Train (or resume) ``recipe`` for its fixed epochs; write ``out/NAME.safetensors`` and a card whose metrics
    are those ``rsvision eval detection`` gives the written file on dota8 val (read once, after training)."""
    with recipe_session(recipe.recipe, data, out, work, threads) as (work_dir, log, text):
        parts = open_parts(data, TRAIN_PARTS)
        for dataset in parts:
            log(describe(dataset))
        log("no validation during training: the last epoch is kept, dota8 val is read once at the end")
        started = time.time()
        model, prep, result = train_detector(recipe, obb_samples(parts), None, work_dir, progress=progress, log=log)
        record = save_detector(recipe, model, prep, out, licence=LICENCE, command=text)  # metrics: of the file
        (val,) = open_parts(data, [VAL_PART])
        scores = evaluate_detector_model(resolve_model(record.weights_path, Task.DETECTION), val)
        values = {k: round(float(scores[k]), 4) for k in CARD_KEYS}
        log(f"{describe(val)}: {values} (after epoch {result.best_epoch})")
        record.metrics = [MeasuredMetrics(dataset="dota8", split="val (4 tiles of 1024 px)", values=values)]
        record.notes = {
            "split": "train: dota8 train + devkit P1888; dota8 val read once after a fixed number of epochs",
            "val_per_class": per_class(scores),
            "eval": f"rsvision eval detection --data {Path(data) / VAL_PART[0]} --format yolo-obb --split val "
            f"-m {record.file}",
            **run_notes(recipe, result, threads, started, "backbone"),
        }
        record.save_card()
        log(f"wrote {record.weights_path}")
        return record.weights_path


dota_obb = recipe_entry(
    train_obb_recipe,
    OBB,
    "Rotated FCOS over EfficientNet-Lite0 (AID backbone) on dota8 + P1888, DOTA-v1.0 classes (dota_rotated_fcos).",
)
