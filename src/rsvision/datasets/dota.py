"""DOTA ``labelTxt``: reader and writer, and the task-1 result files ``Task1_<class>.txt`` (writer and reader).

labelTxt: optional ``imagesource:X`` and ``gsd:G`` header lines, then one object per line,
``x1 y1 x2 y2 x3 y3 x4 y4 class [difficult]`` (difficult 0 when absent, as in the DOTA devkit). A file with
no objects is valid. Layout: ``root/labelTxt/*.txt`` with images in ``root/images/`` (or ``split`` as a
subfolder: ``root/<split>/labelTxt``). Corners outside a known image size are clipped (counted warning).
An unknown class name is an error when ``classes`` is given.

Task 1 results: one file per class, lines ``imgname score x1 y1 x2 y2 x3 y3 x4 y4``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from rsvision.core.files import atomic_output
from rsvision.datasets.base import (
    ClassIndex,
    Dataset,
    Issues,
    Sample,
    clip_polygons,
    index_by_stem,
    oriented_targets,
    read_split_names,
    remap_labels,
    require_dir,
)
from rsvision.errors import AnnotationError, InputNotFoundError, OutputError
from rsvision.geometry import Detections
from rsvision.io.images import image_size

DOTA_V1_CLASSES = (
    "plane", "ship", "storage-tank", "baseball-diamond", "tennis-court", "basketball-court",
    "ground-track-field", "harbor", "bridge", "large-vehicle", "small-vehicle", "helicopter",
    "roundabout", "soccer-ball-field", "swimming-pool",
)  # fmt: skip
DOTA_V15_CLASSES = (*DOTA_V1_CLASSES, "container-crane")


def parse_labeltxt(path: Path, classes: ClassIndex) -> tuple[dict, list[np.ndarray], list[int], list[bool], list[str]]:
    """Header fields and per-object corners, class indices, difficult flags and ``file:line`` of one labelTxt."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    header: dict = {}
    polys, labels, difficult, where = [], [], [], []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        if sep and key in ("imagesource", "gsd"):
            value = value.strip()
            if key == "gsd":
                try:
                    header["gsd"] = None if value.lower() in ("", "null", "none") else float(value)
                except ValueError:
                    raise AnnotationError(f"{path}:{n}: gsd is not a number: {value!r}") from None
            else:
                header["imagesource"] = value
            continue
        parts = line.split()
        if len(parts) not in (9, 10):
            raise AnnotationError(f"{path}:{n}: expected 'x1 y1 x2 y2 x3 y3 x4 y4 class [difficult]', got {line!r}")
        try:
            coords = [float(v) for v in parts[:8]]
            diff = int(parts[9]) if len(parts) == 10 else 0
        except ValueError:
            raise AnnotationError(f"{path}:{n}: non-numeric coordinates or difficult flag in {line!r}") from None
        if not all(map(math.isfinite, coords)):
            raise AnnotationError(f"{path}:{n}: non-finite coordinates in {line!r}")
        where.append(f"{path}:{n}")
        polys.append(coords)
        labels.append(classes(parts[8], where[-1]))
        difficult.append(diff != 0)
    return header, polys, labels, difficult, where


class DotaDataset(Dataset):
    """DOTA labelTxt files with images beside them; oriented targets (``polygons``, le90 ``rboxes``, ``boxes``).

    ``meta`` holds ``imagesource`` and ``gsd`` from the headers, and the image size where the image exists.
    """

    format = "dota"
    task = "detection"
    oriented = True

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = None,
        classes: Sequence[str] | None = None,
        images: str | os.PathLike | None = None,
        split_file: str | os.PathLike | None = None,
        clip: bool = True,
    ):
        root = require_dir(root, "DOTA folder")
        base = root / split if split is not None and (root / split / "labelTxt").is_dir() else root
        label_dir = base / "labelTxt" if (base / "labelTxt").is_dir() else base
        files = sorted(p for p in label_dir.iterdir() if p.suffix == ".txt" and p.is_file())
        if split_file is not None or (split is not None and base is root):
            files = self._select(root, files, split, split_file)
        if not files:
            raise AnnotationError(f"{root}: no labelTxt files in {label_dir}")
        image_dir = (
            Path(images) if images else next((base / d for d in ("images", "JPEGImages") if (base / d).is_dir()), base)
        )
        image_index = index_by_stem(image_dir) if image_dir.is_dir() else {}
        names = ClassIndex(classes)
        issues = Issues(root)
        samples = []
        for path in files:
            header, polys, labels, difficult, where = parse_labeltxt(path, names)
            p = np.asarray(polys, dtype=np.float64).reshape(-1, 8)
            image = image_index.get(path.stem)
            meta: dict = {"annotation": path, **header}
            if image is not None:
                meta["width"], meta["height"] = image_size(image)
                if clip and len(p):
                    p = clip_polygons(p, meta["width"], meta["height"], issues, where)
            else:
                issues.add("no_image", "label files have no image (kept, without pixels or clipping)", str(path))
            samples.append(Sample(path.stem, image, oriented_targets(p, labels, difficult, where), meta))
        class_names, remap = names.sorted_remap()
        remap_labels(samples, remap)
        super().__init__(root, samples, class_names, split, issues.emit())

    @staticmethod
    def _select(root: Path, files: list[Path], split, split_file) -> list[Path]:
        if split_file is None:
            split_file = root / f"{split}.txt"
            if not split_file.is_file():
                raise InputNotFoundError(f"{root}: no {split}/labelTxt folder and no list {split_file}")
        by_stem = {p.stem: p for p in files}
        ids = [Path(line.split()[0]).stem for line in read_split_names(split_file)]
        missing = [i for i in ids if i not in by_stem]
        if missing:
            raise AnnotationError(
                f"{split_file}: {len(missing)} listed ids have no labelTxt file (first: {missing[0]})"
            )
        return [by_stem[i] for i in ids]


# ----------------------------------------------------------------------------- writers


def _fmt(values) -> str:
    return " ".join(repr(float(v)) for v in values)


def write_labeltxt(
    folder: str | os.PathLike,
    samples: Sequence[Sample] | Dataset,
    classes: Sequence[str] | None = None,
) -> list[Path]:
    """One ``<id>.txt`` per sample in ``folder``: ``imagesource``/``gsd`` headers from ``meta`` when present,
    then ``x1 y1 .. x4 y4 class difficult`` per object (polygons, else rotated boxes, else boxes)."""
    if classes is None:
        classes = getattr(samples, "classes", None)
    if not classes:
        raise AnnotationError("write_labeltxt needs the class names")
    folder = _out_dir(folder)
    written = []
    for s in samples:
        t = s.targets
        dets = Detections(t["labels"], np.zeros(len(t["labels"])), t.get("boxes"), t.get("rboxes"), t.get("polygons"))
        diff = np.asarray(t.get("difficult", np.zeros(len(dets), bool)), dtype=bool)
        lines = []
        if "imagesource" in s.meta:
            lines.append(f"imagesource:{s.meta['imagesource']}")
        if "gsd" in s.meta:
            lines.append(f"gsd:{'null' if s.meta['gsd'] is None else repr(float(s.meta['gsd']))}")
        for poly, label, d in zip(dets.as_polygons(), dets.labels, diff):
            lines.append(f"{_fmt(poly)} {_class_name(classes, label)} {int(d)}")
        written.append(_write_text(folder / f"{s.id}.txt", lines))
    return written


def write_task1(folder: str | os.PathLike, detections: Mapping[str, Detections], classes: Sequence[str]) -> list[Path]:
    """DOTA task-1 results: ``Task1_<class>.txt`` for every class (empty when it has no detections),
    lines ``imgname score x1 y1 .. x4 y4`` sorted by image then descending score."""
    folder = _out_dir(folder)
    per_class: list[list[str]] = [[] for _ in classes]
    for image_id in sorted(detections):
        dets = detections[image_id]
        if " " in image_id:
            raise AnnotationError(f"task-1 image names cannot contain spaces: {image_id!r}")
        polys = dets.as_polygons()
        for i in np.argsort(-dets.scores, kind="stable"):
            per_class[_check_label(classes, dets.labels[i])].append(
                f"{image_id} {float(dets.scores[i])!r} {_fmt(polys[i])}"
            )
    return [_write_text(folder / f"Task1_{name}.txt", lines) for name, lines in zip(classes, per_class)]


def read_task1(
    folder: str | os.PathLike, classes: Sequence[str] | None = None
) -> tuple[dict[str, Detections], list[str]]:
    """Read ``Task1_<class>.txt`` files -> (``{image id: Detections}``, class names).

    With ``classes`` the labels index that list and a file of another class is an error; without, the
    classes are the sorted names of the files.
    """
    folder = require_dir(folder, "task-1 result folder")
    files = sorted(folder.glob("Task1_*.txt"))
    if not files:
        raise AnnotationError(f"{folder}: no Task1_<class>.txt files")
    found = [p.stem[len("Task1_") :] for p in files]
    if classes is None:
        classes = sorted(found)
    index = {c: i for i, c in enumerate(classes)}
    rows: dict[str, tuple[list, list, list]] = {}
    for path, name in zip(files, found):
        if name not in index:
            raise AnnotationError(f"{path}: unknown class {name!r}; known classes: {', '.join(classes)}")
        for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 10:
                raise AnnotationError(
                    f"{path}:{n}: expected 'imgname score x1 y1 x2 y2 x3 y3 x4 y4', got {line.strip()!r}"
                )
            try:
                values = [float(v) for v in parts[1:]]
            except ValueError:
                raise AnnotationError(f"{path}:{n}: non-numeric score or coordinates in {line.strip()!r}") from None
            if not all(map(math.isfinite, values)):
                raise AnnotationError(f"{path}:{n}: non-finite values in {line.strip()!r}")
            labels, scores, polys = rows.setdefault(parts[0], ([], [], []))
            labels.append(index[name])
            scores.append(values[0])
            polys.append(values[1:])
    out = {k: Detections(lab, s, polygons=np.asarray(p).reshape(-1, 8)) for k, (lab, s, p) in sorted(rows.items())}
    return out, list(classes)


def _class_name(classes: Sequence[str], label) -> str:
    name = classes[_check_label(classes, label)]
    if any(c.isspace() for c in name):
        raise AnnotationError(f"DOTA class names cannot contain spaces: {name!r}")
    return name


def _check_label(classes: Sequence[str], label) -> int:
    label = int(label)
    if not 0 <= label < len(classes):
        raise AnnotationError(f"class index {label} is outside the {len(classes)} classes")
    return label


def _out_dir(folder: str | os.PathLike) -> Path:
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create {folder}: {err.strerror or err}") from None
    return folder


def _write_text(path: Path, lines: list[str]) -> Path:
    """Write beside the target and rename, so a reader never sees half a file."""
    with atomic_output(path) as tmp:
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path
