"""COCO JSON: annotation reader and writer, results writer and reader (horizontal boxes).

Category ids may be any integers; labels are their positions in id order (``CocoDataset.category_ids``
maps back). ``bbox`` is ``[x, y, w, h]``; targets carry ``boxes`` (xyxy), ``labels``, ``iscrowd`` and
``area``. Boxes outside the image are clipped (counted warning); a box with no width or height is
an error naming the file and annotation id. ``CocoDataset.coco`` keeps the parsed JSON for evaluation.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from rsvision.core.files import atomic_output
from rsvision.datasets.base import (
    Dataset,
    Issues,
    Sample,
    clip_xyxy,
    drop_boxes,
    read_json,
    require_file,
)
from rsvision.errors import AnnotationError, OutputError
from rsvision.geometry.boxes import poly_area
from rsvision.geometry.detections import Detections
from rsvision.io.images import image_size


class CocoDataset(Dataset):
    """A COCO annotation JSON; images under ``images`` (default: the JSON's folder, or ``images/`` beside it)."""

    format = "coco"
    task = "detection"
    oriented = False

    def __init__(
        self,
        path: str | os.PathLike,
        images: str | os.PathLike | None = None,
        split: str | None = None,
        clip: bool = True,
    ):
        path = require_file(path, "COCO annotation file")
        data = read_json(path)
        for key in ("images", "annotations", "categories"):
            if not isinstance(data, dict) or not isinstance(data.get(key), list):
                raise AnnotationError(f"{path}: a COCO annotation file needs an {key!r} list")
        if images is None:
            images = path.parent / "images" if (path.parent / "images").is_dir() else path.parent
        image_root = Path(images)
        cats = sorted(data["categories"], key=lambda c: c["id"])
        self.category_ids = [int(c["id"]) for c in cats]
        label_of = {cid: i for i, cid in enumerate(self.category_ids)}
        if len(label_of) != len(cats):
            raise AnnotationError(f"{path}: repeated category ids")
        per_image: dict[int, list[dict]] = {}
        for ann in data["annotations"]:
            per_image.setdefault(ann.get("image_id"), []).append(ann)
        known = {img.get("id") for img in data["images"]}
        stray = [a.get("id") for k, anns in per_image.items() if k not in known for a in anns]
        if stray:
            raise AnnotationError(
                f"{path}: {len(stray)} annotations name an image id not in 'images' (first annotation id {stray[0]})"
            )
        issues = Issues(path)
        samples = []
        for img in data["images"]:
            if "id" not in img or "file_name" not in img:
                raise AnnotationError(f"{path}: an image entry lacks 'id' or 'file_name': {img}")
            anns = per_image.get(img["id"], [])
            boxes, labels, crowd, area, where = [], [], [], [], []
            for ann in anns:
                w = f"{path}: annotation id {ann.get('id')}"
                bbox = ann.get("bbox")
                if (
                    not isinstance(bbox, list)
                    or len(bbox) != 4
                    or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in bbox)
                ):
                    raise AnnotationError(f"{w}: bbox must be [x, y, w, h] numbers, got {bbox!r}")
                if bbox[2] < 0 or bbox[3] < 0:
                    raise AnnotationError(f"{w}: bbox {bbox} has a negative width or height")
                if ann.get("category_id") not in label_of:
                    raise AnnotationError(f"{w}: unknown category_id {ann.get('category_id')!r}")
                boxes.append([bbox[0], bbox[1], bbox[0] + bbox[2], bbox[1] + bbox[3]])
                labels.append(label_of[ann["category_id"]])
                crowd.append(bool(ann.get("iscrowd", 0)))
                area.append(float(ann.get("area", bbox[2] * bbox[3])))
                where.append(w)
            b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
            width, height = img.get("width"), img.get("height")
            if clip and len(b) and width and height:
                b = clip_xyxy(b, float(width), float(height), issues, where)
            targets = {
                "boxes": b,
                "labels": np.asarray(labels, dtype=np.int64),
                "iscrowd": np.asarray(crowd, dtype=bool),
                "area": np.asarray(area, dtype=np.float64),
                "difficult": np.zeros(len(labels), dtype=bool),
            }
            flat = (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])
            if flat.any():
                targets = drop_boxes(targets, flat, issues, where)
            meta = {"image_id": img["id"], "file_name": img["file_name"]}
            if width and height:
                meta["width"], meta["height"] = int(width), int(height)
            samples.append(Sample(Path(img["file_name"]).stem, image_root / img["file_name"], targets, meta))
        self.coco = data
        super().__init__(image_root, samples, [str(c["name"]) for c in cats], split, issues.emit())


# ----------------------------------------------------------------------------- writers and results


def write_coco(
    path: str | os.PathLike,
    samples: Sequence[Sample] | Dataset,
    classes: Sequence[str] | None = None,
    category_ids: Sequence[int] | None = None,
) -> Path:
    """Write samples' horizontal boxes (rotated boxes and polygons as their envelope, polygons also as
    ``segmentation``) as a COCO annotation file. Image ids are ``meta["image_id"]`` or 1, 2, ...;
    sizes come from ``meta`` or the image header; category ids default to 1..K."""
    classes = list(classes if classes is not None else getattr(samples, "classes", ()))
    if not classes:
        raise AnnotationError("write_coco needs the class names")
    cat_ids = list(category_ids) if category_ids is not None else list(range(1, len(classes) + 1))
    if len(cat_ids) != len(classes):
        raise AnnotationError(f"{len(cat_ids)} category ids for {len(classes)} classes")
    images, annotations = [], []
    for n, s in enumerate(samples, 1):
        image_id = s.meta.get("image_id", n)
        width, height = s.meta.get("width"), s.meta.get("height")
        if (not width or not height) and isinstance(s.image, Path) and s.image.is_file():
            width, height = image_size(s.image)
        if not width or not height:
            raise AnnotationError(f"sample {s.id}: image size unknown (no meta width/height and no image file)")
        file_name = s.meta.get("file_name") or (s.image.name if isinstance(s.image, Path) else f"{s.id}")
        images.append({"id": image_id, "file_name": file_name, "width": int(width), "height": int(height)})
        t = s.targets
        labels = np.asarray(t.get("labels", []), dtype=np.int64)
        if not len(labels):
            continue
        dets = Detections(labels, np.zeros(len(labels)), t.get("boxes"), t.get("rboxes"), t.get("polygons"))
        boxes = dets.as_boxes()
        crowd = np.asarray(t.get("iscrowd", np.zeros(len(labels), bool)), dtype=bool)
        polys = (
            dets.polygons if dets.polygons is not None else (dets.as_polygons() if dets.rboxes is not None else None)
        )
        area = t.get("area")
        if area is None:
            area = poly_area(polys) if polys is not None else (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        for i in range(len(labels)):
            ann = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": cat_ids[_label(labels[i], classes)],
                "bbox": _xywh(boxes[i]),
                "area": float(area[i]),
                "iscrowd": int(crowd[i]),
            }
            if polys is not None:
                ann["segmentation"] = [[float(v) for v in polys[i]]]
            annotations.append(ann)
    data = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": int(c), "name": name} for c, name in zip(cat_ids, classes)],
    }
    return _write_json(Path(path), data)


def write_coco_results(
    path: str | os.PathLike,
    detections: Mapping[str, Detections],
    image_ids: Mapping[str, int],
    category_ids: Sequence[int],
) -> Path:
    """COCO results ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]``; ``image_ids`` maps each
    key of ``detections`` to its COCO image id and ``category_ids[label]`` gives the category."""
    rows = []
    for key, dets in detections.items():
        if key not in image_ids:
            raise AnnotationError(f"detections for {key!r} have no COCO image id")
        boxes = dets.as_boxes()
        for i in range(len(dets)):
            rows.append(
                {
                    "image_id": image_ids[key],
                    "category_id": int(category_ids[_label(dets.labels[i], category_ids)]),
                    "bbox": _xywh(boxes[i]),
                    "score": float(dets.scores[i]),
                }
            )
    return _write_json(Path(path), rows)


def load_coco_results(path: str | os.PathLike, dataset: CocoDataset | None = None) -> tuple[list[dict], dict]:
    """A COCO results JSON, checked row by row -> (the rows as read, for :func:`rsvision.metrics.coco_evaluate`;
    ``{image_id: Detections}`` with category ids as labels, or, with ``dataset``, ``{sample id: Detections}`` with
    class indices as labels). Malformed rows and ids the annotation file lacks are errors naming the row."""
    path = require_file(path, "COCO results file")
    rows = read_json(path)
    if not isinstance(rows, list):
        raise AnnotationError(f'{path}: COCO results are a JSON list of {{"image_id", "category_id", "bbox", "score"}}')
    if dataset is not None:
        sample_of = {s.meta["image_id"]: s.id for s in dataset}
        label_of = {c: i for i, c in enumerate(dataset.category_ids)}
    grouped: dict = {}
    for k, r in enumerate(rows):
        w = f"{path}: result {k}"
        if not isinstance(r, dict) or not {"image_id", "category_id", "bbox", "score"} <= r.keys():
            raise AnnotationError(f"{w}: needs image_id, category_id, bbox and score")
        bbox, score = r["bbox"], r["score"]
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(map(_finite, bbox)) and min(bbox[2:]) >= 0):
            raise AnnotationError(f"{w}: bbox must be [x, y, w, h] with w, h >= 0, got {bbox!r}")
        if not _finite(score):
            raise AnnotationError(f"{w}: score must be a number, got {score!r}")
        key, label = r["image_id"], r["category_id"]
        if dataset is not None:
            if key not in sample_of:
                raise AnnotationError(f"{w}: image_id {key!r} is not in the annotation file")
            if label not in label_of:
                raise AnnotationError(f"{w}: category_id {label!r} is not in the annotation file")
            key, label = sample_of[key], label_of[label]
        labels, scores, boxes = grouped.setdefault(key, ([], [], []))
        labels.append(label)
        scores.append(float(score))
        x, y, bw, bh = (float(v) for v in bbox)
        boxes.append([x, y, x + bw, y + bh])
    return rows, {k: Detections(lab, s, boxes=np.asarray(b).reshape(-1, 4)) for k, (lab, s, b) in grouped.items()}


def read_coco_results(path: str | os.PathLike, dataset: CocoDataset | None = None) -> dict:
    """``{image_id or sample id: Detections}`` of a COCO results JSON (see :func:`load_coco_results`)."""
    return load_coco_results(path, dataset)[1]


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _label(label, classes) -> int:
    label = int(label)
    if not 0 <= label < len(classes):
        raise AnnotationError(f"class index {label} is outside the {len(classes)} classes")
    return label


def _xywh(box) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def _write_json(path: Path, data) -> Path:
    with atomic_output(path) as tmp:
        try:
            tmp.write_text(json.dumps(data), encoding="utf-8")
        except OSError as err:
            raise OutputError(f"cannot write {path}: {err.strerror or err}") from None
    return path
