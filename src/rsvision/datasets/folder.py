"""Scene classification from image folders: one subfolder per class (AID, UCM, RESISC45, EuroSAT, RSSCN7).

Splits: all images by default; ``rsicd-train`` / ``rsicd-test`` keep the images named in RSICD's
file lists (``captions/rsicd_precomp`` beside the image folder, or ``split_file``); any other split
comes from ``split_file`` (one name per line: a file name, a ``Class/name`` path or a stem).
:func:`rsvision.datasets.base.stratified_split` makes seeded per-class splits.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from rsvision.datasets.base import (
    Dataset,
    Issues,
    Sample,
    is_image,
    list_images,
    read_split_names,
    require_dir,
)
from rsvision.datasets.captions import find_rsicd_precomp, read_rsicd_precomp
from rsvision.errors import AnnotationError, InputNotFoundError
from rsvision.io.scene import split_band_files

RSICD_SPLITS = {"rsicd-train": "train", "rsicd-test": "test"}


def list_folder_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` and its subfolders (hidden ones skipped), sorted by path."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(Path(root) / f for f in files if is_image(Path(f)))
    return sorted(out)


def is_band_folder(path: Path) -> bool:
    """Whether a folder holds the band files of one scene, as :func:`rsvision.io.open_scene` stacks it: some raster
    file directly in it names its band (``..._B02.tif``; others beside it are left out of the stack) and no
    subfolder holds images."""
    named, _ = split_band_files(path)
    subdirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return bool(named) and not any(list_folder_images(d) for d in subdirs)


def _class_root(root: Path) -> Path:
    """Step into single wrapper folders (``UCMerced_LandUse/Images/<class>``) until class folders appear."""
    while True:
        subdirs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        has_images = any(is_image(p) for p in root.iterdir() if p.is_file())
        if len(subdirs) == 1 and not has_images and not any(is_image(p) for p in subdirs[0].iterdir() if p.is_file()):
            root = subdirs[0]
            continue
        return root


class FolderDataset(Dataset):
    """Images in class subfolders; ``targets = {"label": class index}``; classes are the sorted folder names."""

    format = "folder"
    task = "classification"

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = None,
        split_file: str | os.PathLike | None = None,
        classes: Sequence[str] | None = None,
    ):
        root = require_dir(root, "image folder")
        base = _class_root(root)
        if classes is None:
            classes = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
            classes = [c for c in classes if any(is_image(p) for p in (base / c).iterdir())]
        if not classes:
            raise AnnotationError(f"{root}: no class subfolders with images (expected <class>/<image> files)")
        samples = []
        for label, name in enumerate(classes):
            folder = base / name
            if not folder.is_dir():
                raise InputNotFoundError(f"{root}: no folder for class {name!r}")
            for path in list_images(folder):
                samples.append(Sample(id=f"{name}/{path.name}", image=path, targets={"label": label}))
        issues = Issues(root)
        if split in (None, "all") and split_file is None:
            chosen = samples
        elif split in RSICD_SPLITS:
            chosen = self._rsicd(root, samples, split, split_file, issues)
        elif split_file is not None:
            chosen = self._listed(samples, Path(split_file), issues)
        else:
            raise AnnotationError(
                f"{root}: unknown split {split!r} for an image folder; use rsicd-train, rsicd-test or give a split file"
            )
        super().__init__(root, chosen, classes, split, issues.emit())

    @staticmethod
    def _rsicd(root: Path, samples: list[Sample], split: str, split_file, issues: Issues) -> list[Sample]:
        if split_file is not None:
            names = read_split_names(split_file)
            source = Path(split_file)
        else:
            precomp = find_rsicd_precomp(root)
            if precomp is None:
                raise InputNotFoundError(
                    f"{root}: split {split} needs RSICD's lists in captions/rsicd_precomp beside the image folder"
                    " (or give --split-file)"
                )
            names = [name for name, _ in read_rsicd_precomp(precomp, RSICD_SPLITS[split])]
            source = precomp / f"{RSICD_SPLITS[split]}_filename.txt"
        wanted = set(names)
        chosen = [s for s in samples if s.image.name in wanted]
        found = {s.image.name for s in chosen}
        missing = [n for n in names if n not in found]
        issues.add(
            "missing",
            f"names of {source.name} are not images of this folder and were skipped",
            f"{source}: {missing[0]}" if missing else "",
            len(missing),
        )
        return chosen

    @staticmethod
    def _listed(samples: list[Sample], split_file: Path, issues: Issues) -> list[Sample]:
        names = read_split_names(split_file)
        by_key: dict[str, Sample] = {}
        for s in samples:
            for key in (s.id, s.image.name, s.image.stem):
                by_key.setdefault(key, s)
        chosen, seen, missing = [], set(), []
        for n in names:
            s = by_key.get(n.replace("\\", "/"))
            if s is None:
                missing.append(n)
            elif s.id not in seen:
                seen.add(s.id)
                chosen.append(s)
        issues.add(
            "missing",
            f"names of {split_file.name} are not images of this folder and were skipped",
            f"{split_file}: {missing[0]}" if missing else "",
            len(missing),
        )
        return chosen
