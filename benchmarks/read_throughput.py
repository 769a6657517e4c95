"""Read throughput of `Scene.read` against bare rasterio, and peak memory on a large vs a small scene.

Every 512 x 512 tile (overlap 64) of a generated 4-band uint16 tiled GeoTIFF is read through rsvision and, in
the same run, the same windows through bare rasterio. Each memory figure comes from a fresh subprocess.

    .venv/bin/python benchmarks/read_throughput.py            # 16,384 and 4,096 pixel scenes
    .venv/bin/python benchmarks/read_throughput.py --size 4096  # quicker
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from rsvision.engine.progress import peak_rss_mb

TILE, OVERLAP, BANDS = 512, 64, 4


def make_scene(path: Path, size: int) -> Path:
    """A tiled, uncompressed 4-band uint16 GeoTIFF written block row by block row (never whole in memory)."""
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    profile = dict(
        driver="GTiff",
        width=size,
        height=size,
        count=BANDS,
        dtype="uint16",
        crs="EPSG:32633",
        transform=Affine(10, 0, 300000, 0, -10, 5000000),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        BIGTIFF="YES",
    )
    tmp = path.with_suffix(".partial.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        for row in range(0, size, 512):
            h = min(512, size - row)
            dst.write(rng.integers(0, 10000, (BANDS, h, size), dtype="uint16"), window=Window(0, row, size, h))
    tmp.rename(path)
    return path


def windows(size: int) -> list[Window]:
    from rsvision.io import tiles

    return list(tiles((size, size), TILE, OVERLAP))


def read_rsvision(path: Path, wins: list[Window]) -> float:
    """Every window through ``Scene.read``, with GDAL's block cache bounded as the engine bounds it."""
    from rsvision.core.settings import bounded_block_cache
    from rsvision.io import open_scene

    total = 0
    with bounded_block_cache(), open_scene(path) as scene:
        for w in wins:
            total += int(scene.read(w).data[0, 0, 0])
    return total


def read_rasterio(path: Path, wins: list[Window]) -> float:
    total = 0
    with rasterio.open(path) as ds:
        for w in wins:
            total += int(ds.read(window=w)[0, 0, 0])
    return total


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def child(path: str, size: int) -> None:
    """Run in a subprocess: read every tile through rsvision and print the peak RSS in MB."""
    read_rsvision(Path(path), windows(size))
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}))  # this process's own peak, not its parent's


def child_peak_rss_mb(path: Path, size: int) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), str(size)], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_rss_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--small", type=int, default=4096)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "rsvision-bench")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]))

    args.workdir.mkdir(parents=True, exist_ok=True)
    big = make_scene(args.workdir / f"scene_{args.size}.tif", args.size)
    small = make_scene(args.workdir / f"scene_{args.small}.tif", args.small)
    wins = windows(args.size)
    mpix = sum(w.width * w.height for w in wins) / 1e6
    read_rasterio(big, wins)  # warm the page cache so both readers see the same state
    rounds = [(timed(read_rasterio, big, wins), timed(read_rsvision, big, wins)) for _ in range(3)]  # interleaved
    t_rio, t_rsv = min(r[0] for r in rounds), min(r[1] for r in rounds)
    peak_big, peak_small = child_peak_rss_mb(big, args.size), child_peak_rss_mb(small, args.small)
    figures = {
        "bench": "read_throughput",
        "scene_px": args.size,
        "tiles": len(wins),
        "rasterio_mpix_s": round(mpix / t_rio, 1),
        "rsvision_mpix_s": round(mpix / t_rsv, 1),
        "throughput_ratio": round(t_rio / t_rsv, 3),
        "peak_rss_large_mb": round(peak_big, 1),
        "peak_rss_small_mb": round(peak_small, 1),
        "peak_rss_ratio": round(peak_big / peak_small, 3),
    }
    print(f"{'reader':<10} {'MPix/s':>10}")
    print(f"{'rasterio':<10} {figures['rasterio_mpix_s']:>10}")
    print(f"{'rsvision':<10} {figures['rsvision_mpix_s']:>10}   ratio {figures['throughput_ratio']} (target >= 0.9)")
    print(
        f"peak RSS: {args.size} px {peak_big:.0f} MB, {args.small} px {peak_small:.0f} MB, "
        f"ratio {figures['peak_rss_ratio']} (target <= 1.2)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
