"""Format names -> reader classes, named datasets -> (format, classes, split, path), and format guessing.

``open_dataset("dota8")`` opens a named dataset from the data root: the ``root`` argument, else
``$RSVISION_DATA`` (nothing is guessed from where the code or the working directory is).
``open_dataset(path)`` guesses the format (:func:`guess_format`), and a path laid out as a named dataset (its
folder under the data root, or a folder whose path ends the way the dataset's does, such as
``.../dubai_segmentation``) gets that dataset's classes and options too.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from rsvision.datasets.base import Dataset, is_image, read_json
from rsvision.datasets.captions import CaptionJsonDataset, RsicdDataset
from rsvision.datasets.change import OscdDataset, SecondDataset, TripletDataset
from rsvision.datasets.coco import CocoDataset
from rsvision.datasets.dota import DOTA_V1_CLASSES, DOTA_V15_CLASSES, DotaDataset
from rsvision.datasets.folder import FolderDataset
from rsvision.datasets.grounding import RsvgDataset
from rsvision.datasets.masks import DUBAI_COLORS, ColorMaskDataset, IndexMaskDataset
from rsvision.datasets.voc import DiorRDataset, HrscDataset, VocDataset
from rsvision.datasets.vqa import RsvqaDataset
from rsvision.datasets.xml import parse_xml
from rsvision.datasets.yolo import YoloDataset
from rsvision.errors import AnnotationError, InputNotFoundError

# format name -> (reader class, fixed options)
FORMATS: dict[str, tuple[type[Dataset], dict]] = {
    "folder": (FolderDataset, {}),
    "voc": (VocDataset, {}),
    "dior-r": (DiorRDataset, {}),
    "hrsc": (HrscDataset, {}),
    "dota": (DotaDataset, {}),
    "yolo": (YoloDataset, {"oriented": False}),
    "yolo-obb": (YoloDataset, {"oriented": True}),
    "coco": (CocoDataset, {}),
    "oscd": (OscdDataset, {}),
    "triplets": (TripletDataset, {}),
    "second": (SecondDataset, {}),
    "color-mask": (ColorMaskDataset, {}),
    "index-mask": (IndexMaskDataset, {}),
    "rsicd": (RsicdDataset, {}),
    "caption-json": (CaptionJsonDataset, {}),
    "rsvqa": (RsvqaDataset, {}),
    "rsvg": (RsvgDataset, {}),
}

DIOR_CLASSES = (
    "airplane", "airport", "baseballfield", "basketballcourt", "bridge", "chimney", "dam",
    "Expressway-Service-area", "Expressway-toll-station", "golffield", "groundtrackfield", "harbor",
    "overpass", "ship", "stadium", "storagetank", "tenniscourt", "trainstation", "vehicle", "windmill",
)  # fmt: skip


@dataclass(frozen=True)
class DatasetInfo:
    """A named dataset: its format, class list (None: read from the data), default split, path under
    the data root, reader options, and options that are paths under the data root."""

    name: str
    format: str
    path: str
    classes: tuple[str, ...] | None = None
    default_split: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    path_options: dict[str, str] = field(default_factory=dict)


REGISTRY: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        DatasetInfo("aid", "folder", "AID"),
        DatasetInfo("dota8", "yolo-obb", "dota/dota8", DOTA_V1_CLASSES),
        DatasetInfo("dota-v1.0", "dota", "dota/devkit_example", DOTA_V1_CLASSES),
        DatasetInfo("dota-v1.5", "dota", "DOTA-v1.5", DOTA_V15_CLASSES),
        DatasetInfo("dior", "voc", "DIOR", DIOR_CLASSES, "test"),
        DatasetInfo("dior-r", "dior-r", "format_samples/dior", DIOR_CLASSES),
        DatasetInfo("hrsc2016", "hrsc", "format_samples/hrsc", ("ship",)),
        DatasetInfo("neon-trees", "voc", "neon_trees", ("Tree",)),
        DatasetInfo("levir-cd", "triplets", "change_samples/samples_LEVIR"),
        DatasetInfo("dsifn", "triplets", "change_samples/samples_DSIFN"),
        DatasetInfo("oscd", "oscd", "oscd", None, "train"),
        DatasetInfo("dubai", "color-mask", "dubai_segmentation", tuple(DUBAI_COLORS), options={"colors": DUBAI_COLORS}),
        DatasetInfo("rsicd", "rsicd", "captions/rsicd_precomp", None, "test", path_options={"images": "AID"}),
        DatasetInfo("rsvqa-lr", "rsvqa", "RSVQA-LR", None, "test"),
        DatasetInfo("rsvg", "rsvg", "format_samples/rsvg", path_options={"images": "format_samples/dior/JPEGImage"}),
    )
}


def data_root(root: str | os.PathLike | None = None) -> Path | None:
    """Where named datasets live: ``root`` when given, else ``$RSVISION_DATA``, else None."""
    if root is not None:
        return Path(root)
    env = os.environ.get("RSVISION_DATA")
    return Path(env) if env else None


def dataset_path(name: str, root: str | os.PathLike | None = None) -> Path:
    """Location of a named dataset under the data root."""
    base = data_root(root)
    if base is None:
        raise InputNotFoundError(
            f"dataset {name!r} is named, but no data root is set: set RSVISION_DATA to the "
            "folder that holds the datasets, or give the dataset's path"
        )
    return base / _info(name).path


def _info(name: str) -> DatasetInfo:
    if name not in REGISTRY:
        raise AnnotationError(f"unknown dataset {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def _registered_at(path: Path, root: Path | None) -> tuple[DatasetInfo, Path] | None:
    """The named dataset laid out at ``path`` and its data root: under ``root`` when set, else the dataset whose
    relative path ends ``path`` (``.../shared/data/dubai_segmentation`` is ``dubai``, root ``.../shared/data``)."""
    try:
        resolved = path.resolve()
    except OSError:
        return None
    for info in REGISTRY.values():
        parts = Path(info.path).parts
        if root is not None and (root / info.path).resolve() == resolved:
            return info, root
        if root is None and resolved.parts[-len(parts) :] == parts:
            return info, Path(*resolved.parts[: -len(parts)])
    return None


def open_dataset(
    path: str | os.PathLike,
    format: str | None = None,
    split: str | None = None,
    *,
    root: str | os.PathLike | None = None,
    **kw,
) -> Dataset:
    """Open a dataset by path (format guessed when not given) or by registered name (``aid``, ``dota8`` ...)
    under the data root (``root``, else ``$RSVISION_DATA``).

    ``split`` and other keywords go to the reader (``classes``, ``images``, ``split_file`` ...); a named
    dataset fills in its classes, default split and options unless given here.
    """
    p = Path(path)
    info, base = None, data_root(root)
    if not p.exists() and str(path) in REGISTRY:
        info = REGISTRY[str(path)]
        p = dataset_path(info.name, base)
        if not p.exists():
            raise InputNotFoundError(f"dataset {info.name!r} is not at {p} (set RSVISION_DATA to its data root)")
    elif not p.exists():
        raise InputNotFoundError(f"no such dataset path or name: {path} (names: {', '.join(sorted(REGISTRY))})")
    else:
        found = _registered_at(p, base)
        info, base = found if found else (None, base)
    if info is not None and format is not None and format != info.format:
        info = None  # the caller reads the files another way; the registered options do not apply
    fmt = format or (info.format if info else guess_format(p))
    if fmt not in FORMATS:
        raise AnnotationError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    cls, fixed = FORMATS[fmt]
    options: dict[str, Any] = {}
    if info is not None:
        if info.classes is not None and "classes" in inspect.signature(cls).parameters:
            options["classes"] = info.classes
        options.update(info.options)
        options.update({k: base / v for k, v in info.path_options.items()})  # type: ignore[operator]
        if split is None:
            split = info.default_split
    options.update(kw)
    options.update(fixed)
    if split is not None:
        options["split"] = split
    params = inspect.signature(cls).parameters
    unknown = [k for k in options if k not in params]
    if unknown:
        raise AnnotationError(f"format {fmt!r} takes no option {unknown[0]!r}; options: {', '.join(list(params)[1:])}")
    return cls(p, **options)


# ----------------------------------------------------------------------------- guessing


def guess_format(path: str | os.PathLike) -> str:
    """The format name of a dataset path, from its layout and a peek at one annotation file."""
    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(f"no such dataset path: {p}")
    if p.is_file():
        return _guess_file(p)
    if not any(f for f in p.iterdir() if not f.name.startswith(".")):
        raise AnnotationError(f"{p} is an empty folder: no images or annotations to read")
    found = _registered_at(p, data_root())
    if found is not None:
        return found[0].format
    if (p / "labelTxt").is_dir() or any((p / s / "labelTxt").is_dir() for s in ("train", "val", "test")):
        return "dota"
    if ((p / "images").is_dir() and any((c / "imgs_1").is_dir() for c in (p / "images").iterdir())) or (
        any((c / "imgs_1").is_dir() for c in p.iterdir() if c.is_dir())
    ):
        return "oscd"
    pair_dirs = [p, *(p / s for s in ("train", "val", "test")), *(p / "subset" / s for s in ("train", "val", "test"))]
    if any((d / "label1").is_dir() and _has_pair(d) for d in pair_dirs):
        return "second"
    if any(_has_pair(d) for d in pair_dirs):
        return "triplets"
    if (p / "train_caps.txt").is_file() or (p / "test_caps.txt").is_file():
        return "rsicd"
    if list(p.glob("*_questions.json")):
        return "rsvqa"
    if (p / "images").is_dir() and (p / "labels").is_dir():
        return _guess_yolo(p)
    masks = _mask_folder(p)
    if masks is not None:
        return _guess_mask(masks)
    xml = _first_xml(p)
    if xml is not None:
        return _guess_xml(xml)
    jsons = sorted(p.glob("*.json"))
    if len(jsons) == 1:
        return _guess_file(jsons[0])
    subdirs = [d for d in p.iterdir() if d.is_dir() and not d.name.startswith(".")]
    if subdirs and any(is_image(f) for d in subdirs for f in _first(d, 20)):
        return "folder"
    raise AnnotationError(f"cannot guess the dataset format of {p}; pass --format ({', '.join(FORMATS)})")


def _first(folder: Path, n: int) -> list[Path]:
    out = []
    for f in folder.iterdir():
        out.append(f)
        if len(out) >= n:
            break
    return out


def _has_pair(p: Path) -> bool:
    return p.is_dir() and any(
        (p / a).is_dir() and (p / b).is_dir()
        for a, b in (("A", "B"), ("Image1", "Image2"), ("im1", "im2"), ("t1", "t2"), ("T1", "T2"))
    )


def _guess_file(p: Path) -> str:
    if p.suffix.lower() == ".xml":
        return _guess_xml(p)
    if p.name.endswith("_questions.json"):
        return "rsvqa"
    if p.suffix.lower() == ".json":
        data = read_json(p)
        if isinstance(data, dict) and {"images", "annotations", "categories"} <= data.keys():
            return "coco"
        if (
            isinstance(data, dict)
            and isinstance(data.get("images"), list)
            and data["images"]
            and "sentences" in data["images"][0]
        ):
            return "caption-json"
        if isinstance(data, dict) and "questions" in data:
            return "rsvqa"
    raise AnnotationError(f"cannot guess the dataset format of {p}; pass --format ({', '.join(FORMATS)})")


def _first_xml(p: Path) -> Path | None:
    for sub in (
        "Annotations/Oriented Bounding Boxes",
        "Annotations/Horizontal Bounding Boxes",
        "FullDataSet/Annotations",
        "Annotations",
        ".",
    ):
        d = p / sub
        if d.is_dir():
            found = next((f for f in sorted(d.iterdir()) if f.suffix.lower() == ".xml"), None)
            if found is not None:
                return found
    return None


def _guess_xml(p: Path) -> str:
    root = parse_xml(p)
    if root.tag == "HRSC_Image":
        return "hrsc"
    objects = list(root.iter("object"))
    if any(o.find("robndbox") is not None for o in objects):
        return "dior-r"
    if any(o.find("description") is not None for o in objects):
        return "rsvg"
    return "voc"


def _guess_yolo(p: Path) -> str:
    for f in sorted((p / "labels").rglob("*.txt")):
        for line in f.read_text(encoding="utf-8-sig").splitlines():
            n = len(line.split())
            if n:
                return "yolo-obb" if n == 9 else "yolo"
    return "yolo"


def _mask_folder(p: Path) -> Path | None:
    for folder in [p, *sorted(d for d in p.iterdir() if d.is_dir())]:
        if (folder / "images").is_dir() and (folder / "masks").is_dir():
            masks = sorted(f for f in (folder / "masks").iterdir() if is_image(f))
            if masks:
                return masks[0]
    return None


def _guess_mask(mask: Path) -> str:
    with Image.open(mask) as im:
        return (
            "index-mask"
            if im.mode in ("L", "I", "I;16", "1") or (im.mode == "P" and (mask.parent.parent / "classes.txt").is_file())
            else "color-mask"
        )
