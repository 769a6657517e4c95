"""Change detection pairs: ``A/ B/ label/ list/*.txt`` triplets (LEVIR-CD, DSIFN, WHU-CD, S2Looking, CDD), SECOND's
semantic change pairs and OSCD.

Samples hold ``image = (before, after)`` and ``targets["mask"]`` (a path); :meth:`load_mask` returns
0 = no change, 1 = change as uint8.

Triplets: folder aliases ``A|Image1|im1|t1|T1``, ``B|Image2|im2|t2|T2``, ``label|gt|GT|mask|OUT``, matched by
file stem; ``split`` names ``list/<split>.txt`` or a subfolder ``<split>/A``; without it every image of
``A`` is read, or, where the folder holds only split subfolders (``train/A`` ...), every split's, the ids
prefixed ``train/`` ... A ``subset/`` folder (CDD as distributed: ``subset/train|val|test/A|B|OUT``) is entered.
Labels stored as 0/1 or 0/255 map to 0/1; other grey values are thresholded at 128 (counted warning).

SECOND: ``im1/ im2/ label1/ label2/`` (in split subfolders or not), the labels RGB maps in SECOND's palette
(:data:`SECOND_COLORS`, white = no change). :class:`SecondDataset` reads the change where ``label1`` is not white,
each date's land cover (:meth:`SecondDataset.load_semantic`) and the from-to class
(:meth:`SecondDataset.load_from_to`, names :data:`FROM_TO_CLASSES`).

OSCD: ``images/<city>/imgs_1|imgs_2/*_B??.tif`` band files and ``labels/<city>/cm/<city>-cm.tif``, whose
values are 1 = no change, 2 = change (``label_values``), without georeference, pixel-aligned with the
older date's 10 m grid. ``load_image(sample, 0)`` reads the older date as a band stack on its 10 m grid
and ``load_image(sample, 1)`` puts the newer date on that grid by georeference (rsvision.io), and with
``coregister`` also moves it by the sub-pixel shift its pixels show (:mod:`rsvision.io.coregister`; the raw OSCD
pairs are misregistered by up to about a pixel); both are masked arrays (masked where there is no data).
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
from rsvision.errors import AnnotationError, InputNotFoundError, RsvisionError
from rsvision.io import align, open_scene
from rsvision.io.coregister import Shift, coregister, finest_bands
from rsvision.io.images import read_image

_A = ("A", "Image1", "im1", "t1", "T1")
_B = ("B", "Image2", "im2", "t2", "T2")
_LABEL = ("label", "gt", "GT", "mask", "OUT")
_SPLITS = ("train", "val", "test")

# SECOND (Yang et al.): its six land-cover classes and the official palette; white is no change
SECOND_CLASSES = ("low vegetation", "non-vegetated ground surface", "tree", "water", "building", "playground")
SECOND_COLORS = {
    (0, 128, 0): 0,
    (128, 128, 128): 1,
    (0, 255, 0): 2,
    (0, 0, 255): 3,
    (128, 0, 0): 4,
    (255, 0, 0): 5,
}
NO_CHANGE = 255
FROM_TO_CLASSES = ("no change", *(f"{a} -> {b}" for a in SECOND_CLASSES for b in SECOND_CLASSES))
_SECOND_TABLE = sorted(
    ((r << 16) | (g << 8) | b, v) for (r, g, b), v in {**SECOND_COLORS, (255, 255, 255): 255}.items()
)
_SECOND_CODES = np.array([c for c, _ in _SECOND_TABLE], dtype=np.uint32)
_SECOND_VALUES = np.array([v for _, v in _SECOND_TABLE], dtype=np.uint8)


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
    _labels: tuple[str, ...] = _LABEL

    def __init__(self, root: str | os.PathLike, split: str | None = None, list_file: str | os.PathLike | None = None):
        root = require_dir(root, "change folder")
        if _first_dir(root, _A) is None and (root / "subset").is_dir():
            root = root / "subset"  # CDD as distributed: subset/train|val|test/A|B|OUT
        splits = [s for s in _SPLITS if _first_dir(root / s, _A)]
        if split is None and list_file is None and _first_dir(root, _A) is None and splits:
            samples = [s for name in splits for s in self._read(root / name, None, f"{name}/")]
        else:
            base = root / split if split is not None and _first_dir(root / split, _A) else root
            if list_file is None and split is not None and base is root:
                list_file = root / "list" / f"{split}.txt"
                if not list_file.is_file():
                    raise InputNotFoundError(f"{root}: no split {split!r} (no {list_file} and no {split}/A folder)")
            samples = self._read(base, list_file, "")
        super().__init__(root, samples, ("no change", "change"), split)

    def _read(self, base: Path, list_file: str | os.PathLike | None, prefix: str) -> list[Sample]:
        """The pairs of one folder holding ``A/ B/`` (and labels), their ids prefixed (``train/`` when every split
        subfolder is read: CDD's file names repeat across splits)."""
        a_dir, b_dir = _first_dir(base, _A), _first_dir(base, _B)
        if a_dir is None or b_dir is None:
            before, after = "/, ".join(_A), "/, ".join(_B)
            raise AnnotationError(f"{base}: a change pair folder needs one of {before}/ and one of {after}/")
        a_index, b_index = index_by_stem(a_dir), index_by_stem(b_dir)
        labels = self._label_indexes(base)
        names = [Path(n).stem for n in read_split_names(list_file)] if list_file is not None else sorted(a_index)
        if not names:
            raise AnnotationError(f"{base}: no image pairs")
        samples = []
        for name in names:
            where = f"{list_file or a_dir}: {name}"
            if name not in a_index or name not in b_index:
                raise AnnotationError(f"{where}: missing from {a_dir.name}/ or {b_dir.name}/")
            targets = {}
            for key, (folder, index) in labels.items():
                if name not in index:
                    raise AnnotationError(f"{where}: no label in {folder}")
                targets[key] = index[name]
            samples.append(Sample(prefix + name, (a_index[name], b_index[name]), targets))
        return samples

    def _label_indexes(self, base: Path) -> dict[str, tuple[Path, dict[str, Path]]]:
        """Target key -> (label folder, its files by stem); empty for pairs without labels."""
        folder = _first_dir(base, self._labels)
        return {} if folder is None else {"mask": (folder, index_by_stem(folder))}

    def load_mask(self, sample: Sample) -> np.ndarray:
        path = sample.targets.get("mask")
        if path is None:
            raise AnnotationError(f"sample {sample.id} of {self.root} has no change label")
        return binary_change(read_image(path), path)


class SecondDataset(TripletDataset):
    """SECOND semantic change pairs: ``im1/ im2/ label1/ label2/``, the labels RGB maps of each date's land cover
    where it changed (white where it did not). ``load_mask`` is the binary change, so every change tool reads it as
    a pair set; :meth:`load_semantic` and :meth:`load_from_to` give the classes."""

    format = "second"
    land_cover = SECOND_CLASSES

    def _label_indexes(self, base: Path) -> dict[str, tuple[Path, dict[str, Path]]]:
        folders = {"mask": base / "label1", "mask2": base / "label2"}
        if not folders["mask"].is_dir():
            return {}
        if not folders["mask2"].is_dir():
            raise AnnotationError(f"{base}: SECOND labels need label2/ beside label1/")
        return {key: (folder, index_by_stem(folder)) for key, folder in folders.items()}

    def load_mask(self, sample: Sample) -> np.ndarray:
        """0 = no change, 1 = change: where the first date's label is not the no-change white."""
        return (self.load_semantic(sample, 0) != NO_CHANGE).astype(np.uint8)

    def load_semantic(self, sample: Sample, which: int = 0) -> np.ndarray:
        """Date ``which``'s (H, W) uint8 land-cover index (into :data:`SECOND_CLASSES`), 255 where unchanged."""
        path = sample.targets.get("mask2" if which else "mask")
        if path is None:
            raise AnnotationError(f"sample {sample.id} of {self.root} has no SECOND label")
        return decode_second(read_image(path), path)

    def load_from_to(self, sample: Sample) -> np.ndarray:
        """The (H, W) uint8 from-to class: 0 = no change, else ``1 + from * 6 + to`` (names: :meth:`from_to_classes`).
        The two dates must agree on where change is."""
        before, after = self.load_semantic(sample, 0), self.load_semantic(sample, 1)
        odd = (before == NO_CHANGE) != (after == NO_CHANGE)
        if odd.any():
            y, x = np.unravel_index(int(np.argmax(odd)), odd.shape)
            raise AnnotationError(
                f"{sample.targets['mask']} and {sample.targets['mask2']}: one date says change and the other not"
                f" at x={x}, y={y}"
            )
        n = len(SECOND_CLASSES)
        return np.where(before == NO_CHANGE, 0, 1 + before.astype(np.int64) * n + after).astype(np.uint8)

    def from_to_classes(self) -> tuple[str, ...]:
        """The names of :meth:`load_from_to`'s values, index = value: ``"no change"``, ``"low vegetation -> low
        vegetation"``, ``"low vegetation -> non-vegetated ground surface"`` ..."""
        return FROM_TO_CLASSES


def decode_second(arr: np.ndarray, path: Path) -> np.ndarray:
    """A SECOND RGB label -> uint8 class index, 255 for the no-change white; any other colour is an error naming
    the first pixel that has it (a wrong file, or a resampled label, must not score silently)."""
    if arr.shape[0] < 3:
        raise AnnotationError(f"{path}: a SECOND label is an RGB colour map; it has {arr.shape[0]} band(s)")
    rgb = arr[:3].astype(np.uint32)
    code = (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]
    pos = np.clip(np.searchsorted(_SECOND_CODES, code), 0, len(_SECOND_CODES) - 1)
    known = _SECOND_CODES[pos] == code
    if not known.all():
        y, x = np.unravel_index(int(np.argmin(known)), known.shape)
        colour = tuple(int(v) for v in rgb[:, y, x])
        raise AnnotationError(f"{path}: colour {colour} at x={x}, y={y} is not a SECOND class colour")
    return _SECOND_VALUES[pos]


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
        coregister: bool = False,
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
        self.coregister = coregister
        self.shifts: dict[str, Shift | None] = {}  # each city's co-registration, once its second date is read
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
        after = align(open_scene(sample.image[1]), to=before)
        if self.coregister:  # measured on the finest bands alone: only they are read
            fine = finest_bands(before.bands)
            x, y = before.read(bands=fine), after.read(bands=fine)
            valid = ~(np.ma.getmaskarray(x).any(0) | np.ma.getmaskarray(y).any(0))
            after, self.shifts[sample.id] = coregister(after, np.ma.getdata(x), np.ma.getdata(y), valid)
        return after.read()

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


def set_coregistration(dataset: Dataset, asked: bool | None, default: bool) -> None:
    """Whether ``dataset`` (an OSCD one) co-registers its pairs: as ``asked``, else ``default``. Triplets are chips
    read as their images, with no georeference to move: asking for it there is an error."""
    if not isinstance(dataset, OscdDataset):
        if asked:
            raise RsvisionError(
                f"{dataset.root}: --coregister applies to OSCD pairs (georeferenced band folders), not to "
                f"{dataset.format} chips"
            )
        return
    dataset.coregister = default if asked is None else asked


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
