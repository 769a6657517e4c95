"""Visual questions in RSVQA's manner, generated from labels the repo already reads, and written in RSVQA's layout.

Generators turn a land-cover mask (:func:`mask_questions`), a box count (:func:`box_questions`) or a change mask
(:func:`change_questions`) into :class:`Question` records whose answers follow from the labels alone.
:func:`write_rsvqa` writes them as ``<prefix>_split_<split>_questions|answers|images.json`` for
:class:`~rsvision.datasets.vqa.RsvqaDataset`. :func:`build_vqa_sets` crops the Dubai masks, the NEON tree boxes and
the OSCD pairs into a ``train`` and a ``test`` split that keep the recipes' held-out parts (Dubai tile 7, NEON's
right strip, OSCD's abudhabi and beihai) on the test side.

The constants here are shared with the answerer, so that questions and answers are binned the same way on both sides.

``python -m rsvision.datasets.questions --dubai PATH --neon PATH --oscd PATH --out DIR``
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import time
import uuid
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning

from rsvision.core.files import atomic_output, check_replaceable_folder, publish_folder, safe_name
from rsvision.core.progress import plural, progress_bar
from rsvision.datasets.base import Dataset, Sample, boxes_in_window, require_dir
from rsvision.datasets.change import OscdDataset
from rsvision.datasets.masks import DUBAI_COLORS
from rsvision.datasets.registry import open_dataset
from rsvision.errors import AnnotationError, AnnotationWarning, InputNotFoundError, RsvisionError
from rsvision.io import align, open_scene
from rsvision.io.images import read_image

# A class "is there" from 0.5 % of the labelled pixels on: a few stray labelled pixels (a mislabelled edge, a
# pool's rim) are not "water", and a question whose answer hangs on them would teach noise.
PRESENCE_MIN_SHARE = 0.005
# Two classes closer than this (share of the labelled pixels) are not compared: "more road than vegetation" on
# 30.2 % against 30.0 % is a coin toss of the labeller's brush.
COMPARISON_MIN_GAP = 0.01

COUNT_BINS = ("0", "between 1 and 10", "between 11 and 50", "between 51 and 100", "more than 100")
_COUNT_TOPS = (0, 10, 50, 100)  # the largest count of each bin but the last
SHARE_BINS = ("0%", "between 0% and 10%", "between 10% and 25%", "between 25% and 50%", "more than 50%")
_SHARE_TOPS = (0.10, 0.25, 0.50)  # the largest share of the bins after "0%" but the last

# The Dubai class names (masks.DUBAI_COLORS spells Land "Land (unpaved area)": see landcover_noun) -> question words
LANDCOVER_NOUNS = {
    "Water": "water",
    "Land": "bare land",
    "Road": "road",
    "Building": "buildings",
    "Vegetation": "vegetation",
}
QUESTION_TYPES = ("presence", "comparison", "count", "area", "change")

SPLITS = ("train", "test")
PREFIX = "rsvision"
DUBAI_CROP, NEON_CROP, OSCD_CROP = 256, 400, 128
# The recipes' held-out parts (train/recipes/dubai.py, neon.py, oscd.py; not imported: they import torch)
DUBAI_TEST_TILE = "Tile 7"
NEON_TEST_FROM = 0.8  # of each image's columns: the detector's test strip is 80-100 %
OSCD_TEST_CITIES = ("abudhabi", "beihai")


@dataclass(frozen=True)
class Question:
    """One question about an image, its answer and its type (one of :data:`QUESTION_TYPES`)."""

    question: str
    answer: str
    type: str


def count_bin(n: int) -> str:
    """The :data:`COUNT_BINS` answer for ``n`` objects (bins include both ends: 10 is "between 1 and 10")."""
    if n < 0:
        raise ValueError(f"a count cannot be negative, got {n}")
    return next((label for label, top in zip(COUNT_BINS, _COUNT_TOPS) if n <= top), COUNT_BINS[-1])


def share_bin(fraction: float) -> str:
    """The :data:`SHARE_BINS` answer for a share in [0, 1]: "0%" below :data:`PRESENCE_MIN_SHARE`, then bins that
    include their upper end (exactly 50 % is "between 25% and 50%", as "more than 50%" says)."""
    if fraction < PRESENCE_MIN_SHARE:
        return SHARE_BINS[0]
    return next((label for label, top in zip(SHARE_BINS[1:], _SHARE_TOPS) if fraction <= top), SHARE_BINS[-1])


def landcover_noun(class_name: str) -> str | None:
    """The question word for a land-cover class: ``LANDCOVER_NOUNS[name]``, or that of the name without its
    parenthesised part (``"Land (unpaved area)"`` -> ``"bare land"``); None for a class no question asks about."""
    return LANDCOVER_NOUNS.get(class_name) or LANDCOVER_NOUNS.get(class_name.split("(")[0].strip())


def _is_plural(noun: str) -> bool:
    return noun.endswith("s")  # "buildings", "trees"; the mass nouns here (water, road ...) do not end in s


def _there(noun: str) -> str:
    return f"{'are' if _is_plural(noun) else 'is'} there"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def mask_questions(
    mask: np.ndarray,
    classes: Sequence[str],
    ignore: int | None = None,
    *,
    rng: np.random.Generator | None = None,
) -> list[Question]:
    """Presence, area and comparison questions about a (H, W) class-index mask; shares are of the labelled pixels
    (``ignore`` and values outside ``classes`` left out). Classes without a noun (:func:`landcover_noun`) are not
    asked about but count as labelled. ``rng``: draws each comparison's order, else the classes' order is kept."""
    counts = _class_counts(mask, len(classes), ignore)
    total = int(counts.sum())
    if total == 0:
        return []
    shares = counts / total
    asked = [(i, noun) for i, c in enumerate(classes) if i != ignore and (noun := landcover_noun(c))]
    out = []
    for i, noun in asked:
        out.append(Question(f"{_there(noun)} {noun}?", _yes(shares[i] >= PRESENCE_MIN_SHARE), "presence"))
        out.append(Question(f"what share of the image is {noun}?", share_bin(float(shares[i])), "area"))
    for a, b in itertools.combinations(asked, 2):
        if abs(shares[a[0]] - shares[b[0]]) < COMPARISON_MIN_GAP:
            continue
        if rng is not None and rng.random() < 0.5:
            a, b = b, a  # yes and no equally likely, whatever the classes' order
        out.append(
            Question(f"{_there(a[1])} more {a[1]} than {b[1]}?", _yes(counts[a[0]] > counts[b[0]]), "comparison")
        )
    return out


def _class_counts(mask: np.ndarray, n_classes: int, ignore: int | None) -> np.ndarray:
    values = np.asarray(mask).ravel().astype(np.int64)
    counts = np.bincount(values[(values >= 0) & (values < n_classes)], minlength=n_classes)
    if ignore is not None and 0 <= ignore < n_classes:
        counts[ignore] = 0
    return counts


def box_questions(n_boxes: int, noun: str = "trees") -> list[Question]:
    """Presence ("are there trees?") and count ("how many trees are there?", :func:`count_bin`) questions."""
    return [
        Question(f"{_there(noun)} {noun}?", _yes(n_boxes >= 1), "presence"),
        Question(f"how many {noun} {_there(noun)}?", count_bin(n_boxes), "count"),
    ]


def change_questions(change_mask: np.ndarray) -> list[Question]:
    """Whether anything changed (from :data:`PRESENCE_MIN_SHARE` of the pixels on) and the changed share, from a
    (H, W) mask that is non-zero where the scene changed."""
    mask = np.asarray(change_mask)
    share = float(np.count_nonzero(mask)) / mask.size if mask.size else 0.0
    return [
        Question("has anything changed?", _yes(share >= PRESENCE_MIN_SHARE), "change"),
        Question("what share of the image has changed?", share_bin(share), "area"),
    ]


# ----------------------------------------------------------------------------- RSVQA files


def write_rsvqa(
    folder: str | os.PathLike,
    prefix: str,
    split: str,
    items: Iterable[tuple[str, Sequence[Question]]],
    first_id: int = 0,
) -> Path:
    """Write ``<prefix>_split_<split>_images|answers|questions.json`` in ``folder`` for ``items`` (image id, its
    questions), the images being ``folder/Images/<image id>.tif`` already. Question and answer ids count from
    ``first_id`` (give each split its own range to keep them unique across a set). Each file is written whole and
    renamed; the questions file, which names the split for readers, comes last. Returns its path."""
    folder = Path(folder)
    images, questions, answers = [], [], []
    qid = first_id
    for image_id, qs in items:
        if not (folder / "Images" / f"{image_id}.tif").is_file():
            raise InputNotFoundError(f"no image for questions: {folder / 'Images' / f'{image_id}.tif'}")
        ids = list(range(qid, qid + len(qs)))
        qid += len(qs)
        images.append({"id": image_id, "original_name": f"{image_id}.tif", "questions_ids": ids, "active": True})
        for i, q in zip(ids, qs):
            questions.append(
                {
                    "id": i,
                    "img_id": image_id,
                    "type": q.type,
                    "question": q.question,
                    "answers_ids": [i],
                    "active": True,
                }
            )
            answers.append({"id": i, "question_id": i, "answer": q.answer, "active": True})
    for key, entries in (("images", images), ("answers", answers), ("questions", questions)):
        path = folder / f"{prefix}_split_{split}_{key}.json"
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps({key: entries}), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- builder

Item = tuple[str, str, list[Question]]  # (split, image id, questions)


def build_vqa_sets(
    out: str | os.PathLike,
    dubai: str | os.PathLike | None = None,
    neon: str | os.PathLike | None = None,
    oscd: str | os.PathLike | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, int]:
    """Crop the sources given into ``out/Images`` and write a ``train`` and a ``test`` split of questions about
    them (prefix :data:`PREFIX`); no image is in both. Built in a folder beside ``out`` and renamed onto it, so an
    earlier set survives until the new one is complete. Returns ``{"<split>/<type>": questions}``."""
    roots = {
        name: require_dir(path, f"{name} folder")
        for name, path in (("dubai", dubai), ("neon", neon), ("oscd", oscd))
        if path is not None
    }
    if not roots:
        raise RsvisionError("no source to build questions from: give dubai, neon or oscd")
    out = check_replaceable_folder(Path(out), _is_question_file, "a question set")
    work = out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:8]}")
    (work / "Images").mkdir(parents=True)
    try:
        by_split: dict[str, list[tuple[str, list[Question]]]] = {s: [] for s in SPLITS}
        for split, image_id, questions in _crops_of(roots, work / "Images", seed, progress):
            by_split[split].append((image_id, questions))
        _write_splits(work, by_split, roots)
        publish_folder(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return _count(by_split)


def _crops_of(roots: dict[str, Path], images: Path, seed: int, progress: bool) -> Iterator[Item]:
    """Each source's crops, written into ``images`` as they are made."""
    with progress_bar(enabled=progress) as bar:
        for name, root in roots.items():
            opener, crops = _SOURCES[name]
            dataset = opener(root)
            task = bar.add_task(f"{name}: {len(dataset)} images", total=len(dataset))
            for sample in dataset:
                yield from crops(dataset, sample, images, seed)
                bar.advance(task)


def _write_splits(work: Path, by_split: dict[str, list], roots: dict[str, Path]) -> None:
    first_id = 0
    for split in SPLITS:
        if not by_split[split]:
            raise AnnotationError(f"the {split} split has no questions from {', '.join(map(str, roots.values()))}")
        write_rsvqa(work, PREFIX, split, by_split[split], first_id)
        first_id += sum(len(qs) for _, qs in by_split[split])


def _count(by_split: dict[str, list]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for split in SPLITS:
        for _, questions in by_split[split]:
            counts.update(f"{split}/{q.type}" for q in questions)
    return {f"{s}/{t}": counts[f"{s}/{t}"] for s in SPLITS for t in QUESTION_TYPES if counts[f"{s}/{t}"]}


def _is_question_file(name: str) -> bool:
    """What an earlier question set holds: its images folder and its ``*_split_*.json`` files."""
    return name == "Images" or re.fullmatch(r".+_split_.+\.json", name) is not None


def _windows(height: int, width: int, size: int) -> Iterator[tuple[int, int]]:
    """(row, col) of the whole ``size`` crops of a grid, partial edge crops dropped."""
    for row in range(0, height - size + 1, size):
        for col in range(0, width - size + 1, size):
            yield row, col


def _write_tif(path: Path, array: np.ndarray, crs=None, transform: Affine | None = None, names=None) -> None:
    """A (C, H, W) array as a deflated TIFF, georeferenced when ``crs`` is given, ``names`` as band descriptions."""
    profile = dict(driver="GTiff", count=array.shape[0], height=array.shape[1], width=array.shape[2])
    profile.update(dtype=array.dtype.name, compress="deflate", predictor=2)
    if array.shape[0] == 3 and array.dtype == np.uint8:
        profile["photometric"] = "RGB"
    if crs is not None:
        profile.update(crs=crs, transform=transform)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # Dubai and NEON crops have no georeference
        with rasterio.open(path, "w", **profile) as dst:
            for i, name in enumerate(names or (), start=1):
                dst.set_band_description(i, name)
            dst.write(np.ascontiguousarray(array))


def _rng(seed: int, image_id: str) -> np.random.Generator:
    """A generator per image, so an image's questions do not depend on which sources were built with it."""
    return np.random.default_rng([seed, zlib.crc32(image_id.encode())])


def _open_dubai(root: Path) -> Dataset:
    return open_dataset(root, "color-mask", colors=DUBAI_COLORS)


def _dubai_crops(dataset, sample: Sample, images: Path, seed: int) -> Iterator[Item]:
    """The 256 px crops of one Dubai image with their land-cover questions: tile 7 tests, tiles 1-6 train."""
    if "mask" not in sample.targets:
        return
    tile, _, stem = sample.id.rpartition("/")
    split = "test" if tile == DUBAI_TEST_TILE else "train"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnnotationWarning)  # the known stray black pixels: ignored, as wanted
        mask = dataset.load_mask(sample)
    image = dataset.load_image(sample)[:3]
    for row, col in _windows(*mask.shape, DUBAI_CROP):
        image_id = f"dubai_{safe_name(f'{tile} {stem}')}_{row}_{col}"
        crop = mask[row : row + DUBAI_CROP, col : col + DUBAI_CROP]
        questions = mask_questions(crop, dataset.classes, dataset.ignore_index, rng=_rng(seed, image_id))
        if questions:
            _write_tif(images / f"{image_id}.tif", image[:, row : row + DUBAI_CROP, col : col + DUBAI_CROP])
            yield split, image_id, questions


def _open_neon(root: Path) -> Dataset:
    return open_dataset(root, "voc")


def _neon_parts(width: int) -> tuple[tuple[str, int, int], ...]:
    """(split, first column, end column) of an image: the left 80 % trains, the right 20 % tests. Each part is
    cropped from its own first column: one grid from column 0 leaves no whole crop inside either image's strip."""
    x0 = round(NEON_TEST_FROM * width)  # as recipes/neon.py's strip()
    return ("train", 0, x0), ("test", x0, width)


def _neon_crops(dataset, sample: Sample, images: Path, seed: int) -> Iterator[Item]:
    """The 400 px crops of one NEON image with their tree questions (a box counts where its centre lies)."""
    image = read_image(sample.image)[:3]
    boxes = sample.targets["boxes"]
    height, width = image.shape[1:]
    for split, first, end in _neon_parts(width):
        for row, col in _windows(height, end - first, NEON_CROP):
            col += first
            inside, _ = boxes_in_window(boxes, col, row, col + NEON_CROP, row + NEON_CROP)
            image_id = f"neon_{safe_name(sample.id)}_{row}_{col}"
            _write_tif(images / f"{image_id}.tif", image[:, row : row + NEON_CROP, col : col + NEON_CROP])
            yield split, image_id, box_questions(len(inside), "trees")


def _open_oscd(root: Path) -> Dataset:
    return OscdDataset(root)


def _oscd_crops(dataset, sample: Sample, images: Path, seed: int) -> Iterator[Item]:
    """The 128 px crops of one labelled OSCD city, both dates on the older date's 10 m grid (as the label)."""
    if "mask" not in sample.targets:
        return
    split = "test" if sample.id in OSCD_TEST_CITIES else "train"
    before = open_scene(sample.image[0])
    dates = before.read(), align(open_scene(sample.image[1]), to=before).read()
    mask = dataset.load_mask(sample)
    grid = before.grid
    for row, col in _windows(*mask.shape, OSCD_CROP):
        window = np.s_[:, row : row + OSCD_CROP, col : col + OSCD_CROP]
        if any(np.ma.getmaskarray(d[window]).any() for d in dates):
            continue  # no data on a date: its change questions would be about pixels nobody saw
        image_id = f"oscd_{safe_name(sample.id)}_{row}_{col}"
        transform = grid.transform @ Affine.translation(col, row)
        for suffix, date in zip(("_before", ""), dates):
            data = np.ma.getdata(date[window])
            _write_tif(images / f"{image_id}{suffix}.tif", data, grid.crs, transform, before.band_names)
        yield split, image_id, change_questions(mask[row : row + OSCD_CROP, col : col + OSCD_CROP])


_SOURCES: dict[str, tuple[Callable[[Path], Dataset], Callable[..., Iterator[Item]]]] = {
    "dubai": (_open_dubai, _dubai_crops),
    "neon": (_open_neon, _neon_crops),
    "oscd": (_open_oscd, _oscd_crops),
}


# ----------------------------------------------------------------------------- command


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rsvision.datasets.questions", description=__doc__.split("\n")[0])
    parser.add_argument("--dubai", help="dubai_segmentation folder (Tile 1 .. Tile 7)")
    parser.add_argument("--neon", help="neon_trees folder (JPEGs with Pascal VOC XML)")
    parser.add_argument("--oscd", help="OSCD folder (images/, labels/)")
    parser.add_argument("--out", required=True, help="folder to write (absent, empty, or an earlier question set)")
    parser.add_argument("--seed", type=int, default=0, help="draws the order of each comparison")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        counts = build_vqa_sets(
            args.out, args.dubai, args.neon, args.oscd, seed=args.seed, progress=not args.no_progress
        )
    except RsvisionError as error:  # a mistake in the command: one line, as the rsvision command says it
        parser.exit(2, f"error: {error}\n")
    for key, n in counts.items():
        split, _, kind = key.partition("/")
        print(f"{split:<6} {kind:<11} {n:>7,}")
    totals = {s: sum(n for k, n in counts.items() if k.startswith(f"{s}/")) for s in SPLITS}
    n_images = {
        s: len(json.loads(Path(args.out, f"{PREFIX}_split_{s}_images.json").read_text())["images"]) for s in SPLITS
    }
    parts = ", ".join(f"{s} {totals[s]:,} on {plural(n_images[s], 'image')}" for s in SPLITS)
    print(f"{sum(totals.values()):,} questions ({parts}) in {time.perf_counter() - started:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
