"""Image captions: RSICD's ``*_precomp`` text files and the Karpathy-style dataset JSON.

RSICD precomp (``train_filename.txt`` + ``train_caps.txt``, same for ``test``) comes in two layouts,
both read here: one name per image with ``k`` caption lines per name (caption line ``i`` belongs to
name ``i // k``), or one name line per caption line. The Karpathy JSON (RSICD, UCM-captions,
Sydney-captions) is ``{"images": [{"filename", "split", "sentences": [{"raw", "tokens"}]}]}``.
Samples carry ``captions`` (list[str]) and ``tokens`` (list[list[str]]).
"""

from __future__ import annotations

import os
from pathlib import Path

from rsvision.datasets.base import (
    Dataset,
    Issues,
    Sample,
    is_image,
    read_json,
    read_lines,
    require_dir,
    require_file,
)
from rsvision.errors import AnnotationError, InputNotFoundError

_PRECOMP_SPLITS = {
    "train": "train",
    "test": "test",
    "val": "val",
    "rsicd-train": "train",
    "rsicd-test": "test",
    "rsicd-val": "val",
}


def read_rsicd_precomp(folder: str | os.PathLike, split: str) -> list[tuple[str, list[str]]]:
    """``[(image name, [captions])]`` of one split (``train``, ``test``, ``val``), in file order."""
    folder = Path(folder)
    names_path = require_file(folder / f"{split}_filename.txt", "RSICD file list")
    caps_path = require_file(folder / f"{split}_caps.txt", "RSICD caption file")
    names = read_lines(names_path)
    caps = read_lines(caps_path)
    if not names:
        raise AnnotationError(f"{names_path}: empty file list")
    out: dict[str, list[str]] = {}
    if len(caps) == len(names):  # one name line per caption line
        for name, cap in zip(names, caps):
            out.setdefault(name, []).append(cap)
    elif len(caps) % len(names) == 0 and len(set(names)) == len(names):
        k = len(caps) // len(names)
        for i, name in enumerate(names):
            out[name] = caps[i * k : (i + 1) * k]
    else:
        raise AnnotationError(
            f"{caps_path}: {len(caps)} caption lines do not fit the {len(names)} names of {names_path.name}"
            " (expected one line per name line, or the same number of lines per name)"
        )
    return list(out.items())


def _index_images(root: Path) -> dict[str, Path]:
    """``{file name: path}`` of every image under ``root`` (first in sorted walk order wins)."""
    index: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath, name)
            if is_image(p):
                index.setdefault(name, p)
    return index


def _attach(
    samples: list[tuple[str, list[str], list[list[str]]]], images: dict[str, Path], issues: Issues, source: Path
) -> list[Sample]:
    out = []
    missing = [name for name, _, _ in samples if name not in images]
    for name, caps, toks in samples:
        if name in images:
            out.append(Sample(id=name, image=images[name], targets={"captions": caps, "tokens": toks}))
    issues.add(
        "missing",
        "captioned images are not in the image folder and were skipped",
        f"{source}: {missing[0]}" if missing else "",
        len(missing),
    )
    return out


def find_rsicd_precomp(image_root: Path) -> Path | None:
    """``captions/rsicd_precomp`` beside (or inside) an image folder, if present."""
    for base in (image_root.parent, image_root):
        candidate = base / "captions" / "rsicd_precomp"
        if (candidate / "train_filename.txt").is_file():
            return candidate
    return None


class RsicdDataset(Dataset):
    """RSICD precomp captions joined to images found by file name (AID images reuse RSICD's names).

    ``path`` is the ``rsicd_precomp`` folder, or an image folder with ``captions/rsicd_precomp`` beside it.
    ``images`` names the image folder when it is not next to the captions. ``split`` is ``train`` /
    ``test`` (or ``rsicd-train`` / ``rsicd-test``); None reads both.
    """

    format = "rsicd"
    task = "captioning"

    def __init__(self, path: str | os.PathLike, split: str | None = None, images: str | os.PathLike | None = None):
        path = require_dir(path, "RSICD folder")
        if (path / "train_filename.txt").is_file() or (path / "test_filename.txt").is_file():
            precomp, image_root = path, Path(images) if images else self._guess_images(path)
        else:
            precomp = find_rsicd_precomp(path)
            if precomp is None:
                raise InputNotFoundError(
                    f"{path}: no rsicd_precomp caption files here or in captions/rsicd_precomp beside it"
                )
            image_root = Path(images) if images else path
        image_root = require_dir(image_root, "image folder")
        if split is not None and split not in _PRECOMP_SPLITS:
            raise AnnotationError(f"{precomp}: unknown split {split!r}; use train or test")
        splits = (
            [_PRECOMP_SPLITS[split]]
            if split
            else [s for s in ("train", "val", "test") if (precomp / f"{s}_caps.txt").is_file()]
        )
        issues = Issues(precomp)
        index = _index_images(image_root)
        samples: list[Sample] = []
        for s in splits:
            entries = [(n, caps, [c.split() for c in caps]) for n, caps in read_rsicd_precomp(precomp, s)]
            samples += _attach(entries, index, issues, precomp / f"{s}_filename.txt")
        self.precomp = precomp
        super().__init__(image_root, samples, (), split, issues.emit())

    @staticmethod
    def _guess_images(precomp: Path) -> Path:
        candidates = [
            precomp / "images",
            precomp.parent / "images",
            precomp.parent / "RSICD_images",
            precomp.parent.parent / "AID",
            precomp.parent.parent / "RSICD_images",
            precomp.parent.parent / "images",
        ]
        for c in candidates:
            if c.is_dir():
                return c
        raise InputNotFoundError(
            f"{precomp}: cannot find the image folder (tried {', '.join(str(c) for c in candidates)}); pass images="
        )


class CaptionJsonDataset(Dataset):
    """Karpathy-style caption JSON; images under ``images`` (default: ``filepath`` of each entry, else a folder
    named ``images``, ``imgs`` or ``RSICD_images`` beside the JSON). ``split`` filters on each entry's split."""

    format = "caption-json"
    task = "captioning"

    def __init__(self, path: str | os.PathLike, split: str | None = None, images: str | os.PathLike | None = None):
        path = require_file(path, "caption JSON")
        data = read_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise AnnotationError(f'{path}: expected {{"images": [...]}} (Karpathy caption JSON)')
        if images is None:
            found = [path.parent / n for n in ("images", "imgs", "RSICD_images") if (path.parent / n).is_dir()]
            image_root = found[0] if found else path.parent
        else:
            image_root = require_dir(images, "image folder")
        issues = Issues(path)
        entries, splits_seen = [], set()
        for k, item in enumerate(data["images"]):
            where = f"{path}: images[{k}]"
            if not isinstance(item, dict) or "filename" not in item or not isinstance(item.get("sentences"), list):
                raise AnnotationError(f"{where}: needs 'filename' and a 'sentences' list")
            splits_seen.add(item.get("split"))
            if split is not None and item.get("split") != split:
                continue
            caps, toks = [], []
            for sent in item["sentences"]:
                if not isinstance(sent, dict) or "raw" not in sent:
                    raise AnnotationError(f"{where}: a sentence lacks 'raw'")
                caps.append(str(sent["raw"]).strip())
                toks.append([str(t) for t in sent.get("tokens") or caps[-1].split()])
            folder = image_root / item["filepath"] if item.get("filepath") and images is None else image_root
            entries.append((item["filename"], caps, toks, folder / item["filename"]))
        if split is not None and not entries:
            raise AnnotationError(f"{path}: no images in split {split!r}; splits here: {sorted(map(str, splits_seen))}")
        samples = []
        missing = [e for e in entries if not e[3].is_file()]
        for name, caps, toks, p in entries:
            if p.is_file():
                samples.append(Sample(id=name, image=p, targets={"captions": caps, "tokens": toks}))
        issues.add(
            "missing",
            "captioned images are missing and were skipped",
            str(missing[0][3]) if missing else "",
            len(missing),
        )
        super().__init__(image_root, samples, (), split, issues.emit())
