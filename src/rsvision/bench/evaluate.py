"""Score predictions made elsewhere against a dataset, for every task (``rsvision eval TASK --predictions``).

:func:`evaluate_predictions` opens the dataset (:func:`open_task_dataset`), reads the predictions in
the task's result format and returns the metric dict whose keys docs/metrics.md fixes. The formats, and
how predictions are matched to samples, are in docs/eval.md.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rsvision.bench.detection import evaluate_coco_results, evaluate_dota_results
from rsvision.bench.match import SampleIndex, name_parts
from rsvision.bench.predictions import (
    is_answer,
    is_box,
    is_id,
    is_text,
    list_masks,
    read_binary_mask,
    read_classification_csv,
    read_label_mask,
    read_records,
    read_similarity,
)
from rsvision.datasets import FORMATS, REGISTRY, Dataset, guess_format, open_dataset
from rsvision.errors import EvaluationError, InputNotFoundError, MetricInputError
from rsvision.metrics import (
    ChangeMetric,
    ClassificationMetric,
    GroundingMetric,
    SegmentationMetric,
    VQAMetric,
    caption_scores,
    retrieval_recall_from_similarity,
)

TASK_FORMATS: dict[str, tuple[str, ...]] = {
    "classification": ("folder",),
    "detection": ("voc", "dior-r", "hrsc", "dota", "yolo", "yolo-obb", "coco"),
    "segmentation": ("color-mask", "index-mask"),
    "change": ("triplets", "second", "oscd"),
    "retrieval": ("rsicd", "caption-json"),
    "captioning": ("rsicd", "caption-json"),
    "vqa": ("rsvqa",),
    "grounding": ("rsvg",),
}
TASKS = tuple(TASK_FORMATS)


def check_task(task: str) -> str:
    if task not in TASK_FORMATS:
        raise EvaluationError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    return task


def open_task_dataset(
    task: str,
    data: str | os.PathLike,
    format: str | None = None,
    split: str | None = None,
    split_file: str | os.PathLike | None = None,
) -> Dataset:
    """The dataset at ``data`` (a path or a registered name), checked to hold ``task``'s targets."""
    check_task(task)
    p = Path(data)
    if format is not None and format not in FORMATS:
        raise EvaluationError(f"unknown format {format!r}; formats: {', '.join(FORMATS)}")
    if not p.exists() and str(data) not in REGISTRY:
        raise InputNotFoundError(f"no such dataset path or name: {data} (names: {', '.join(sorted(REGISTRY))})")
    if format is None:
        format = REGISTRY[str(data)].format if not p.exists() else guess_format(p)
        guessed = f" (guessed from {p}; pass --format to say otherwise)"
    else:
        guessed = ""
    if format not in TASK_FORMATS[task]:
        raise EvaluationError(
            f"{task} cannot be scored on {format!r} data{guessed}; formats for {task}: {', '.join(TASK_FORMATS[task])}"
        )
    options: dict[str, Any] = {}
    if split_file is not None:
        params = inspect.signature(FORMATS[format][0]).parameters
        name = next((n for n in ("split_file", "list_file") if n in params), None)
        if name is None:
            raise EvaluationError(f"a split file (--split-file) does not apply to {format!r} data; use --split")
        options[name] = Path(split_file)
    return open_dataset(data, format, split, **options)


def evaluate_predictions(
    task: str,
    data: str | os.PathLike,
    predictions: str | os.PathLike,
    format: str | None = None,
    split: str | None = None,
    split_file: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Score ``predictions`` (a file or folder in the task's result format) against the dataset at ``data``."""
    check_task(task)
    predictions = Path(predictions)
    if not predictions.exists():
        raise InputNotFoundError(f"no such predictions file or folder: {predictions}")
    dataset = open_task_dataset(task, data, format, split, split_file)
    return score_predictions(task, dataset, predictions)


def score_predictions(task: str, dataset: Dataset, predictions: str | os.PathLike) -> dict[str, Any]:
    """Score predictions against an opened dataset (see :func:`evaluate_predictions`)."""
    if len(dataset) == 0:
        raise EvaluationError(f"{dataset.root}: the dataset holds no samples to score")
    return _SCORERS[check_task(task)](dataset, Path(predictions))


# ----------------------------------------------------------------------------- one function per task


def score_classes(
    classes: list[str], truth: np.ndarray, predicted: list[str], top: list[list[str]] | None = None
) -> dict[str, Any]:
    """Classification keys for predicted class names against ``truth`` (indices into the dataset's ``classes``),
    scored over the dataset's classes: a name the dataset does not have (from a model with more classes than the
    dataset) counts as wrong, in an extra class ``(other)``, and ``other_class_predictions`` says how many.
    ``top``: the most probable names per sample; gives ``top5_accuracy`` when the dataset has more than five
    classes (with five or fewer it would be 1 by construction)."""
    index = {c: i for i, c in enumerate(classes)}
    other = len(classes)
    pred = np.array([index.get(name, other) for name in predicted], dtype=np.int64)
    n_other = int((pred == other).sum())
    metric = ClassificationMetric([*classes, *(["(other)"] if n_other else [])])
    metric.update(pred, truth)
    out = metric.compute()
    out["other_class_predictions"] = n_other
    if top is not None and len(classes) > 5:
        out["top5_accuracy"] = float(np.mean([classes[t] in names[:5] for t, names in zip(truth, top)]))
    return out


def evaluate_classification(dataset: Dataset, path: Path) -> dict[str, Any]:
    """A ``path,class,score,top5`` CSV; rows name images by path (relative to the data root, absolute, or the
    file name alone); scored by :func:`score_classes` (``top5_accuracy`` when every row has a ``top5``)."""
    rows = read_classification_csv(path)
    keys = [[name_parts(os.path.relpath(s.image, dataset.root)), name_parts(s.id)] for s in dataset]
    owners = SampleIndex([s.id for s in dataset], keys).assign([r.path for r in rows], str(path))
    by_sample = [rows[0]] * len(dataset)
    for owner, row in zip(owners, rows):
        by_sample[owner] = row
    truth = np.array([s.targets["label"] for s in dataset], dtype=np.int64)
    top = [r.top5 for r in by_sample] if all(r.top5 is not None for r in rows) else None
    return score_classes(list(dataset.classes), truth, [r.label for r in by_sample], top)  # type: ignore[arg-type]


def evaluate_detection(dataset: Dataset, path: Path) -> dict[str, Any]:
    """COCO results JSON for ``coco`` data; a folder of DOTA ``Task1_``/``Task2_<class>.txt`` files otherwise."""
    if dataset.format == "coco":
        return evaluate_coco_results(dataset, path)
    return evaluate_dota_results(dataset, path)


def _mask_owners(dataset: Dataset, path: Path, keys: list[list[tuple[str, ...]]]) -> list[Path]:
    """The predicted mask file of each sample, in dataset order."""
    files = list_masks(path)
    names = ["/".join(k) for k in files]
    owners = SampleIndex([s.id for s in dataset], keys).assign(names, str(path), "predicted mask")
    by_sample: list[Path] = [Path()] * len(dataset)
    for owner, f in zip(owners, files.values()):
        by_sample[owner] = f
    return by_sample


def _check_shape(pred: np.ndarray, truth: np.ndarray, path: Path) -> None:
    if pred.shape != truth.shape:
        raise MetricInputError(
            f"{path}: predicted mask is {pred.shape[1]} x {pred.shape[0]},"
            f" its label is {truth.shape[1]} x {truth.shape[0]}"
        )


def evaluate_segmentation(dataset: Dataset, path: Path) -> dict[str, Any]:
    """A folder of single-band class-index masks named like the images (by stem; subfolders as in the data)."""
    files = _mask_owners(dataset, path, [[name_parts(s.id)] for s in dataset])
    ignore = getattr(dataset, "ignore_index", None)
    metric = SegmentationMetric(len(dataset.classes), ignore, dataset.classes)
    for sample, f in zip(dataset, files):
        truth, pred = dataset.load_mask(sample), read_label_mask(f)
        _check_shape(pred, truth, f)
        try:
            metric.update(pred, truth)
        except MetricInputError as err:
            raise MetricInputError(f"{f}: {err}") from None
    return metric.compute()


def evaluate_change(dataset: Dataset, path: Path) -> dict[str, Any]:
    """A folder of 0/1 or 0/255 masks named like the labels (by stem; OSCD: ``<city>`` or ``<city>-cm``)."""
    keys = [[name_parts(s.id), (f"{s.id}-cm",)] if dataset.format == "oscd" else [name_parts(s.id)] for s in dataset]
    files = _mask_owners(dataset, path, keys)
    metric = ChangeMetric()
    for sample, f in zip(dataset, files):
        truth, pred = dataset.load_mask(sample), read_binary_mask(f)
        _check_shape(pred, truth, f)
        metric.update(pred, truth)
    return metric.compute()


def _by_name(dataset: Dataset, records: list[dict], field: str, path: Path, stems: bool = False) -> list[dict]:
    """The record of each sample, in dataset order (``field`` names the sample; ``stems``: the id's stem too)."""
    keys = []
    for s in dataset:
        parts = name_parts(s.id)
        keys.append([parts, (*parts[:-1], Path(parts[-1]).stem)] if stems else [parts])
    owners = SampleIndex([s.id for s in dataset], keys).assign([str(r[field]) for r in records], str(path))
    out: list[dict] = [{}] * len(dataset)
    for owner, r in zip(owners, records):
        out[owner] = r
    return out


def evaluate_captioning(dataset: Dataset, path: Path) -> dict[str, Any]:
    """A JSON list ``[{"image": name, "caption": text}]``, one per image (the file name, with or without suffix)."""
    records = read_records(path, {"image": (is_text, "a file name"), "caption": (is_text, "text")})
    mine = _by_name(dataset, records, "image", path, stems=True)
    refs = {s.id: s.targets["captions"] for s in dataset}
    return caption_scores(refs, {s.id: r["caption"] for s, r in zip(dataset, mine)})


def evaluate_retrieval(dataset: Dataset, path: Path) -> dict[str, Any]:
    """A ``.npy`` (images x captions) similarity matrix: rows in the dataset's sample order, columns the
    captions of sample 0, then of sample 1, ... in their file order."""
    sim = read_similarity(path)
    counts = np.array([len(s.targets["captions"]) for s in dataset], dtype=np.int64)
    if sim.shape != (len(dataset), int(counts.sum())):
        raise MetricInputError(
            f"{path}: similarity is {sim.shape[0]} x {sim.shape[1]}, the dataset has {len(dataset)} images x"
            f" {int(counts.sum())} captions (rows: images in dataset order; columns: their captions in turn)"
        )
    try:
        return retrieval_recall_from_similarity(sim, np.repeat(np.arange(len(dataset)), counts))
    except MetricInputError as err:
        raise MetricInputError(f"{path}: {err}") from None


def evaluate_vqa(dataset: Dataset, path: Path) -> dict[str, Any]:
    """A JSON list ``[{"question_id": id, "answer": text}]``, one per question."""
    records = read_records(path, {"question_id": (is_id, "a question id"), "answer": (is_answer, "text")})
    mine = _by_name(dataset, records, "question_id", path)
    metric = VQAMetric()
    metric.update(
        [r["answer"] for r in mine], [s.targets["answer"] for s in dataset], [s.targets["type"] for s in dataset]
    )
    return metric.compute()


def evaluate_grounding(dataset: Dataset, path: Path) -> dict[str, Any]:
    """A JSON list ``[{"id": sample id, "box": [x1, y1, x2, y2]}]``, one per referring expression."""
    fields = {"id": (is_id, "a sample id"), "box": (is_box, "[x1, y1, x2, y2] with x2 >= x1, y2 >= y1")}
    records = read_records(path, fields)
    mine = _by_name(dataset, records, "id", path)
    metric = GroundingMetric()
    pred = np.array([r["box"] for r in mine], dtype=np.float64)
    metric.update(pred, np.concatenate([s.targets["boxes"] for s in dataset]))
    return metric.compute()


_SCORERS: dict[str, Callable[[Dataset, Path], dict[str, Any]]] = {
    "classification": evaluate_classification,
    "detection": evaluate_detection,
    "segmentation": evaluate_segmentation,
    "change": evaluate_change,
    "retrieval": evaluate_retrieval,
    "captioning": evaluate_captioning,
    "vqa": evaluate_vqa,
    "grounding": evaluate_grounding,
}
