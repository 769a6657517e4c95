"""Decode a folder dataset once into an (N, C, S, S) array on disk, then memory-map it for training.

Decoding and resizing JPEGs costs more than a small network's step on two cores, so each image is
read and resized (bilinear, antialiased) once; a sidecar ``.json`` records the sample ids and size,
and a cache that no longer matches its dataset is rebuilt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rsvision.core.progress import progress_bar
from rsvision.datasets.base import Dataset
from rsvision.errors import UnreadableRasterError


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape[-2:] == (size, size):
        return image
    t = torch.from_numpy(image.astype(np.float32))[None]
    out = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0].numpy()
    if image.dtype.kind in "ui":
        info = np.iinfo(image.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(image.dtype)


def image_cache(dataset: Dataset, size: int, path: str | os.PathLike, progress: bool = True) -> np.ndarray:
    """Images of ``dataset`` resized to ``size`` x ``size``, stored at ``path`` (.npy) and memory-mapped.

    Every image must have the band count and dtype of the first one.
    """
    path = Path(path)
    meta_path = path.with_suffix(".json")
    ids = [s.id for s in dataset]
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("ids") == ids and meta.get("size") == size:
            return np.load(path, mmap_mode="r")
    path.parent.mkdir(parents=True, exist_ok=True)
    first = dataset.load_image(dataset[0])
    tmp = path.with_name(path.stem + ".part.npy")
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=first.dtype, shape=(len(ids), first.shape[0], size, size))
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task(f"caching {len(ids)} images at {size} px", total=len(ids))
        for i, sample in enumerate(dataset):
            image = first if i == 0 else dataset.load_image(sample)
            if image.shape[0] != first.shape[0] or image.dtype != first.dtype:
                raise UnreadableRasterError(
                    f"{sample.image}: {image.shape[0]} bands of {image.dtype}, but the dataset's "
                    f"first image has {first.shape[0]} of {first.dtype}"
                )
            arr[i] = _resize(image, size)
            bar.advance(task)
    arr.flush()
    del arr
    os.replace(tmp, path)
    meta_path.write_text(json.dumps({"size": size, "ids": ids}))
    return np.load(path, mmap_mode="r")


def band_statistics(
    images: np.ndarray | Sequence[np.ndarray], scale: float, chunk: int = 512
) -> tuple[list[float], list[float]]:
    """Per-band mean and standard deviation of ``images / scale``, in float64: over an (N, C, H, W) array (read
    ``chunk`` images at a time), or a list of (C, H, W) images of any sizes."""
    if isinstance(images, np.ndarray):
        batches = (images[start : start + chunk] for start in range(0, len(images), chunk))
    else:
        batches = (image[None] for image in images)
    total, sq, n = 0.0, 0.0, 0
    for batch in batches:
        x = np.asarray(batch, dtype=np.float64) / scale
        total += x.sum(axis=(0, 2, 3))
        sq += (x * x).sum(axis=(0, 2, 3))
        n += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / n
    std = np.sqrt(np.maximum(sq / n - mean * mean, 1e-12))
    return mean.tolist(), std.tolist()
