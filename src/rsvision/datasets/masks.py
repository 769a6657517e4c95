"""Semantic segmentation masks: colour-coded RGB masks with a colour table, and index masks.

Layout: ``root/images/*`` with ``root/masks/*`` matched by stem, or subfolders each holding such a pair
(the Dubai set's ``Tile 1`` .. ``Tile 7``; sample ids are then ``<subfolder>/<stem>``).

Colour masks: palette PNGs are converted to RGB before mapping (the Dubai tiles 2 and 4 have their
own palette orders). Colours not in the table become ``ignore_index`` with one counted warning per
mask; more than half the pixels unknown means the table does not fit and is an error.
The Dubai release's ``classes.json`` lists colours that do not occur in its masks: when those are
read, the colours checked against the images (:data:`DUBAI_COLORS`) are used instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from rsvision.datasets.base import (
    Dataset,
    Sample,
    index_by_stem,
    list_images,
    read_json,
    read_lines,
    require_dir,
    warn,
)
from rsvision.errors import AnnotationError

# Checked against the images (../shared/data/README.md); stray #000000 pixels fall to Unlabeled.
DUBAI_COLORS = {
    "Water": "#E2A929",
    "Land (unpaved area)": "#8429F6",
    "Road": "#6EC1E4",
    "Building": "#3C1098",
    "Vegetation": "#FEDD3A",
    "Unlabeled": "#9B9B9B",
}
# What the Dubai classes.json says; recognised so that its wrong colours are never used.
_DUBAI_JSON_COLORS = {
    "Water": "#50E3C2",
    "Land (unpaved area)": "#F5A623",
    "Road": "#DE597F",
    "Building": "#D0021B",
    "Vegetation": "#417505",
    "Unlabeled": "#9B9B9B",
}


def parse_color(value: str | Sequence[int]) -> tuple[int, int, int]:
    """``"#RRGGBB"`` or ``(r, g, b)`` -> (r, g, b)."""
    if isinstance(value, str):
        h = value.strip().lstrip("#")
        if len(h) != 6:
            raise AnnotationError(f"colour {value!r} is not #RRGGBB")
        try:
            return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
        except ValueError:
            raise AnnotationError(f"colour {value!r} is not #RRGGBB") from None
    rgb = tuple(int(v) for v in value)
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise AnnotationError(f"colour {value!r} is not (r, g, b) in 0..255")
    return rgb  # type: ignore[return-value]


def _pairs(root: Path, images: str, masks: str) -> list[tuple[str, Path, Path | None]]:
    """(id, image, mask) for ``root/images`` + ``root/masks`` or each subfolder holding them."""
    if (root / images).is_dir():
        groups = [("", root)]
    else:
        groups = [(p.name + "/", p) for p in sorted(root.iterdir()) if (p / images).is_dir()]
    if not groups:
        raise AnnotationError(f"{root}: no {images}/ folder here or in its subfolders")
    out = []
    for prefix, folder in groups:
        mask_index = index_by_stem(folder / masks) if (folder / masks).is_dir() else {}
        for image in list_images(folder / images):
            out.append((f"{prefix}{image.stem}", image, mask_index.get(image.stem)))
    return out


def _in_subfolders(root: Path, samples: list[Sample], split: str) -> list[Sample]:
    """The samples of the subfolders a split names (``"Tile 7"``, or several: ``"Tile 1,Tile 2"``)."""
    folders = sorted({s.id.split("/")[0] for s in samples if "/" in s.id})
    wanted = [name.strip() for name in split.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in folders]
    if unknown or not wanted:
        known = ", ".join(folders) if folders else "none: the images are not in subfolders"
        raise AnnotationError(
            f"{root}: no subfolder {unknown[0] if unknown else split!r}; a split names subfolders ({known})"
        )
    return [s for s in samples if s.id.split("/")[0] in wanted]


class _MaskDataset(Dataset):
    task = "segmentation"

    def _build(self, root: Path, images: str, masks: str, classes: Sequence[str], split: str | None) -> None:
        samples = []
        for sid, image, mask in _pairs(root, images, masks):
            samples.append(Sample(sid, image, {"mask": mask} if mask is not None else {}))
        if split is not None:
            samples = _in_subfolders(root, samples, split)
        missing = [s.id for s in samples if "mask" not in s.targets]
        if missing and len(missing) < len(samples):
            raise AnnotationError(f"{root}: {len(missing)} images have no mask (first: {missing[0]})")
        super().__init__(root, samples, classes, split)


class ColorMaskDataset(_MaskDataset):
    """RGB colour-coded masks; ``colors`` maps class name -> ``#RRGGBB`` (default: ``classes.json`` in ``root``).

    ``ignore_index`` is the index of a class named "Unlabeled" if there is one, else 255; colours not in
    the table are set to it. ``issues["unknown_color_pixels"]`` counts them over the masks read so far.
    """

    format = "color-mask"

    def __init__(
        self,
        root: str | os.PathLike,
        colors: Mapping[str, str | Sequence[int]] | None = None,
        split: str | None = None,
        images: str = "images",
        masks: str = "masks",
    ):
        root = require_dir(root, "segmentation folder")
        if colors is None:
            colors = read_color_table(root / "classes.json")
        self.colors = {name: parse_color(c) for name, c in colors.items()}
        codes = [_code(*rgb) for rgb in self.colors.values()]
        if len(set(codes)) != len(codes):
            raise AnnotationError(f"{root}: two classes share a colour in the colour table")
        names = list(self.colors)
        lower = [n.lower() for n in names]
        self.ignore_index = lower.index("unlabeled") if "unlabeled" in lower else 255
        order = np.argsort(codes)
        self._codes = np.asarray(codes, dtype=np.uint32)[order]
        self._values = order.astype(np.uint8)
        self._build(root, images, masks, names, split)

    def load_mask(self, sample: Sample) -> np.ndarray:
        path = sample.targets.get("mask")
        if path is None:
            raise AnnotationError(f"sample {sample.id} of {self.root} has no mask")
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
        rgb = rgb.astype(np.uint32)
        code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        pos = np.clip(np.searchsorted(self._codes, code), 0, len(self._codes) - 1)
        known = self._codes[pos] == code
        out = np.where(known, self._values[pos], np.uint8(self.ignore_index)).astype(np.uint8)
        n_unknown = int(code.size - np.count_nonzero(known))
        if n_unknown:
            if n_unknown * 2 > code.size:
                raise AnnotationError(
                    f"{path}: {n_unknown} of {code.size} pixels have colours outside the colour table;"
                    " it does not fit these masks"
                )
            found = np.unique(code[~known])
            listed = ", ".join(f"#{int(c):06X}" for c in found[:5]) + (" ..." if len(found) > 5 else "")
            self.issues["unknown_color_pixels"] = self.issues.get("unknown_color_pixels", 0) + n_unknown
            warn(f"{path}: {n_unknown} pixels of unknown colour ({listed}) set to index {self.ignore_index}")
        return out


def read_color_table(path: Path) -> dict[str, str]:
    """Class name -> colour from a Supervisely-style ``classes.json`` (``{"classes": [{"title", "color"}]}``)."""
    if not path.is_file():
        raise AnnotationError(f"{path.parent}: colour masks need a colour table (colors=... or classes.json)")
    data = read_json(path)
    try:
        table = {str(c["title"]): str(c["color"]).upper() for c in data["classes"]}
    except (KeyError, TypeError) as err:
        raise AnnotationError(f'{path}: expected {{"classes": [{{"title", "color"}}]}} ({err})') from None
    if table == _DUBAI_JSON_COLORS:
        return dict(DUBAI_COLORS)
    return table


class IndexMaskDataset(_MaskDataset):
    """Single-band masks whose values are class indices; ``classes`` given or one per line in ``classes.txt``.

    Values that are neither a class index nor ``ignore_index`` become ``ignore_index`` (one counted
    warning per mask, totals in ``issues["unknown_index_pixels"]``).
    """

    format = "index-mask"

    def __init__(
        self,
        root: str | os.PathLike,
        classes: Sequence[str] | None = None,
        ignore_index: int = 255,
        split: str | None = None,
        images: str = "images",
        masks: str = "masks",
    ):
        root = require_dir(root, "segmentation folder")
        if classes is None:
            if not (root / "classes.txt").is_file():
                raise AnnotationError(
                    f"{root}: index masks need class names (classes=... or classes.txt, one per line)"
                )
            classes = read_lines(root / "classes.txt")
        self.ignore_index = int(ignore_index)
        self._build(root, images, masks, classes, split)

    def load_mask(self, sample: Sample) -> np.ndarray:
        arr = super().load_mask(sample)  # a missing or multi-band mask is refused there
        path = sample.targets["mask"]
        bad = (arr >= len(self.classes)) & (arr != self.ignore_index)
        n_bad = int(np.count_nonzero(bad))
        if n_bad:
            self.issues["unknown_index_pixels"] = self.issues.get("unknown_index_pixels", 0) + n_bad
            warn(
                f"{path}: {n_bad} pixels have values outside the {len(self.classes)} classes;"
                f" set to {self.ignore_index}"
            )
            arr = np.where(bad, self.ignore_index, arr)
        return arr


def _code(r: int, g: int, b: int) -> int:
    return (r << 16) | (g << 8) | b
