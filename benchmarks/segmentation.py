"""Segmentation: the built-in land-cover model against the standard baseline, U-Net over ResNet-18 from the same
library trained by the same recipe (`python -m rsvision.train.recipes dubai_landcover_resnet18 --data
../shared/data/dubai_segmentation --out runs/dubai_cmp`), so that the built-in model's choice is shown.

For each model, in a child process of its own (so that peak memory is its own): `rsvision segment` through the
engine on an 8,192 x 8,192 RGB scene (Dubai tile 7's first image mirrored to that size, DEFLATE, 512 px blocks;
made once), Mpix/s and peak RSS of that run; then the tile 7 mIoU as `rsvision eval segmentation` measures it.
Figures depend on what else runs on the machine: run it on an idle one.

    .venv/bin/python benchmarks/segmentation.py --data ../shared/data/dubai_segmentation
    .venv/bin/python benchmarks/segmentation.py --size 2048          # quick
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from PIL import Image

from rsvision.engine.progress import peak_rss_mb

BUILTIN = "dubai_landcover_fpn"
BASELINE = "runs/dubai_cmp/dubai_landcover_unet_resnet18.safetensors"
SCENES = Path("/tmp/rsvision-bench-segmentation")


def make_scene(data: Path, size: int) -> Path:
    """An RGB GeoTIFF of ``size`` x ``size`` pixels: tile 7's first image mirrored across it (made once)."""
    path = SCENES / f"dubai_mirrored_{size}.tif"
    if path.exists():
        return path
    SCENES.mkdir(parents=True, exist_ok=True)
    image = np.asarray(Image.open(sorted((data / "Tile 7" / "images").iterdir())[0]).convert("RGB")).transpose(2, 0, 1)
    mirrored = np.concatenate([image, image[:, :, ::-1]], axis=2)
    mirrored = np.concatenate([mirrored, mirrored[:, ::-1]], axis=1)
    reps = (1, -(-size // mirrored.shape[1]), -(-size // mirrored.shape[2]))
    profile = dict(driver="GTiff", width=size, height=size, count=3, dtype="uint8", crs="EPSG:32640", tiled=True)
    profile.update(blockxsize=512, blockysize=512, compress="deflate", transform=Affine(0.5, 0, 3e5, 0, -0.5, 2.8e6))
    partial = path.with_suffix(".partial.tif")
    with rasterio.open(partial, "w", **profile) as dst:
        dst.write(np.tile(mirrored, reps)[:, :size, :size])
    partial.rename(path)
    return path


def measure(model: str, scene: Path, data: Path, threads: int) -> dict:
    """One model's figures (run in the child process)."""
    from rsvision.bench.model_eval import evaluate_segmenter
    from rsvision.core.settings import torch_threads
    from rsvision.datasets.masks import DUBAI_COLORS
    from rsvision.datasets.registry import open_dataset
    from rsvision.models.resolve import resolve_model
    from rsvision.models.weights import Task
    from rsvision.workflows.segment import segment_scene

    with torch_threads(threads):
        loaded = resolve_model(model, Task.SEGMENTATION, "segment")
        out = SCENES / f"classes_{loaded.weights.name}.tif"
        out.unlink(missing_ok=True)
        started = time.perf_counter()
        segment_scene(scene, loaded, out, threads=threads, quiet=True)
        seconds = time.perf_counter() - started
        peak = peak_rss_mb()
        with rasterio.open(scene) as ds:
            mpix = ds.width * ds.height / 1e6
        test = open_dataset(str(data), "color-mask", split="Tile 7", colors=DUBAI_COLORS)
        scores = evaluate_segmenter(loaded, test)
    return {
        "model": loaded.weights.name,
        "miou_tile7": round(scores["miou"], 4),
        "mpix_per_s": round(mpix / seconds, 3),
        "peak_rss_mb": round(peak),
        "scene_seconds": round(seconds, 1),
        "train_seconds": loaded.weights.notes.get("train_seconds"),
        "parameters": sum(p.numel() for p in loaded.module.parameters()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/dubai_segmentation"))
    parser.add_argument("--model", default=BUILTIN, help="the model measured (default: the built-in)")
    parser.add_argument("--baseline", default=BASELINE, help="the baseline's weights file")
    parser.add_argument("--size", type=int, default=8192, help="side of the scene in pixels")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process: measure this model only
    args = parser.parse_args()
    scene = make_scene(args.data, args.size)
    if args.one:
        print(json.dumps(measure(args.one, scene, args.data, args.threads)))
        return
    if not Path(args.baseline).exists():
        sys.exit(
            f"no baseline weights at {args.baseline}: build them with `python -m rsvision.train.recipes "
            f"dubai_landcover_resnet18 --data {args.data} --out {Path(args.baseline).parent}`"
        )
    figures = {}
    for key, model in (("", args.model), ("baseline_", args.baseline)):
        command = [sys.executable, __file__, "--one", model, "--data", str(args.data), "--size", str(args.size)]
        child = subprocess.run([*command, "--threads", str(args.threads)], capture_output=True, text=True)
        if child.returncode:
            sys.exit(child.stderr.strip().splitlines()[-1])
        one = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"{one['model']}: tile 7 mIoU {one['miou_tile7']:.4f}, {one['mpix_per_s']:.3f} Mpix/s on {args.size}^2 "
            f"({one['scene_seconds']} s), peak {one['peak_rss_mb']} MB, {one['parameters']:,} parameters, "
            f"trained in {one['train_seconds']} s"
        )
        figures.update({f"{key}{k}": v for k, v in one.items()})
    figures["scene_px"] = args.size
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
