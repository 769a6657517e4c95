"""XML box annotations: Pascal VOC (DIOR horizontal, NEON trees), DIOR-R oriented boxes and HRSC2016.

Layouts found under ``root``: ``Annotations/`` (or DIOR's ``Annotations/Horizontal Bounding Boxes``,
``Annotations/Oriented Bounding Boxes``, HRSC's ``FullDataSet/Annotations``) or XML files in ``root``
itself; images by the XML's file name in ``JPEGImages*``/``JPEGImage``/``AllImages``/``images`` or
beside the XML. ``split`` names a list of image ids in ``ImageSets/Main/<split>.txt``,
``ImageSets/<split>.txt`` or ``<split>.txt``; ``split_file`` gives one directly.

Box values are kept as the files give them (VOC's 1-based corners are not shifted). Horizontal boxes and
DIOR-R corners reaching outside the image are clipped to it (counted warning); a box left without area,
or given without area, is an error naming the file and object. HRSC rotated boxes are kept as given:
they are parametric, and ships at the border legitimately reach past it.
An unknown class name is an error when ``classes`` is given; otherwise the classes are the sorted
names found.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rsvision.core.files import atomic_output
from rsvision.datasets.base import (
    ClassIndex,
    Dataset,
    Issues,
    Sample,
    clip_polygons,
    clip_xyxy,
    horizontal_targets,
    index_by_stem,
    oriented_targets,
    read_split_names,
    remap_labels,
)
from rsvision.datasets.xml import flag, number, parse_xml, text
from rsvision.errors import AnnotationError, InputNotFoundError
from rsvision.geometry.boxes import normalize_rbox, rbox_to_poly
from rsvision.io.images import image_size

_IMAGE_DIRS = ("JPEGImages", "JPEGImages-trainval", "JPEGImages-test", "JPEGImage", "AllImages", "images", "Images")
_CORNERS = ("x_left_top", "y_left_top", "x_right_top", "y_right_top",
            "x_right_bottom", "y_right_bottom", "x_left_bottom", "y_left_bottom")  # fmt: skip


class _XmlDataset(Dataset):
    """Shared layout handling; subclasses turn one parsed XML file into a Sample."""

    task = "detection"
    oriented = False
    _ann_dirs: tuple[str, ...] = ("Annotations",)
    _clip = True

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = None,
        split_file: str | os.PathLike | None = None,
        classes: Sequence[str] | None = None,
        images: str | os.PathLike | None = None,
        clip: bool | None = None,
    ):
        root = Path(root)
        if not root.exists():
            raise InputNotFoundError(f"no such annotation folder or file: {root}")
        if root.is_file():
            ann_files, ann_dir, base = [root], root.parent, root.parent
        else:
            base = root
            ann_dir = next((root / d for d in self._ann_dirs if (root / d).is_dir()), root)
            ann_files = sorted(p for p in ann_dir.iterdir() if p.suffix.lower() == ".xml" and p.is_file())
            if split is not None or split_file is not None:
                ann_files = self._select(root, ann_dir, ann_files, split, split_file)
        if not ann_files:
            raise AnnotationError(f"{root}: no XML annotation files in {ann_dir}")
        image_dirs = (
            [Path(images)] if images else [base / d for d in _IMAGE_DIRS if (base / d).is_dir()] + [ann_dir, base]
        )
        self._image_index: dict[str, Path] = {}
        for d in reversed(image_dirs):
            self._image_index.update(index_by_stem(d))
        self._issues = Issues(root)
        self._names = ClassIndex(classes)
        self._do_clip = self._clip if clip is None else clip
        samples = [self._read(p) for p in ann_files]
        names, remap = self._names.sorted_remap()
        remap_labels(samples, remap)
        super().__init__(root, samples, names, split, self._issues.emit())

    def _select(self, root: Path, ann_dir: Path, files: list[Path], split, split_file) -> list[Path]:
        if split_file is None:
            candidates = [
                root / "ImageSets" / "Main" / f"{split}.txt",
                root / "ImageSets" / f"{split}.txt",
                root / f"{split}.txt",
            ]
            split_file = next((c for c in candidates if c.is_file()), None)
            if split_file is None:
                raise InputNotFoundError(
                    f"{root}: no list for split {split!r} (tried {', '.join(map(str, candidates))})"
                )
        by_stem = {p.stem: p for p in files}
        ids = [line.split()[0] for line in read_split_names(split_file)]
        missing = [i for i in ids if Path(i).stem not in by_stem]
        if missing:
            raise AnnotationError(
                f"{split_file}: {len(missing)} listed ids have no XML in {ann_dir} (first: {missing[0]})"
            )
        return [by_stem[Path(i).stem] for i in ids]

    def _image(self, filename: str, path: Path) -> Path | None:
        stem = Path(filename).stem if filename else path.stem
        found = self._image_index.get(stem)
        if found is None:
            self._issues.add("no_image", "annotation files have no image beside them (kept, without pixels)", str(path))
        return found

    def _size(
        self, root_elem: ET.Element, path: Path, image: Path | None, wtag: str, htag: str
    ) -> tuple[float, float] | None:
        w = number(root_elem, wtag, path, default=0)
        h = number(root_elem, htag, path, default=0)
        if (w <= 0 or h <= 0) and image is not None:
            w, h = image_size(image)
        return (w, h) if w > 0 and h > 0 else None

    @abstractmethod
    def _read(self, path: Path) -> Sample:
        """One annotation file -> its sample."""


class VocDataset(_XmlDataset):
    """Pascal VOC XML with ``<object><name>`` and ``<bndbox>`` (DIOR horizontal, NEON trees)."""

    format = "voc"
    _ann_dirs = ("Annotations/Horizontal Bounding Boxes", "Annotations")

    def _read(self, path: Path) -> Sample:
        root = parse_xml(path)
        if root.tag != "annotation":
            raise AnnotationError(f"{path}: root element is <{root.tag}>, expected <annotation> (Pascal VOC)")
        image = self._image(text(root, "filename", path, default=""), path)
        size = self._size(root, path, image, "size/width", "size/height")
        boxes, labels, difficult, where = [], [], [], []
        for k, obj in enumerate(root.iter("object")):
            w = f"{path}: object {k + 1}"
            bb = obj.find("bndbox")
            if bb is None:
                raise AnnotationError(f"{w} has no <bndbox>")
            boxes.append([number(bb, t, path) for t in ("xmin", "ymin", "xmax", "ymax")])
            labels.append(self._names(text(obj, "name", path), w))
            difficult.append(flag(obj, "difficult", path))
            where.append(w)
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if size is not None and self._do_clip and len(b):
            b = clip_xyxy(b, *size, self._issues, where)
        targets = horizontal_targets(b, labels, difficult, where, self._issues)
        return Sample(path.stem, image, targets, _meta(size, path))


class DiorRDataset(_XmlDataset):
    """DIOR-R XML: ``<robndbox>`` with four named corners per object (``<bndbox>`` objects become rectangles)."""

    format = "dior-r"
    oriented = True
    _ann_dirs = ("Annotations/Oriented Bounding Boxes", "Annotations")

    def _read(self, path: Path) -> Sample:
        root = parse_xml(path)
        if root.tag != "annotation":
            raise AnnotationError(f"{path}: root element is <{root.tag}>, expected <annotation> (DIOR-R)")
        image = self._image(text(root, "filename", path, default=""), path)
        size = self._size(root, path, image, "size/width", "size/height")
        polys, labels, difficult, where = [], [], [], []
        for k, obj in enumerate(root.iter("object")):
            w = f"{path}: object {k + 1}"
            rb, bb = obj.find("robndbox"), obj.find("bndbox")
            if rb is not None:
                polys.append([number(rb, t, path) for t in _CORNERS])
            elif bb is not None:
                x1, y1, x2, y2 = (number(bb, t, path) for t in ("xmin", "ymin", "xmax", "ymax"))
                polys.append([x1, y1, x2, y1, x2, y2, x1, y2])
            else:
                raise AnnotationError(f"{w} has neither <robndbox> nor <bndbox>")
            labels.append(self._names(text(obj, "name", path), w))
            difficult.append(flag(obj, "difficult", path))
            where.append(w)
        p = np.asarray(polys, dtype=np.float64).reshape(-1, 8)
        if size is not None and self._do_clip and len(p):
            p = clip_polygons(p, *size, self._issues, where)
        return Sample(path.stem, image, oriented_targets(p, labels, difficult, where), _meta(size, path))


class HrscDataset(_XmlDataset):
    """HRSC2016 XML: ``HRSC_Object`` with ``mbox_cx, mbox_cy, mbox_w, mbox_h, mbox_ang`` (radians, y down).

    The task-L1 class list is ``("ship",)``; each object's HRSC ``Class_ID`` is kept in ``targets["class_ids"]``.
    """

    format = "hrsc"
    oriented = True
    _ann_dirs = ("FullDataSet/Annotations", "Annotations")
    _clip = False

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = None,
        split_file: str | os.PathLike | None = None,
        classes: Sequence[str] | None = ("ship",),
        images: str | os.PathLike | None = None,
        clip: bool | None = None,
    ):
        if classes is not None and len(classes) != 1:
            raise AnnotationError(f"HRSC2016 is read as one class (task L1); got classes {list(classes)}")
        if images is None and Path(root, "FullDataSet", "AllImages").is_dir():
            images = Path(root, "FullDataSet", "AllImages")
        super().__init__(root, split, split_file, classes or ("ship",), images, clip)

    def _read(self, path: Path) -> Sample:
        root = parse_xml(path)
        if root.tag != "HRSC_Image":
            raise AnnotationError(f"{path}: root element is <{root.tag}>, expected <HRSC_Image> (HRSC2016)")
        name = text(root, "Img_FileName", path, default=path.stem)
        image = self._image(name, path)
        size = self._size(root, path, image, "Img_SizeWidth", "Img_SizeHeight")
        rboxes, class_ids, difficult, where = [], [], [], []
        for k, obj in enumerate(root.iter("HRSC_Object")):
            w = f"{path}: HRSC_Object {k + 1}"
            r = [number(obj, t, path) for t in ("mbox_cx", "mbox_cy", "mbox_w", "mbox_h", "mbox_ang")]
            if not all(map(math.isfinite, r)) or r[2] <= 0 or r[3] <= 0:
                raise AnnotationError(f"{w}: degenerate rotated box {r}")
            rboxes.append(r)
            class_ids.append(int(number(obj, "Class_ID", path, default=0)))
            difficult.append(flag(obj, "difficult", path))
            where.append(w)
        rb = normalize_rbox(np.asarray(rboxes, dtype=np.float64).reshape(-1, 5))
        p = rbox_to_poly(rb).reshape(-1, 8)
        if size is not None and self._do_clip and len(p):
            p = clip_polygons(p, *size, self._issues, where)
            targets = oriented_targets(p, np.zeros(len(p)), difficult, where)
        else:
            targets = oriented_targets(p, np.zeros(len(p)), difficult, where)
            targets["rboxes"] = rb  # exactly the file's boxes, not recomputed from corners
        targets["class_ids"] = np.asarray(class_ids, dtype=np.int64)
        return Sample(path.stem, image, targets, _meta(size, path))


def _meta(size: tuple[float, float] | None, path: Path) -> dict:
    meta = {"annotation": path}
    if size is not None:
        meta["width"], meta["height"] = int(size[0]), int(size[1])
    return meta


def write_voc(path: str | os.PathLike, image_name: str, size: tuple[int, int], boxes, names: Sequence[str]) -> Path:
    """A Pascal VOC XML for one image: ``size`` (width, height), xyxy ``boxes`` and their class ``names``
    (written whole under a temporary name, then renamed)."""
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = image_name
    box_size = ET.SubElement(root, "size")
    for tag, value in zip(("width", "height", "depth"), (*size, 3)):
        ET.SubElement(box_size, tag).text = str(int(value))
    for box, name in zip(np.asarray(boxes, dtype=float).reshape(-1, 4), names):
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = name
        ET.SubElement(obj, "difficult").text = "0"
        bb = ET.SubElement(obj, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), box):
            ET.SubElement(bb, tag).text = f"{value:g}"
    ET.indent(root)
    with atomic_output(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="unicode")
    return Path(path)
