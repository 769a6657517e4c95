"""`rsvision batch` throughput on 1 and 2 local workers, and the Dask layer's cost against the plain engine.

- ``scenes_per_s_1`` / ``scenes_per_s_2``: `run_batch("spectral", ...)` (NDVI of a 4-band uint16 scene, written as
  a COG) over ``--scenes`` generated ``--size`` x ``--size`` scenes on a LocalCluster of 1 and 2 worker processes
  (one thread each), cluster start-up included; ``speedup_ratio`` = 2 workers over 1 (near 2 on 2 cores).
- ``dask_overhead_ratio``: one scene through `run_batch` on 1 worker over the same scene through
  `compute_indices` in this process with one thread (target 1.05 or less); start-up is timed separately
  (``cluster_start_s``), since a job pays it once however many scenes it has.

    nice -n 19 .venv/bin/python benchmarks/batch.py              # 8 scenes of 4,096^2
    nice -n 19 .venv/bin/python benchmarks/batch.py --size 1024   # quick
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from dask.distributed import Client, LocalCluster

from rsvision.core.settings import torch_threads
from rsvision.workflows.batch import run_batch
from rsvision.workflows.spectral import compute_indices

OPTIONS = {"indices": ["ndvi"]}


def make_scenes(folder: Path, n: int, size: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"s{i}.tif"
        profile = dict(
            driver="GTiff",
            width=size,
            height=size,
            count=4,
            dtype="uint16",
            crs="EPSG:32633",
            tiled=True,
            blockxsize=512,
            blockysize=512,
        )
        with rasterio.open(path, "w", transform=Affine(10, 0, 500000, 0, -10, 4000000), **profile) as ds:
            for row in range(0, size, 512):
                h = min(512, size - row)
                block = rng.integers(0, 3000, (4, h, size)).astype("uint16")
                ds.write(block, window=rasterio.windows.Window(0, row, size, h))
            for b, name in enumerate(["B02", "B03", "B04", "B08"], start=1):
                ds.set_band_description(b, name)
        paths.append(path)
    return paths


def batch_rate(scenes: list[Path], workers: int, root: Path) -> float:
    out = Path(tempfile.mkdtemp(dir=root))
    t0 = time.perf_counter()
    result = run_batch("spectral", scenes, out, workers=workers, options=OPTIONS)
    seconds = time.perf_counter() - t0
    print(f"{workers} workers: {result.summary}", flush=True)
    return len(scenes) / seconds


def overhead(scene: Path, root: Path) -> tuple[float, float]:
    with torch_threads(1):
        t0 = time.perf_counter()
        compute_indices(scene, root / "plain.tif", indices=["ndvi"], threads=1, quiet=True)
        plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True) as cluster, Client(cluster):
        start = time.perf_counter() - t0
        out = Path(tempfile.mkdtemp(dir=root))
        t1 = time.perf_counter()
        run_batch("spectral", [scene], out, scheduler=cluster.scheduler_address, options=OPTIONS)
        dask = time.perf_counter() - t1
    print(f"one scene: plain {plain:.2f} s, through batch {dask:.2f} s, cluster start {start:.2f} s", flush=True)
    return dask / plain, start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--size", type=int, default=4096)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rsvision-batch-bench-") as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        scenes = make_scenes(root / "in", args.scenes, args.size)
        ratio, start = overhead(scenes[0], root)
        one, two = batch_rate(scenes, 1, root), batch_rate(scenes, 2, root)
    figures = {
        "scenes": args.scenes,
        "size": args.size,
        "scenes_per_s_1": round(one, 4),
        "scenes_per_s_2": round(two, 4),
        "speedup_ratio": round(two / one, 3),
        "dask_overhead_ratio": round(ratio, 3),
        "cluster_start_s": round(start, 2),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
