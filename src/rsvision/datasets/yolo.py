"""YOLO text labels: ``class cx cy w h`` (detection) and ``class x1 y1 x2 y2 x3 y3 x4 y4`` (YOLO-OBB),
normalised to [0, 1] by the image size (read from the image header).

Layout (Ultralytics): ``root/images/<split>/*`` and ``root/labels/<split>/*.txt``; without ``split`` every
subfolder of ``images`` is read (or ``images/`` and ``labels/`` directly). Class names: ``classes``, else
``classes.txt`` or the ``names`` of a dataset YAML in ``root``, else the indices as strings. A class
index outside a known class list is an error naming file and line. Values outside [0, 1] are clipped
(counted warning); an image without a label file has no objects.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from rsvision.datasets.base import (
    Dataset,
    Issues,
    Sample,
    horizontal_targets,
    list_images,
    oriented_targets,
    read_lines,
    require_dir,
)
from rsvision.errors import AnnotationError
from rsvision.io.images import image_size


def yolo_class_names(root: Path) -> list[str] | None:
    """Class names from ``classes.txt`` or a dataset YAML's ``names`` (list or {index: name}) in ``root``."""
    if (root / "classes.txt").is_file():
        return read_lines(root / "classes.txt")
    for yml in sorted(root.glob("*.yaml")) + sorted(root.glob("*.yml")):
        try:
            data = yaml.safe_load(yml.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise AnnotationError(f"{yml}: invalid YAML ({str(err).splitlines()[0]})") from None
        names = data.get("names") if isinstance(data, dict) else None
        if isinstance(names, dict):
            return [str(names[k]) for k in sorted(names, key=int)]
        if isinstance(names, list):
            return [str(n) for n in names]
    return None


class YoloDataset(Dataset):
    """YOLO (``oriented=False``) or YOLO-OBB (``oriented=True``) labels in pixel targets of the contracts."""

    task = "detection"

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = None,
        classes: Sequence[str] | None = None,
        oriented: bool | None = None,
    ):
        root = require_dir(root, "YOLO folder")
        images_root, labels_root = root / "images", root / "labels"
        if not images_root.is_dir() or not labels_root.is_dir():
            raise AnnotationError(f"{root}: a YOLO dataset needs images/ and labels/ folders")
        if split is not None:
            pairs = [(require_dir(images_root / split, f"images of split {split!r}"), labels_root / split)]
        else:
            subdirs = sorted(p.name for p in images_root.iterdir() if p.is_dir())
            pairs = [(images_root / d, labels_root / d) for d in subdirs] or [(images_root, labels_root)]
        if classes is None:
            classes = yolo_class_names(root)
        self.oriented = oriented
        issues = Issues(root)
        samples, max_label = [], -1
        for image_dir, label_dir in pairs:
            for image in list_images(image_dir):
                sample = self._read(image, label_dir / f"{image.stem}.txt", classes, issues)
                samples.append(sample)
                if len(sample.targets["labels"]):
                    max_label = max(max_label, int(sample.targets["labels"].max()))
        if not samples:
            raise AnnotationError(f"{root}: no images under {images_root}")
        if classes is None:
            classes = [str(i) for i in range(max_label + 1)]
        super().__init__(root, samples, classes, split, issues.emit())

    @property
    def format(self) -> str:  # type: ignore[override]
        return "yolo-obb" if self.oriented else "yolo"

    def _read(self, image: Path, label: Path, classes, issues: Issues) -> Sample:
        width, height = image_size(image)
        rows, labels, where = [], [], []
        lines = label.read_text(encoding="utf-8-sig").splitlines() if label.is_file() else []
        for n, line in enumerate(lines, 1):
            parts = line.split()
            if not parts:
                continue
            w = f"{label}:{n}"
            if self.oriented is None:
                if len(parts) not in (5, 9):
                    raise AnnotationError(f"{w}: expected 5 (YOLO) or 9 (YOLO-OBB) values, got {len(parts)}")
                self.oriented = len(parts) == 9
            expected = 9 if self.oriented else 5
            if len(parts) != expected:
                kind = "class x1 y1 x2 y2 x3 y3 x4 y4" if self.oriented else "class cx cy w h"
                raise AnnotationError(f"{w}: expected '{kind}' ({expected} values), got {len(parts)}: {line.strip()!r}")
            try:
                cls = int(parts[0])
                values = [float(v) for v in parts[1:]]
            except ValueError:
                raise AnnotationError(f"{w}: non-numeric values in {line.strip()!r}") from None
            if cls < 0 or (classes is not None and cls >= len(classes)):
                n_cls = "" if classes is None else f" of {len(classes)} classes"
                raise AnnotationError(f"{w}: class index {cls} is out of range{n_cls}")
            if not all(map(math.isfinite, values)):
                raise AnnotationError(f"{w}: non-finite values in {line.strip()!r}")
            rows.append(values)
            labels.append(cls)
            where.append(w)
        k = 8 if self.oriented else 4
        v = np.asarray(rows, dtype=np.float64).reshape(-1, k)
        if not self.oriented:  # centre/size -> corners, still normalised
            v = np.stack(
                [v[:, 0] - v[:, 2] / 2, v[:, 1] - v[:, 3] / 2, v[:, 0] + v[:, 2] / 2, v[:, 1] + v[:, 3] / 2], axis=1
            )
        clipped = np.clip(v, 0.0, 1.0)
        changed = np.flatnonzero((clipped != v).any(axis=1))
        if len(changed):
            issues.add(
                "clipped",
                "objects had normalised values outside [0, 1] and were clipped",
                where[changed[0]],
                len(changed),
            )
        scale = np.tile([width, height], k // 2)
        pixels = clipped * scale
        difficult = np.zeros(len(labels), dtype=bool)
        if self.oriented:
            targets = oriented_targets(pixels, labels, difficult, where)
        else:
            targets = horizontal_targets(pixels, labels, difficult, where, issues)
        return Sample(image.stem, image, targets, {"width": width, "height": height, "annotation": label})
