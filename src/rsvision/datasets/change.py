"""Change detection pairs: ``A/ B/ label/ list/*.txt`` triplets (LEVIR-CD, DSIFN, WHU-CD, S2Looking) and OSCD.

Samples hold ``image = (before, after)`` and ``targets["mask"]`` (a path); :meth:`load_mask` returns
0 = no change, 1 = change as uint8.

Triplets: folder aliases ``A|Image1|im1|t1|T1``, ``B|Image2|im2|t2|T2``, ``label|gt|GT|mask|OUT``, matched by
file stem; ``split`` names ``list/<split>.txt`` or a subfolder ``<split>/A``; without it every image of
``A`` is read. Labels stored as 0/1 or 0/255 map to 0/1; other grey values are thresholded at 128
(counted warning).

OSCD: ``images/<city>/imgs_1|imgs_2/*_B??.tif`` band files and ``labels/<city>/cm/<city>-cm.tif``, whose
values are 1 = no change, 2 = change (``label_values``), without georeference, pixel-aligned with the
older date's 10 m grid. ``load_image(sample, 0)`` reads the older date as a band stack on its 10 m grid
and ``load_image(sample, 1)`` puts the newer date on that grid by georeference (rsvision.io); both are
masked arrays (masked where there is no data).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError

from rsvision.datasets.base import (
    Dataset,
    Sample,
    index_by_stem,
    read_lines,
    read_split_names,
    require_dir,
    warn,
)
from rsvision.errors import AnnotationError, InputNotFoundError
from rsvision.io import align, open_scene
from rsvision.io.images import read_image

_A = ("A", "Image1", "im1", "t1", "T1")
_B = ("B", "Image2", "im2", "t2", "T2")
_LABEL = ("label", "gt", "GT", "mask", "OUT")


def _first_dir(base: Path, names: Sequence[str]) -> Path | None:
    return next((base / n for n in names if (base / n).is_dir()), None)


def binary_change(arr: np.ndarray, path: Path) -> np.ndarray:
    """A single-band (or grey RGB) change label -> uint8 0/1; grey values other than 0/255 thresholded at 128."""
    if arr.ndim == 3:
        if arr.shape[0] > 1 and not all(np.array_equal(arr[0], b) for b in arr[1:3]):
            raise AnnotationError(
                f"{path}: a change label must be one band (or grey RGB); it has {arr.shape[0]} differing bands"
            )
        arr = arr[0]
    if arr.max(initial=0) <= 1:
        return arr.astype(np.uint8)
    odd = int(np.count_nonzero((arr != 0) & (arr != 255)))
    if odd:
        warn(f"{path}: {odd} label pixels are neither 0 nor 255; thresholded at 128")
    return (arr >= 128).astype(np.uint8)


class TripletDataset(Dataset):
    """Before/after images with a change label, one file name per pair in each folder."""

    format = "triplets"
    task = "change"

    def __init__(self, root: str | os.PathLike, split: str | None = None, list_file: str | os.PathLike | None = None):
        root = require_dir(root, "change folder")
        base = root / split if split is not None and _first_dir(root / split, _A) else root
        a_dir, b_dir, l_dir = _first_dir(base, _A), _first_dir(base, _B), _first_dir(base, _LABEL)
        if a_dir is None or b_dir is None:
            raise AnnotationError(f"{base}: a change triplet folder needs A/ and B/ (or Image1/ and Image2/)")
        a_index, b_index = index_by_stem(a_dir), index_by_stem(b_dir)
        l_index = index_by_stem(l_dir) if l_dir is not None else {}
        if list_file is None and split is not None and base is root:
            list_file = root / "list" / f"{split}.txt"
            if not list_file.is_file():
                raise InputNotFoundError(f"{root}: no split {split!r} (no {list_file} and no {split}/A folder)")
        names = [Path(n).stem for n in read_split_names(list_file)] if list_file is not None else sorted(a_index)
        if not names:
            raise AnnotationError(f"{base}: no image pairs")
        samples = []
        for name in names:
            where = f"{list_file or a_dir}: {name}"
            if name not in a_index or name not in b_index:
                raise AnnotationError(f"{where}: missing from {a_dir.name}/ or {b_dir.name}/")
            targets = {}
            if l_dir is not None:
                if name not in l_index:
                    raise AnnotationError(f"{where}: no label in {l_dir}")
                targets["mask"] = l_index[name]
            samples.append(Sample(name, (a_index[name], b_index[name]), targets))
        super().__init__(root, samples, ("no change", "change"), split)

    def load_mask(self, sample: Sample) -> np.ndarray:
        path = sample.targets.get("mask")
        if path is None:
            raise AnnotationError(f"sample {sample.id} of {self.root} has no change label")
        return binary_change(read_image(path), path)


class OscdDataset(Dataset):
    """Onera Satellite Change Detection: per city the two dates' band folders and the ``cm`` label."""

    format = "oscd"
    task = "change"

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = None,
        cities: Sequence[str] | None = None,
        labels: str | os.PathLike | None = None,
        label_values: tuple[int, int] = (1, 2),
    ):
        root = require_dir(root, "OSCD folder")
        images_root = root / "images" if (root / "images").is_dir() else root
        labels_root = Path(labels) if labels else (root / "labels" if (root / "labels").is_dir() else images_root)
        if cities is None and split is not None:
            split_file = images_root / f"{split}.txt"
            named = [c.strip() for c in split.split(",") if c.strip()]
            if split_file.is_file():
                cities = [c.strip() for line in read_lines(split_file) for c in line.split(",") if c.strip()]
            elif named and all((images_root / c / "imgs_1").is_dir() for c in named):
                cities = named  # --split abudhabi,beihai: the cities themselves
            else:
                raise InputNotFoundError(
                    f"{root}: no city list {split_file} for split {split!r}, nor cities of that name"
                )
        elif cities is None:
            cities = sorted(p.name for p in images_root.iterdir() if (p / "imgs_1").is_dir())
        if not cities:
            raise AnnotationError(f"{root}: no OSCD cities (expected images/<city>/imgs_1 and imgs_2)")
        self.label_values = tuple(label_values)
        samples = []
        for city in cities:
            folder = images_root / city
            before, after = folder / "imgs_1", folder / "imgs_2"
            if not before.is_dir() or not after.is_dir():
                raise AnnotationError(f"{folder}: OSCD city needs imgs_1/ and imgs_2/ band folders")
            meta: dict = {}
            if (folder / "dates.txt").is_file():
                for line in read_lines(folder / "dates.txt"):
                    key, _, value = line.partition(":")
                    meta[key.strip()] = value.strip()
            targets = {}
            cm = labels_root / city / "cm" / f"{city}-cm.tif"
            if cm.is_file():
                targets["mask"] = cm
            samples.append(Sample(city, (before, after), targets, meta))
        super().__init__(root, samples, ("no change", "change"), split)

    def load_image(self, sample: Sample, which: int = 0) -> np.ndarray:
        before = open_scene(sample.image[0])
        if which == 0:
            return before.read()
        return align(open_scene(sample.image[1]), to=before).read()

    def load_mask(self, sample: Sample) -> np.ndarray:
        path = sample.targets.get("mask")
        if path is None:
            raise AnnotationError(
                f"OSCD city {sample.id} has no label ({self.root}/labels/{sample.id}/cm/{sample.id}-cm.tif)"
            )
        arr = read_image(path)
        if arr.shape[0] != 1:
            raise AnnotationError(f"{path}: an OSCD label has one band, this one has {arr.shape[0]}")
        arr = arr[0]
        no, yes = self.label_values
        bad = (arr != no) & (arr != yes)
        if bad.any():
            values = sorted(set(np.unique(arr[bad]).tolist()))[:5]
            raise AnnotationError(f"{path}: label values {values} are neither {no} (no change) nor {yes} (change)")
        shape = _grid_shape(sample.image[0])
        if shape is not None and arr.shape != shape:
            raise AnnotationError(
                f"{path}: label is {arr.shape[1]} x {arr.shape[0]} but the older date's 10 m grid is"
                f" {shape[1]} x {shape[0]}"
            )
        return (arr == yes).astype(np.uint8)


def _grid_shape(folder: Path) -> tuple[int, int] | None:
    """(H, W) of the largest band file in a band folder (the 10 m grid for Sentinel-2)."""
    best = None
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in (".tif", ".tiff"):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(p) as ds:
                    shape = (ds.height, ds.width)
        except RasterioError:
            continue
        if best is None or shape[0] * shape[1] > best[0] * best[1]:
            best = shape
    return best
