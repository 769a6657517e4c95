"""A huge scene across 2 local workers: blocks of tile rows against the single-process engine, output and time.

The engine benchmark's seeded 3-layer CNN (6 classes, tiles 512, overlap 64: the blend across tiles matters) on its
generated 3-band uint8 scene of ``--size`` pixels a side (kept in ``--workdir`` for the next run), once through
:func:`rsvision.engine.run` in this process (every core) and once through
:func:`rsvision.engine.blocks.run_on_blocks` on a LocalCluster of 2 worker processes of one thread each (the
cluster's start-up is timed apart). Prints ``identical`` (the two class-map COGs compared pixel for pixel, window by
window), both times and their ratio, and ends with one JSON line. The single run uses ``--threads`` torch threads,
one by default as a worker does: torch's convolutions sum in an order that depends on the thread count, so at 2
threads a few pixels whose two best classes score within a float's rounding of each other may differ.

    nice -n 19 .venv/bin/python benchmarks/blocks.py                 # 32,768^2 (about 15 minutes on 2 cores)
    nice -n 19 .venv/bin/python benchmarks/blocks.py --size 8192     # quick
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import rasterio
from dask.distributed import Client
from rasterio.windows import Window

from engine import BATCH, OVERLAP, TILE, build_predictor, make_scene
from rsvision.engine import run
from rsvision.engine.blocks import run_on_blocks
from rsvision.workflows.batch import local_cluster


def differing_pixels(a: Path, b: Path, rows: int = 2048) -> int:
    """How many pixels two rasters of one shape differ in, read ``rows`` at a time (a 32,768^2 map is 1 GB)."""
    with rasterio.open(a) as x, rasterio.open(b) as y:
        if (x.count, x.width, x.height, x.dtypes, x.tags()) != (y.count, y.width, y.height, y.dtypes, y.tags()):
            raise ValueError(f"{a} and {b} differ in shape, type or tags")
        differ = 0
        for row in range(0, x.height, rows):
            window = Window(0, row, x.width, min(rows, x.height - row))
            differ += int((x.read(window=window) != y.read(window=window)).any(axis=0).sum())
        return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=32768)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the single run (a worker's: 1)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "rsvision-bench")
    args = parser.parse_args()
    args.workdir.mkdir(exist_ok=True)
    scene = make_scene(args.workdir / f"scene_{args.size}.tif", args.size)
    options = {"tile": TILE, "overlap": OVERLAP, "batch": BATCH}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        out = Path(tmp)
        t0 = time.perf_counter()
        single = run(scene, build_predictor(), out / "single.tif", threads=args.threads, quiet=True, **options)
        single_s = time.perf_counter() - t0
        print(f"single process: {single.summary}", flush=True)
        t0 = time.perf_counter()
        cluster = local_cluster(args.workers)
        client = Client(cluster)
        start_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        blocks = run_on_blocks(scene, build_predictor(), out / "blocks.tif", client=client, **options)
        blocks_s = time.perf_counter() - t0
        client.close()
        cluster.close()
        print(f"{args.workers} workers: {blocks.summary} (cluster start-up {start_s:.1f} s)", flush=True)
        differ = differing_pixels(single.output, blocks.output)
    figures = {
        "size": args.size,
        "workers": args.workers,
        "tiles": single.tiles,
        "single_threads": args.threads,
        "identical": differ == 0,
        "differing_pixels": differ,
        "single_s": round(single_s, 1),
        "blocks_s": round(blocks_s, 1),
        "blocks_over_single_ratio": round(blocks_s / single_s, 3),
        "cluster_start_s": round(start_s, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
