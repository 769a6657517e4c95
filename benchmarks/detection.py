"""Detection: the built-in tree-crown detector (neon_trees_retinanet, the default of `rsvision detect`) through the
engine on a large scene and its accuracy on the NEON test strips; the oriented DOTA model's AP on dota8 val and its
speed on 1,024 px images beside torchvision's FCOS over the same backbone.

Speed: `rsvision detect SCENE -o OUT.gpkg` in a child process (so that its peak memory is its own) on a 16,384 x
16,384 RGB scene (the first NEON Yellowstone crop, 0.1 m, mirrored and tiled to that size, in UTM 12N with a 0.1 m
grid, DEFLATE, 512 px blocks; made once): Mpix/s of the whole command, peak RSS of the child, number of boxes
written. Accuracy: the test strips (columns 80-100% of each image, never seen in training or model choice) written
as Pascal VOC by the recipe (`python -m rsvision.train.recipes neon_trees_strips`), scored by `rsvision eval
detection --data STRIPS/test --format voc` (AP50, VOC all-point), beside the figure the weights' card records.
Oriented: `rsvision eval detection --data DOTA/dota8 --format yolo-obb --split val -m dota_rotated_fcos` (DOTA's
task-1 AP50), and images per second of the rotated FCOS and of torchvision's FCOS (same EfficientNet-Lite0 pyramid,
128 channels) on 1,024 px images in this process, one after the other (`speed_ratio`: rotated over torchvision's).
Figures depend on what else runs on the machine: run it on an idle one.

    .venv/bin/python benchmarks/detection.py --data ../shared/data/neon_trees
    .venv/bin/python benchmarks/detection.py --size 2048          # quick
    .venv/bin/python benchmarks/detection.py --dota-model runs/dota_out/dota_rotated_fcos.safetensors
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine
from PIL import Image

from command_peak import run_rsvision
from rsvision.models.registry import RGB, build_model
from rsvision.models.weights import builtin_weights

MODEL = "neon_trees_retinanet"
DOTA_MODEL = "dota_rotated_fcos"
PYRAMID = {"backbone": "timm:efficientnet_lite0", "channels": 128}
SCENES = Path("/tmp/rsvision-bench-detection")
ORIGIN = (528000.0, 4979000.0)  # top left of the crop's 1 km NEON tile in UTM 12N (EPSG:32612; the name gives SW)


def make_scene(data: Path, size: int) -> Path:
    """An RGB GeoTIFF of ``size`` x ``size`` pixels at 0.1 m: the first NEON crop mirrored across it (made once;
    mirroring, not plain tiling, leaves no seams for the detector to find crowns cut in half)."""
    path = SCENES / f"neon_mirrored_{size}.tif"
    if path.exists():
        return path
    SCENES.mkdir(parents=True, exist_ok=True)
    image = np.asarray(Image.open(sorted(data.glob("*.jpg"))[0]).convert("RGB")).transpose(2, 0, 1)
    mirrored = np.concatenate([image, image[:, :, ::-1]], axis=2)
    mirrored = np.concatenate([mirrored, mirrored[:, ::-1]], axis=1)
    reps = (1, -(-size // mirrored.shape[1]), -(-size // mirrored.shape[2]))
    profile = dict(driver="GTiff", width=size, height=size, count=3, dtype="uint8", crs="EPSG:32612", tiled=True)
    profile.update(
        blockxsize=512, blockysize=512, compress="deflate", transform=Affine(0.1, 0, ORIGIN[0], 0, -0.1, ORIGIN[1])
    )
    partial = path.with_suffix(".partial.tif")
    with rasterio.open(partial, "w", **profile) as dst:
        dst.write(np.tile(mirrored, reps)[:, :size, :size])
    partial.rename(path)
    return path


def count_features(gpkg: Path) -> int:
    """Features in the GeoPackage's one layer (read with sqlite: a GeoPackage is an SQLite file)."""
    with sqlite3.connect(gpkg) as db:
        (table,) = db.execute("SELECT table_name FROM gpkg_contents WHERE data_type = 'features'").fetchone()
        return db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]


def speed(scene: Path, size: int, threads: int) -> dict:
    """``rsvision detect`` on the scene in a child process: Mpix/s of the whole command, its peak RSS, its boxes."""
    out = SCENES / f"trees_{size}.gpkg"
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    peak = run_rsvision(["detect", str(scene), "-o", str(out), "--threads", str(threads), "-q"])
    seconds = time.perf_counter() - started
    return {
        "mpix_per_s": round(size * size / 1e6 / seconds, 3),
        "scene_seconds": round(seconds, 1),
        "peak_rss_mb": round(peak),
        "boxes": count_features(out),
    }


def test_strips(data: Path) -> dict:
    """AP50 of the built-in model on the test strips as ``rsvision eval detection`` measures it (strips made once)."""
    strips = SCENES / "strips"
    if not (strips / "test").is_dir():
        strips.mkdir(parents=True, exist_ok=True)
        recipe = [sys.executable, "-m", "rsvision.train.recipes", "neon_trees_strips", "--data", str(data)]
        subprocess.run([*recipe, "--out", str(strips)], check=True, capture_output=True)
    command = [sys.executable, "-m", "rsvision", "eval", "detection", "--data", str(strips / "test"), "--format"]
    child = subprocess.run([*command, "voc", "-m", MODEL, "--json", "-", "-q"], check=True, capture_output=True)
    scores = json.loads(child.stdout)
    card = next((m.values for m in builtin_weights()[MODEL].metrics if m.split == "columns 80-100%"), {})
    return {
        "ap50_trees_strip": round(scores["map50"], 4),
        "ap50_voc07_test": round(scores["map50_voc07"], 4),
        "ap50_test_card": card.get("map50"),
        "test_crowns": sum(c["num_gt"] for c in scores["per_class"].values()),
    }


def dota_val(data: Path, model: str) -> dict:
    """DOTA task-1 AP50 of the oriented model on dota8 val, as ``rsvision eval detection`` measures it; None, said
    on stderr, when the model is not installed (none ships: docs/detection.md; the dota_obb recipe trains one)."""
    if model not in builtin_weights() and not Path(model).exists():
        print(f"{model}: not installed, dota8 val not measured (give --dota-model WEIGHTS)", file=sys.stderr)
        return {"map50_dota8_val": None, "map50_voc07_dota8_val": None}
    command = [sys.executable, "-m", "rsvision", "eval", "detection", "--data", str(data / "dota8"), "--format"]
    child = subprocess.run(
        [*command, "yolo-obb", "--split", "val", "-m", model, "--json", "-", "-q"], check=True, capture_output=True
    )
    scores = json.loads(child.stdout)
    return {"map50_dota8_val": round(scores["map50"], 4), "map50_voc07_dota8_val": round(scores["map50_voc07"], 4)}


@torch.inference_mode()
def images_per_s(model: torch.nn.Module, size: int = 1024, repeats: int = 4) -> float:
    """Images of ``size`` px per second through ``model`` in eval mode (one warm-up pass not counted)."""
    model.eval()
    x = torch.rand(1, 3, size, size)
    model(x)
    started = time.perf_counter()
    for _ in range(repeats):
        model(x)
    return repeats / (time.perf_counter() - started)


def oriented_speed() -> dict:
    """The rotated FCOS against torchvision's FCOS on the same pyramid, 1,024 px, untrained weights (the work per
    image is the network's; both keep at most 300 boxes)."""
    torch.manual_seed(0)
    rotated = images_per_s(build_model("rotated_fcos", 15, RGB, **PYRAMID))
    plain = images_per_s(build_model("fcos", 15, RGB, **PYRAMID))
    return {
        "images_per_s": round(rotated, 3),
        "images_per_s_fcos": round(plain, 3),
        "speed_ratio": round(rotated / plain, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/neon_trees"))
    parser.add_argument("--dota", type=Path, default=Path("../shared/data/dota"), help="holds dota8/")
    parser.add_argument("--dota-model", default=DOTA_MODEL, help="the oriented model (a name or weights file)")
    parser.add_argument("--size", type=int, default=16384, help="side of the scene in pixels")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if MODEL not in builtin_weights():
        sys.exit(f"the built-in detector {MODEL} is not installed")
    torch.set_num_threads(args.threads)
    oriented = oriented_speed()
    scene = make_scene(args.data, args.size)
    fast = speed(scene, args.size, args.threads)
    accuracy = {**test_strips(args.data), **dota_val(args.dota, args.dota_model)}
    print(
        f"{MODEL}: test strips AP50 {accuracy['ap50_trees_strip']:.4f} (card {accuracy['ap50_test_card']}, "
        f"{accuracy['test_crowns']} crowns); {fast['mpix_per_s']:.3f} Mpix/s on {args.size}^2 "
        f"({fast['scene_seconds']} s), peak {fast['peak_rss_mb']} MB, {fast['boxes']:,} boxes; {args.dota_model}: "
        f"dota8 val mAP50 {accuracy['map50_dota8_val']}, {oriented['images_per_s']:.2f} images/s at 1,024 px "
        f"({oriented['speed_ratio']:.2f} x torchvision's FCOS)"
    )
    record = {"bench": "detection", "model": MODEL, "oriented_model": args.dota_model, **accuracy, **oriented}
    print(json.dumps({**record, **fast, "scene_px": args.size}))


if __name__ == "__main__":
    main()
