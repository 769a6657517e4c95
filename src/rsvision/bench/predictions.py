"""Readers of predictions made elsewhere, one per result format (see docs/eval.md).

Formats that the dataset readers already know (DOTA task-1 files) are read there; this module adds
the classification CSV, DOTA task-2 files, COCO results checked against their annotation file, JSON
record lists (captions, answers, grounding boxes), similarity matrices and folders of masks.
A malformed file is an :class:`~rsvision.errors.AnnotationError` naming the file and line or item.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rsvision.datasets.base import is_image, read_json, require_dir, require_file
from rsvision.datasets.dota import read_task1
from rsvision.errors import AnnotationError
from rsvision.geometry import Detections
from rsvision.io.images import read_image


@dataclass
class ClassPrediction:
    """One row of a classification CSV: the image path, its class, and the top-5 class names if given."""

    path: str
    label: str
    top5: list[str] | None
    line: int


def read_classification_csv(path: str | os.PathLike) -> list[ClassPrediction]:
    """``path,class,score,top5`` rows (``rsvision classify FOLDER -o OUT.csv``); ``score`` and ``top5``
    may be absent; ``top5`` is ``cls:score;cls:score;...``."""
    path = require_file(path, "predictions CSV")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            if "path" not in columns or "class" not in columns:
                raise AnnotationError(f"{path}: a classification CSV needs 'path' and 'class' columns, got {columns}")
            rows = []
            for row in reader:
                line = reader.line_num
                image, label = (row.get("path") or "").strip(), (row.get("class") or "").strip()
                if not image and not label and not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                    continue  # blank line
                if not image or not label:
                    raise AnnotationError(f"{path}:{line}: empty path or class")
                rows.append(ClassPrediction(image, label, _top5(row.get("top5"), path, line), line))
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except csv.Error as err:
        raise AnnotationError(f"{path}: malformed CSV ({err})") from None
    if not rows:
        raise AnnotationError(f"{path}: no prediction rows")
    return rows


def _top5(value: str | None, path: Path, line: int) -> list[str] | None:
    if value is None or not value.strip():
        return None
    names = []
    for item in value.split(";"):
        if not item.strip():
            continue
        name, sep, score = item.strip().rpartition(":")
        try:
            float(score)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise AnnotationError(f"{path}:{line}: top5 must be 'class:score;class:score;...', got {value!r}")
        names.append(name)
    return names


# ----------------------------------------------------------------------------- detection


def read_task2(
    folder: str | os.PathLike, classes: Sequence[str] | None = None
) -> tuple[dict[str, Detections], list[str]]:
    """Read DOTA task-2 files ``Task2_<class>.txt`` (lines ``imgname score xmin ymin xmax ymax``) ->
    (``{image id: Detections}`` with ``boxes``, class names), like :func:`rsvision.datasets.read_task1`."""
    folder = require_dir(folder, "task-2 result folder")
    files = sorted(folder.glob("Task2_*.txt"))
    if not files:
        raise AnnotationError(f"{folder}: no Task2_<class>.txt files")
    found = [p.stem[len("Task2_") :] for p in files]
    classes = sorted(found) if classes is None else list(classes)
    index = {c: i for i, c in enumerate(classes)}
    rows: dict[str, tuple[list, list, list]] = {}
    for path, name in zip(files, found):
        if name not in index:
            raise AnnotationError(f"{path}: unknown class {name!r}; known classes: {', '.join(classes)}")
        for n, line in enumerate(_text(path).splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            where = f"{path}:{n}"
            if len(parts) != 6:
                raise AnnotationError(f"{where}: expected 'imgname score xmin ymin xmax ymax', got {line.strip()!r}")
            try:
                values = [float(v) for v in parts[1:]]
            except ValueError:
                raise AnnotationError(f"{where}: non-numeric score or coordinates in {line.strip()!r}") from None
            if not all(map(math.isfinite, values)):
                raise AnnotationError(f"{where}: non-finite values in {line.strip()!r}")
            if values[3] < values[1] or values[4] < values[2]:
                raise AnnotationError(f"{where}: xmax < xmin or ymax < ymin in {line.strip()!r}")
            labels, scores, boxes = rows.setdefault(parts[0], ([], [], []))
            labels.append(index[name])
            scores.append(values[0])
            boxes.append(values[1:])
    per_image = {k: Detections(lab, s, boxes=np.asarray(b).reshape(-1, 4)) for k, (lab, s, b) in sorted(rows.items())}
    return per_image, classes


def read_dota_results(folder: str | os.PathLike, classes: Sequence[str]) -> tuple[dict[str, Detections], bool]:
    """A folder of ``Task1_<class>.txt`` (polygons: returns rotated=True) or ``Task2_<class>.txt``
    (horizontal boxes: rotated=False) files, never both."""
    folder = require_dir(folder, "predictions folder")
    task1, task2 = any(folder.glob("Task1_*.txt")), any(folder.glob("Task2_*.txt"))
    if task1 and task2:
        raise AnnotationError(f"{folder}: holds both Task1_ and Task2_ files; keep one kind per folder")
    if not task1 and not task2:
        raise AnnotationError(
            f"{folder}: no Task1_<class>.txt (oriented) or Task2_<class>.txt (horizontal) prediction files"
        )
    try:
        if task1:
            return read_task1(folder, classes)[0], True
        return read_task2(folder, classes)[0], False
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{folder}: a result file is not UTF-8 text ({err.reason} at byte {err.start})") from None


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# ----------------------------------------------------------------------------- JSON records and arrays


def is_text(v: Any) -> bool:
    return isinstance(v, str)


def is_id(v: Any) -> bool:
    return isinstance(v, (str, int)) and not isinstance(v, bool)


def is_answer(v: Any) -> bool:
    return isinstance(v, str) or _finite(v)


def is_box(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 4 and all(_finite(x) for x in v) and v[2] >= v[0] and v[3] >= v[1]


def read_records(path: str | os.PathLike, fields: Mapping[str, tuple[Callable[[Any], bool], str]]) -> list[dict]:
    """A JSON list of objects, each with every field of ``fields`` (name -> (check, what it must be))."""
    path = require_file(path, "predictions JSON")
    data = read_json(path)
    if not isinstance(data, list):
        example = ", ".join(f'"{f}": ...' for f in fields)
        raise AnnotationError(f"{path}: expected a JSON list of {{{example}}} objects")
    if not data:
        raise AnnotationError(f"{path}: no predictions")
    for k, item in enumerate(data):
        if not isinstance(item, dict):
            raise AnnotationError(f"{path}: item {k} is not an object")
        for name, (check, what) in fields.items():
            if name not in item:
                raise AnnotationError(f"{path}: item {k} lacks {name!r}")
            if not check(item[name]):
                raise AnnotationError(f"{path}: item {k}: {name!r} must be {what}, got {item[name]!r}")
    return data


def read_similarity(path: str | os.PathLike) -> np.ndarray:
    """An (images x texts) similarity matrix saved with ``numpy.save`` (``.npy``)."""
    path = require_file(path, "similarity matrix")
    try:
        sim = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise AnnotationError(f"{path}: not a .npy array ({str(err).splitlines()[0]})") from None
    if not isinstance(sim, np.ndarray) or sim.ndim != 2 or sim.dtype.kind not in "fiu":
        shape = getattr(sim, "shape", "?")
        raise AnnotationError(f"{path}: expected a 2-D numeric (images x texts) array, got shape {shape}")
    if not np.isfinite(sim).all():
        raise AnnotationError(f"{path}: the similarity matrix holds NaN or infinite values")
    return sim


# ----------------------------------------------------------------------------- masks


def list_masks(folder: str | os.PathLike) -> dict[tuple[str, ...], Path]:
    """Image files under ``folder`` (recursively), keyed by their relative path parts with the suffix dropped."""
    folder = require_dir(folder, "predictions folder")
    out: dict[tuple[str, ...], Path] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and is_image(p):
            rel = p.relative_to(folder)
            key = (*rel.parts[:-1], p.stem)
            if key in out:
                raise AnnotationError(f"{folder}: {out[key].name} and {p.name} predict the same sample {'/'.join(key)}")
            out[key] = p
    if not out:
        raise AnnotationError(f"{folder}: no mask images (PNG, TIFF ...) in the predictions folder")
    return out


def read_label_mask(path: Path) -> np.ndarray:
    """A single-band integer mask -> (H, W)."""
    arr = read_image(path)
    if arr.shape[0] != 1:
        raise AnnotationError(f"{path}: a predicted mask has one band of class indices, this one has {arr.shape[0]}")
    if arr.dtype.kind not in "biu":
        raise AnnotationError(f"{path}: a predicted mask holds integer class indices, not {arr.dtype}")
    return arr[0]


def read_binary_mask(path: Path) -> np.ndarray:
    """A change mask of 0/1 or 0/255 values -> (H, W) uint8 0/1."""
    arr = read_label_mask(path)
    top = int(arr.max(initial=0))
    if top <= 1 and int(arr.min(initial=0)) >= 0:
        return arr.astype(np.uint8)
    if top == 255 and np.all((arr == 0) | (arr == 255)):
        return (arr == 255).astype(np.uint8)
    values = np.unique(arr)
    shown = str(values[:6].tolist()) + (" ..." if len(values) > 6 else "")
    raise AnnotationError(f"{path}: a change mask holds 0/1 or 0/255, this one holds {shown}")
