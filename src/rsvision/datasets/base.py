"""What every reader returns: :class:`Sample` records in a :class:`Dataset`, plus shared helpers.

Targets follow the package contracts (docs/architecture.md), under these keys:

- ``label`` (int): scene class.
- ``boxes`` (N, 4) float64 ``xyxy``; ``rboxes`` (N, 5) float64 le90 ``cx, cy, w, h, angle``;
  ``polygons`` (N, 8) float64 corners as the file gives them; ``labels`` (N,) int64;
  ``difficult`` (N,) bool. Oriented readers give all three box keys (``boxes`` is the
  corners' envelope); horizontal readers give ``boxes``.
- ``mask``: the Path of a label raster, read lazily by :meth:`Dataset.load_mask`.
- ``captions`` list[str]; ``tokens`` list[list[str]].
- ``question``, ``answer``, ``type`` (str) for VQA; ``phrase`` (str) and ``boxes`` (1, 4) for grounding.

Images are paths (a tuple of two for change pairs); :meth:`Dataset.load_image` reads pixels.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rsvision.errors import AnnotationError, AnnotationWarning, InputNotFoundError
from rsvision.geometry.boxes import poly_area, poly_to_rbox, poly_to_xyxy
from rsvision.io.images import read_image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".jp2", ".webp")


@dataclass
class Sample:
    """One item of a dataset: an id, the image path(s), targets in the package contracts, and metadata."""

    id: str
    image: Path | tuple[Path, ...] | None
    targets: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def warn(message: str) -> None:
    """Emit an AnnotationWarning attributed to the first caller outside this package."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(0), 1  # level 1 is this function
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == package:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, AnnotationWarning, stacklevel=level)


class Issues:
    """Counts recoverable annotation problems and reports each kind once, as one summarised warning."""

    def __init__(self, source: str | os.PathLike):
        self.source = str(source)
        self.counts: Counter[str] = Counter()
        self._what: dict[str, str] = {}
        self._first: dict[str, str] = {}

    def add(self, kind: str, what: str, where: str, n: int = 1) -> None:
        """Count ``n`` problems of ``kind`` (``what`` describes them; ``where`` is the first file:line)."""
        if n <= 0:
            return
        self.counts[kind] += n
        self._what.setdefault(kind, what)
        self._first.setdefault(kind, where)

    def emit(self) -> dict[str, int]:
        """Warn once per kind and return the counts (kept as ``Dataset.issues``)."""
        for kind, n in self.counts.items():
            warn(f"{self.source}: {n} {self._what[kind]} (first: {self._first[kind]})")
        return dict(self.counts)


class Dataset(Sequence[Sample]):
    """Samples of one dataset, its class names and split; pixels are read on demand.

    ``issues`` holds the counts of problems that were repaired or skipped while reading
    (each kind was reported once with ``warnings.warn``).
    """

    format: ClassVar[str] = ""
    task: ClassVar[str] = ""

    def __init__(
        self,
        root: str | os.PathLike,
        samples: Sequence[Sample],
        classes: Sequence[str] = (),
        split: str | None = None,
        issues: dict[str, int] | None = None,
    ):
        self.root = Path(root)
        self.samples = list(samples)
        self.classes = tuple(classes)
        self.split = split
        self.issues = dict(issues or {})

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return self.subset(range(*index.indices(len(self))))
        return self.samples[index]

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __repr__(self) -> str:
        split = f", split={self.split!r}" if self.split else ""
        return f"{type(self).__name__}({str(self.root)!r}{split}, {len(self)} samples, {len(self.classes)} classes)"

    def subset(self, indices: Iterable[int]) -> Dataset:
        """A shallow copy holding only the samples at ``indices`` (in that order)."""
        out = copy.copy(self)
        out.samples = [self.samples[int(i)] for i in indices]
        return out

    def load_image(self, sample: Sample, which: int = 0) -> np.ndarray:
        """Pixels of the sample's image (``which`` picks the date of a change pair) as (C, H, W)."""
        path = sample.image[which] if isinstance(sample.image, tuple) else sample.image
        if path is None:
            raise InputNotFoundError(f"sample {sample.id} of {self.root} has no image")
        return read_image(path)

    def load_mask(self, sample: Sample) -> np.ndarray:
        """The sample's (H, W) label mask."""
        path = sample.targets.get("mask")
        if path is None:
            raise AnnotationError(f"sample {sample.id} of {self.root} has no mask")
        arr = read_image(path)
        if arr.shape[0] != 1:
            raise AnnotationError(
                f"{path}: a label mask must have one band, it has {arr.shape[0]} (colour masks: use color-mask)"
            )
        return arr[0]


# ----------------------------------------------------------------------------- files


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image(p))


def index_by_stem(folder: Path, recursive: bool = False) -> dict[str, Path]:
    """``{stem: path}`` of the images in ``folder``; the first in sorted order wins on a repeated stem."""
    files = sorted(folder.rglob("*") if recursive else folder.iterdir())
    out: dict[str, Path] = {}
    for p in files:
        if p.is_file() and is_image(p):
            out.setdefault(p.stem, p)
    return out


def require_dir(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"no such {what}: {path}")
    if not path.is_dir():
        raise AnnotationError(f"{path}: expected a folder ({what})")
    return path


def require_file(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"no such {what}: {path}")
    return path


def read_json(path: Path):
    """Parsed JSON of a file (UTF-8, BOM tolerated); invalid JSON is an AnnotationError naming the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AnnotationError(f"{path}: not valid JSON ({err})") from None


def read_lines(path: Path) -> list[str]:
    """Non-empty stripped lines of a text file (UTF-8, BOM tolerated)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_split_names(path: str | os.PathLike) -> list[str]:
    """Names listed one per line in a split file, first occurrence order, repeats dropped."""
    path = require_file(path, "split file")
    return list(dict.fromkeys(read_lines(path)))


def stratified_split(
    labels: Sequence[int] | np.ndarray, fraction: float = 0.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(first, second)``: per class, a seeded random ``fraction`` of the samples (rounded half
    up, but leaving one on each side when the class has two or more) goes to ``first`` and the rest to
    ``second``; both sorted."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    first: list[np.ndarray] = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        idx = idx[rng.permutation(len(idx))]
        k = int(np.floor(fraction * len(idx) + 0.5))
        if len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        first.append(idx[:k])
    a = np.sort(np.concatenate(first)) if first else np.array([], dtype=np.int64)
    b = np.setdiff1d(np.arange(len(labels)), a)
    return a.astype(np.int64), b.astype(np.int64)


def clip_boxes(boxes: np.ndarray, width: float, height: float, issues: Issues, where: Sequence[str]) -> np.ndarray:
    """Clip ``xyxy`` boxes to the image, counting the clipped ones; a box left without area is an error."""
    clipped = boxes.copy()
    np.clip(clipped[:, 0::2], 0, width, out=clipped[:, 0::2])
    np.clip(clipped[:, 1::2], 0, height, out=clipped[:, 1::2])
    changed = np.flatnonzero((clipped != boxes).any(axis=1))
    for i in changed:
        if clipped[i, 2] <= clipped[i, 0] or clipped[i, 3] <= clipped[i, 1]:
            raise AnnotationError(f"{where[i]}: box {boxes[i].tolist()} lies outside the {width:g} x {height:g} image")
    if len(changed):
        issues.add("clipped", "boxes reached outside the image and were clipped to it", where[changed[0]], len(changed))
    return clipped


def clip_polygons(
    polygons: np.ndarray, width: float, height: float, issues: Issues, where: Sequence[str]
) -> np.ndarray:
    """Clip corner coordinates to the image, counting the objects changed; no area left is an error."""
    clipped = polygons.copy()
    np.clip(clipped[:, 0::2], 0, width, out=clipped[:, 0::2])
    np.clip(clipped[:, 1::2], 0, height, out=clipped[:, 1::2])
    changed = np.flatnonzero((clipped != polygons).any(axis=1))
    if len(changed):
        area = poly_area(clipped[changed])
        for i, a in zip(changed, area):
            if a <= 0:
                raise AnnotationError(
                    f"{where[i]}: polygon {polygons[i].tolist()} lies outside the {width:g} x {height:g} image"
                )
        issues.add(
            "clipped", "objects had corners outside the image and were clipped to it", where[changed[0]], len(changed)
        )
    return clipped


def oriented_targets(
    polygons: np.ndarray, labels: Sequence[int], difficult: Sequence[bool], where: Sequence[str]
) -> dict:
    """``polygons``, le90 ``rboxes`` (minimum-area rectangles), envelope ``boxes``, ``labels`` and ``difficult``."""
    polygons = np.asarray(polygons, dtype=np.float64).reshape(-1, 8)
    if len(polygons):
        rboxes = poly_to_rbox(polygons)
        flat = np.flatnonzero((rboxes[:, 2] <= 0) | (rboxes[:, 3] <= 0))
        if len(flat):
            i = flat[0]
            raise AnnotationError(f"{where[i]}: degenerate polygon {polygons[i].tolist()} (no area)")
        boxes = poly_to_xyxy(polygons)
    else:
        rboxes, boxes = np.zeros((0, 5)), np.zeros((0, 4))
    return {
        "boxes": boxes,
        "rboxes": rboxes,
        "polygons": polygons,
        "labels": np.asarray(labels, dtype=np.int64).reshape(-1),
        "difficult": np.asarray(difficult, dtype=bool).reshape(-1),
    }


def horizontal_targets(
    boxes: np.ndarray,
    labels: Sequence[int],
    difficult: Sequence[bool],
    where: Sequence[str],
    issues: Issues | None = None,
) -> dict:
    """``boxes``, ``labels`` and ``difficult``. An inverted box (xmax < xmin or ymax < ymin: swapped corners, a
    misread file) is refused; a box of zero width or height, which no detection can match and a detector's loss
    refuses, is dropped and counted in ``issues`` (refused when a reader keeps no issues)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    inverted = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    flat = ~inverted & ((boxes[:, 2] == boxes[:, 0]) | (boxes[:, 3] == boxes[:, 1]))
    bad = np.flatnonzero(inverted | flat if issues is None else inverted)
    if len(bad):
        i = bad[0]
        raise AnnotationError(f"{where[i]}: degenerate box {boxes[i].tolist()} (xmax <= xmin or ymax <= ymin)")
    targets = {
        "boxes": boxes,
        "labels": np.asarray(labels, dtype=np.int64).reshape(-1),
        "difficult": np.asarray(difficult, dtype=bool).reshape(-1),
    }
    return drop_boxes(targets, flat, issues, where) if flat.any() else targets


def clip_xyxy(boxes: np.ndarray, width: float, height: float, issues: Issues, where: Sequence[str]) -> np.ndarray:
    """``xyxy`` boxes clipped to the image, those clipped that keep an area counted; those left without one (wholly
    outside) are for :func:`horizontal_targets` to drop and count, with their labels."""
    clipped = boxes.copy()
    np.clip(clipped[:, 0::2], 0, width, out=clipped[:, 0::2])
    np.clip(clipped[:, 1::2], 0, height, out=clipped[:, 1::2])
    empty = (clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1])
    changed = np.flatnonzero((clipped != boxes).any(axis=1) & ~empty)
    if len(changed):
        issues.add("clipped", "boxes reached outside the image and were clipped to it", where[changed[0]], len(changed))
    return clipped


def drop_boxes(targets: dict, drop: np.ndarray, issues: Issues, where: Sequence[str]) -> dict:
    """``targets`` without the objects ``drop`` marks (every per-object array), counted as boxes without area."""
    first = int(np.flatnonzero(drop)[0])
    issues.add(
        "no_area",
        "boxes had no area in the image (zero width or height) and were dropped",
        where[first],
        int(drop.sum()),
    )
    n = len(drop)
    return {k: v[~drop] if isinstance(v, np.ndarray) and len(v) == n else v for k, v in targets.items()}


class ClassIndex:
    """Class name -> index. With a fixed list a name matches exactly, else case-insensitively (DIOR and
    DIOR-R spell ``Expressway-Service-area`` differently), and an unknown name is an error naming it and
    the file; without a list, classes are collected in order of first appearance (then sorted)."""

    def __init__(self, classes: Sequence[str] | None):
        self.fixed = classes is not None
        self.names: list[str] = list(classes) if classes is not None else []
        self._index = {c: i for i, c in enumerate(self.names)}
        if len(self._index) != len(self.names):
            raise AnnotationError(f"class list has repeated names: {self.names}")
        folded: dict[str, list[int]] = {}
        for i, c in enumerate(self.names):
            folded.setdefault(c.casefold(), []).append(i)
        self._folded = {k: v[0] for k, v in folded.items() if len(v) == 1}

    def __call__(self, name: str, where: str) -> int:
        i = self._index.get(name)
        if i is None and self.fixed:
            i = self._folded.get(name.casefold())
        if i is None:
            if self.fixed:
                raise AnnotationError(f"{where}: unknown class {name!r}; known classes: {', '.join(self.names)}")
            i = self._index[name] = len(self.names)
            self.names.append(name)
        return i

    def sorted_remap(self) -> tuple[list[str], np.ndarray]:
        """Collected classes sorted by name and the old -> new index map (identity for a fixed list)."""
        if self.fixed:
            return self.names, np.arange(len(self.names))
        order = sorted(range(len(self.names)), key=lambda i: self.names[i])
        remap = np.empty(len(order), dtype=np.int64)
        remap[order] = np.arange(len(order))
        return [self.names[i] for i in order], remap


def remap_labels(samples: Sequence[Sample], remap: np.ndarray) -> None:
    """Apply an old -> new class index map to every sample's ``labels`` / ``label``."""
    for s in samples:
        if "labels" in s.targets and len(s.targets["labels"]):
            s.targets["labels"] = remap[s.targets["labels"]]
        if "label" in s.targets:
            s.targets["label"] = int(remap[s.targets["label"]])


def boxes_in_window(boxes: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the xyxy boxes whose centre lies in the window [x0, x1) x [y0, y1), and those boxes clipped to it
    and shifted to its pixels (a box belongs to the crop that holds its centre)."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    index = np.flatnonzero((cx >= x0) & (cx < x1) & (cy >= y0) & (cy < y1))
    kept = boxes[index].copy()
    kept[:, [0, 2]] = np.clip(kept[:, [0, 2]], x0, x1) - x0
    kept[:, [1, 3]] = np.clip(kept[:, [1, 3]], y0, y1) - y0
    return index, kept
