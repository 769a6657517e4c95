"""Visual grounding XML (RSVG / DIOR-RSVG): VOC-like files whose objects carry a ``<description>``.

One sample per described object: ``targets = {"phrase", "boxes" (1, 4) xyxy, "labels" (1,)}``,
id ``<xml stem>_<k>`` (k counts the file's objects from 0). Layout: ``root/Annotations/*.xml``,
images in ``root/JPEGImages`` (or ``images=``). DIOR-RSVG's ``<split>.txt`` beside ``Annotations``
lists object indices, counting every object of the XML files in numeric file order from 0; ``split``
selects them. Boxes outside the image are clipped (counted warning).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rsvision.datasets.base import (
    ClassIndex,
    Dataset,
    Issues,
    Sample,
    clip_boxes,
    horizontal_targets,
    index_by_stem,
    read_split_names,
    remap_labels,
    require_dir,
)
from rsvision.datasets.xml import number, parse_xml, text
from rsvision.errors import AnnotationError, InputNotFoundError
from rsvision.io.images import image_size


def _numeric_key(p: Path):
    return (0, int(p.stem), p.stem) if p.stem.isdigit() else (1, 0, p.stem)


class RsvgDataset(Dataset):
    """Referring expressions with one box each; ``classes`` are the object names (sorted unless given)."""

    format = "rsvg"
    task = "grounding"

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = None,
        images: str | os.PathLike | None = None,
        classes: Sequence[str] | None = None,
        split_file: str | os.PathLike | None = None,
    ):
        root = require_dir(root, "RSVG folder")
        ann_dir = root / "Annotations" if (root / "Annotations").is_dir() else root
        files = sorted((p for p in ann_dir.iterdir() if p.suffix.lower() == ".xml"), key=_numeric_key)
        if not files:
            raise AnnotationError(f"{root}: no XML files in {ann_dir}")
        wanted = None
        if split is not None or split_file is not None:
            split_file = Path(split_file) if split_file else root / f"{split}.txt"
            if not split_file.is_file():
                raise InputNotFoundError(f"{root}: no object index list {split_file} for split {split!r}")
            try:
                wanted = {int(v) for v in read_split_names(split_file)}
            except ValueError:
                raise AnnotationError(f"{split_file}: expected one object index (integer) per line") from None
        image_dir = (
            Path(images)
            if images
            else next((root / d for d in ("JPEGImages", "JPEGImage", "images") if (root / d).is_dir()), ann_dir)
        )
        image_index = index_by_stem(image_dir) if image_dir.is_dir() else {}
        names = ClassIndex(classes)
        issues = Issues(root)
        samples, count = [], 0
        for path in files:
            xml = parse_xml(path)
            filename = text(xml, "filename", path, default=path.stem)
            image = image_index.get(Path(filename).stem)
            w_img, h_img = number(xml, "size/width", path, default=0), number(xml, "size/height", path, default=0)
            if (w_img <= 0 or h_img <= 0) and image is not None:
                w_img, h_img = image_size(image)
            for k, obj in enumerate(xml.iter("object")):
                index, count = count, count + 1
                if wanted is not None and index not in wanted:
                    continue
                where = f"{path}: object {k + 1}"
                bb = obj.find("bndbox")
                if bb is None:
                    raise AnnotationError(f"{where} has no <bndbox>")
                box = np.array([[number(bb, t, path) for t in ("xmin", "ymin", "xmax", "ymax")]])
                label = names(text(obj, "name", path), where)
                targets = horizontal_targets(box, [label], [False], [where])
                if w_img > 0 and h_img > 0:
                    targets["boxes"] = clip_boxes(targets["boxes"], w_img, h_img, issues, [where])
                targets["phrase"] = text(obj, "description", path)
                if image is None:
                    issues.add("no_image", "expressions have no image file (kept, without pixels)", where)
                meta = {"annotation": path, "object_index": index}
                if w_img > 0 and h_img > 0:
                    meta["width"], meta["height"] = int(w_img), int(h_img)
                samples.append(Sample(f"{path.stem}_{k}", image, targets, meta))
        if wanted is not None and count and max(wanted) >= count:
            raise AnnotationError(
                f"{split_file}: object index {max(wanted)} is beyond the {count} objects of {ann_dir}"
            )
        class_names, remap = names.sorted_remap()
        remap_labels(samples, remap)
        super().__init__(root, samples, class_names, split, issues.emit())
