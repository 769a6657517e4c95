"""Referring expressions in RSVG's manner, generated from labelled boxes, and written in RSVG's XML layout.

:func:`referring_expressions` turns an image's boxes and class names into :class:`Expression` records, each naming
ONE object unambiguously from its class, its size and its position (the relations RSVG and GeoGround build their
expressions from); the phrases follow :data:`TEMPLATES` exactly. :func:`write_rsvg` writes them as
``Annotations/<image id>.xml`` with the images in ``JPEGImages/`` for :class:`~rsvision.datasets.grounding.RsvgDataset`.
:func:`build_grounding_set` makes a held-out grounding set from the DOTA8 validation images (whole) and the NEON test
strips (200 px crops), so that no image a detector here trained on is in it.

``python -m rsvision.datasets.referring --dota PATH --neon PATH --out DIR``
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from rsvision.core.files import atomic_output, check_replaceable_folder, publish_folder, safe_name
from rsvision.core.progress import plural, progress_bar
from rsvision.datasets.base import Dataset, Sample, boxes_in_window, require_dir
from rsvision.datasets.dota import DOTA_V1_CLASSES
from rsvision.datasets.registry import open_dataset
from rsvision.errors import AnnotationError, InputNotFoundError, OutputError, RsvisionError
from rsvision.io.images import read_image

TEMPLATES: dict[str, str] = {
    "single": "the {noun} in the {cell} of the image",
    "largest": "the largest {noun}",
    "smallest": "the smallest {noun}",
    "leftmost": "the leftmost {noun}",
    "rightmost": "the rightmost {noun}",
    "topmost": "the topmost {noun}",
    "bottommost": "the bottommost {noun}",
    "largest_left": "the largest {noun} on the left",
    "largest_right": "the largest {noun} on the right",
}
"""The only phrases made (a parser elsewhere reads them), ``{noun}`` from :func:`class_noun`, ``{cell}`` one of
:data:`CELLS`:

- ``the {noun} in the {cell} of the image`` (kind ``single``: the class's only object)
- ``the largest {noun}``, ``the smallest {noun}`` (kind ``size``)
- ``the leftmost {noun}``, ``the rightmost {noun}``, ``the topmost {noun}``, ``the bottommost {noun}`` (``position``)
- ``the largest {noun} on the left``, ``the largest {noun} on the right`` (kind ``size+position``)
"""
CELLS = ("top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right")
"""The 3 x 3 cells of an image, row by row from the top left, that ``single`` phrases name."""
KINDS = ("single", "size", "position", "size+position")
_KIND_OF = {
    "single": "single",
    "largest": "size",
    "smallest": "size",
    "leftmost": "position",
    "rightmost": "position",
    "topmost": "position",
    "bottommost": "position",
    "largest_left": "size+position",
    "largest_right": "size+position",
}

# "The largest" must beat the runner-up's area by this share, else two near-equal objects both fit the phrase (a
# labeller's box is a few pixels loose, and a reader cannot tell 5 % of area apart by eye).
SIZE_MARGIN = 0.20
# "The leftmost" must lead the runner-up's centre by this share of the image side, for the same reason.
POSITION_MARGIN = 0.05
_LOG_SIZE_MARGIN = float(np.log1p(SIZE_MARGIN))  # on log areas the size rule is a gap like the position rule
_TOLERANCE = 1e-9  # a margin met exactly counts as met, whatever the rounding of the logarithms

SOURCES = ("dota", "neon")
NEON_CROP = 200
# The detector's held-out strip (train/recipes/neon.py's TEST_PART; not imported: the recipe imports torch)
NEON_TEST_PART = (0.8, 1.0)


@dataclass(frozen=True)
class Expression:
    """A phrase naming one object, that object's xyxy box and class name, and the phrase's kind (:data:`KINDS`)."""

    phrase: str
    box: tuple[float, float, float, float]
    label: str
    kind: str


def class_noun(name: str) -> str:
    """A class name as words: ``storage-tank`` -> "storage tank", ``Tree`` -> "tree", ``BasketballCourt`` ->
    "basketball court"."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    return " ".join(w for w in re.split(r"[\s_\-]+", spaced.lower()) if w)


def referring_expressions(boxes: np.ndarray, labels: Sequence[str], width: int, height: int) -> list[Expression]:
    """Every expression of :data:`TEMPLATES` that picks one object of ``boxes`` (N, 4 xyxy pixels) unambiguously,
    class by class (classes whose names make the same noun are one class). Boxes without area are left out: nobody
    can point at them."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) != len(labels):
        raise ValueError(f"{len(boxes)} boxes but {len(labels)} labels")
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width} x {height}")
    visible = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    by_noun: dict[str, list[int]] = {}
    for i in np.flatnonzero(visible):
        by_noun.setdefault(class_noun(labels[i]), []).append(int(i))
    out = []
    for noun in sorted(by_noun):
        index = by_noun[noun]
        for name, k, cell in _class_picks(boxes[index], width, height):
            phrase = TEMPLATES[name].format(noun=noun, cell=cell)
            box = tuple(float(v) for v in boxes[index[k]])
            out.append(Expression(phrase, box, labels[index[k]], _KIND_OF[name]))  # type: ignore[arg-type]
    return out


def _class_picks(boxes: np.ndarray, width: int, height: int) -> list[tuple[str, int, str]]:
    """(template name, index of the object picked, cell) for the boxes of one class."""
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    if len(boxes) == 1:
        # one object: "the largest" or "the leftmost" would be true but odd; RSVG places it in the image instead
        return [("single", 0, _cell(cx[0], cy[0], width, height))]
    log_area = np.log((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    candidates = {
        "largest": _winner(log_area, _LOG_SIZE_MARGIN),
        "smallest": _winner(-log_area, _LOG_SIZE_MARGIN),
        "leftmost": _winner(-cx, POSITION_MARGIN * width),
        "rightmost": _winner(cx, POSITION_MARGIN * width),
        "topmost": _winner(-cy, POSITION_MARGIN * height),
        "bottommost": _winner(cy, POSITION_MARGIN * height),
    }
    for side, half in (("left", cx < width / 2), ("right", cx >= width / 2)):
        candidates[f"largest_{side}"] = _largest_in(log_area, half, candidates["largest"])
    return [(name, k, "") for name, k in candidates.items() if k is not None]


def _winner(values: np.ndarray, margin: float) -> int | None:
    """Index of the largest value when it leads the runner-up by at least ``margin``; None for fewer than two."""
    if len(values) < 2:
        return None
    first, second = np.argsort(-values, kind="stable")[:2]
    return int(first) if values[first] - values[second] >= margin - _TOLERANCE else None


def _largest_in(log_area: np.ndarray, half: np.ndarray, overall: int | None) -> int | None:
    """The largest object of a half of the image (by the size rule among the half's objects), unless "the largest"
    already names the same object: the combined phrase is there for objects the plain one cannot reach."""
    members = np.flatnonzero(half)
    k = _winner(log_area[members], _LOG_SIZE_MARGIN)
    if k is None or members[k] == overall:
        return None
    return int(members[k])


def _cell(cx: float, cy: float, width: int, height: int) -> str:
    col = min(max(int(3 * cx / width), 0), 2)
    row = min(max(int(3 * cy / height), 0), 2)
    return CELLS[3 * row + col]


# ----------------------------------------------------------------------------- RSVG files

ImageSource = np.ndarray | Path
Item = tuple[str, ImageSource, int, int, Sequence[Expression]]  # (image id, image, width, height, expressions)


def write_rsvg(folder: str | os.PathLike, items: Iterable[Item]) -> list[Path]:
    """For each item, ``folder/Annotations/<image id>.xml`` (one ``<object>`` per expression: ``<name>`` its label,
    ``<bndbox>``, ``<description>`` its phrase) and ``folder/JPEGImages/<image id>.png`` from a (C, H, W) uint8
    array, or a copy of a source image file keeping its suffix (in lower case). Each file is written whole and
    renamed, the image first, so an XML never names a missing image. Returns the XML paths."""
    folder = Path(folder)
    written = []
    for sub in ("Annotations", "JPEGImages"):
        _make_dir(folder / sub)
    for image_id, image, width, height, expressions in items:
        name = _write_image(folder / "JPEGImages", image_id, image)
        written.append(_write_xml(folder / "Annotations" / f"{image_id}.xml", name, width, height, expressions))
    return written


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create {path}: {err.strerror or err}") from None


def _write_image(folder: Path, image_id: str, image: ImageSource) -> str:
    """The image file's name in ``folder``: an array as PNG (lossless), a file copied byte for byte."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[0] not in (1, 3) or image.dtype != np.uint8:
            raise ValueError(f"{image_id}: expected a (1 or 3, H, W) uint8 image, got {image.shape} {image.dtype}")
        path = folder / f"{image_id}.png"
        with atomic_output(path) as tmp:
            Image.fromarray(_hwc(image)).save(tmp, format="PNG")
        return path.name
    source = Path(image)
    if not source.is_file():
        raise InputNotFoundError(f"no such image: {source}")
    path = folder / f"{image_id}{source.suffix.lower()}"
    with atomic_output(path) as tmp:
        shutil.copyfile(source, tmp)
    return path.name


def _hwc(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0))


def _write_xml(path: Path, image_name: str, width: int, height: int, expressions: Sequence[Expression]) -> Path:
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = image_name
    ET.SubElement(ET.SubElement(root, "source"), "database").text = "rsvision"
    size = ET.SubElement(root, "size")
    for tag, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(int(value))
    for e in expressions:
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = e.label
        box = ET.SubElement(obj, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), e.box):
            # a hundredth of a pixel is finer than any label here, and keeps the files readable
            ET.SubElement(box, tag).text = np.format_float_positional(round(float(value), 2), trim="-")
        ET.SubElement(obj, "description").text = e.phrase
    ET.indent(root)
    with atomic_output(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="UTF-8", xml_declaration=True)
    return path


# ----------------------------------------------------------------------------- builder


def build_grounding_set(
    out: str | os.PathLike,
    dota: str | os.PathLike | None = None,
    neon: str | os.PathLike | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """Write the expressions of the DOTA8 validation images (``dota``: the dota8 folder; never its train images)
    and of the 200 px crops of the NEON test strips (``neon``: columns 80-100 % of each image, which the tree
    detector never trained on) as one RSVG folder ``out``. Built in a folder beside ``out`` and renamed onto it, so
    an earlier set survives until the new one is complete. Returns ``{"<source>/<kind>": expressions}``."""
    roots = {
        name: require_dir(path, f"{name} folder") for name, path in (("dota", dota), ("neon", neon)) if path is not None
    }
    if not roots:
        raise RsvisionError("no source to build referring expressions from: give dota or neon")
    out = check_replaceable_folder(Path(out), lambda name: name in ("Annotations", "JPEGImages"), "a grounding set")
    work = out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:8]}")
    work.mkdir()
    try:
        counts: Counter[str] = Counter()
        for source, item in _items_of(roots, progress):
            write_rsvg(work, [item])
            counts.update(f"{source}/{e.kind}" for e in item[4])
        if not counts:
            raise AnnotationError(f"no object is named unambiguously in {', '.join(map(str, roots.values()))}")
        publish_folder(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return {f"{s}/{k}": counts[f"{s}/{k}"] for s in SOURCES for k in KINDS if counts[f"{s}/{k}"]}


def _items_of(roots: dict[str, Path], progress: bool) -> Iterator[tuple[str, Item]]:
    """(source, item) for each image or crop that has expressions, the crops made as they are needed."""
    with progress_bar(enabled=progress) as bar:
        for name, root in roots.items():
            opener, items = _SOURCES[name]
            dataset = opener(root)
            task = bar.add_task(f"{name}: {plural(len(dataset), 'image')}", total=len(dataset))
            for sample in dataset:
                for item in items(dataset, sample):
                    if item[4]:
                        yield name, item
                bar.advance(task)


def _kept(sample: Sample, classes: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """The sample's horizontal boxes and class names, 'difficult' objects left out (their boxes are unsure)."""
    targets = sample.targets
    keep = ~np.asarray(targets.get("difficult", np.zeros(len(targets["labels"]), bool)), dtype=bool)
    boxes = np.asarray(targets["boxes"], dtype=np.float64).reshape(-1, 4)[keep]
    return boxes, [classes[int(i)] for i in np.asarray(targets["labels"])[keep]]


def _open_dota(root: Path) -> Dataset:
    # dota8's YOLO-OBB files hold class indices in DOTA-v1.0's order and name no classes themselves
    return open_dataset(root, "yolo-obb", split="val", classes=DOTA_V1_CLASSES)


def _dota_items(dataset: Dataset, sample: Sample) -> Iterator[Item]:
    """A whole validation image (copied as it is) with the expressions of its objects' horizontal envelopes."""
    boxes, labels = _kept(sample, dataset.classes)
    width, height = sample.meta["width"], sample.meta["height"]
    yield (
        f"dota_{safe_name(sample.id)}",
        sample.image,
        width,
        height,
        referring_expressions(boxes, labels, width, height),
    )


def _open_neon(root: Path) -> Dataset:
    return open_dataset(root, "voc")


def _neon_items(dataset: Dataset, sample: Sample) -> Iterator[Item]:
    """The whole 200 px crops of one image's test strip, cropped from the strip's first column; a strip narrower
    than a crop gives none (its pixels outside the strip were seen in training or validation)."""
    image = read_image(sample.image)[:3]
    boxes, labels = _kept(sample, dataset.classes)
    height, width = image.shape[1:]
    x0, x1 = round(NEON_TEST_PART[0] * width), round(NEON_TEST_PART[1] * width)  # as the recipe's strip()
    strip_index, strip_boxes = boxes_in_window(boxes, x0, 0, x1, height)
    for row in range(0, height - NEON_CROP + 1, NEON_CROP):
        for col in range(0, x1 - x0 - NEON_CROP + 1, NEON_CROP):
            index, crop_boxes = boxes_in_window(strip_boxes, col, row, col + NEON_CROP, row + NEON_CROP)
            crop_labels = [labels[strip_index[i]] for i in index]
            crop = image[:, row : row + NEON_CROP, x0 + col : x0 + col + NEON_CROP]
            expressions = referring_expressions(crop_boxes, crop_labels, NEON_CROP, NEON_CROP)
            yield f"neon_{safe_name(sample.id)}_{row}_{x0 + col}", crop, NEON_CROP, NEON_CROP, expressions


_SOURCES: dict[str, tuple[Callable[[Path], Dataset], Callable[[Dataset, Sample], Iterator[Item]]]] = {
    "dota": (_open_dota, _dota_items),
    "neon": (_open_neon, _neon_items),
}


# ----------------------------------------------------------------------------- command


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rsvision.datasets.referring", description=__doc__.split("\n")[0])
    parser.add_argument("--dota", help="dota8 folder (images/ and labels/ with train and val; val is read)")
    parser.add_argument("--neon", help="neon_trees folder (JPEGs with Pascal VOC XML; the test strips are read)")
    parser.add_argument("--out", required=True, help="folder to write (absent, empty, or an earlier grounding set)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        counts = build_grounding_set(args.out, args.dota, args.neon, progress=not args.no_progress)
    except RsvisionError as error:  # a mistake in the command: one line, as the rsvision command says it
        parser.exit(2, f"error: {error}\n")
    for key, n in counts.items():
        source, _, kind = key.partition("/")
        print(f"{source:<5} {kind:<13} {n:>7,}")
    images = Counter(p.name.partition("_")[0] for p in Path(args.out, "Annotations").glob("*.xml"))
    totals = {s: sum(n for k, n in counts.items() if k.startswith(f"{s}/")) for s in SOURCES if images[s]}
    parts = ", ".join(f"{s} {totals[s]:,} on {plural(images[s], 'image')}" for s in totals)
    print(f"{sum(totals.values()):,} expressions ({parts}) in {time.perf_counter() - started:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
