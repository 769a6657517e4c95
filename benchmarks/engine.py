"""Streaming engine: peak memory large vs small scene, overhead over the bare model, and the naive whole-image way.

One fixed model so figures compare run to run: a seeded 3-layer CNN (conv3x3 3->16, conv3x3 16->14, conv1x1 14->6,
5,064 FLOP per pixel), 6 classes, softmax, tiles 512, overlap 64, batch 8. Scenes are generated 3-band uint8 tiled
GeoTIFFs, written block row by block row (never whole in memory), and kept in ``--workdir`` for the next run.

- ``peak_rss_ratio``: peak RSS segmenting the large scene end to end (read, predict, blend, write the COG) over the
  small scene's (the median of its ``--repeat`` runs); each run in a fresh subprocess, which reports its own
  ``getrusage`` peak.
- ``overhead_ratio``: engine wall time on the small scene over the predictor's time alone on the same tiles already
  in memory, batched the way the engine batches them (``overhead_ratio_module``: over the bare module forward,
  without the predictor's normalisation and softmax). Each run is in a fresh process; ``--repeat`` pairs of an
  engine run and a predictor run, back to back (which one first alternates), and the median of the pairs'
  ratios. On this 2-core VM the model's own time swings by up to 45% over minutes (its 134 MB activations are
  fresh pages each batch, and what a page fault costs varies with the host): a pair shares the host's state of
  the moment, so its ratio is steadier than either time. ``overhead_ratio_fastest`` is the fastest engine run
  over the fastest predictor run; ``engine_own_s`` the engine's time outside ``predict`` (median), the part of
  the ratio the engine controls.
- naive: read the whole scene, slide the window in memory, accumulate full-size score and count arrays (as
  TerraTorch's ``tiled_inference`` does), on the middle scene, beside the engine on the same scene.

- scaling line (``--scaling SMALL,LARGE``, default 16,384 and 65,536; ``--only-scaling`` runs it alone): the same
  predictor on DEFLATE-compressed scenes of both sizes, the large between two runs of the small one;
  ``scaling_ratio`` is the time per tile at the large size over the small one's (their mean), with each run's
  ``peak_rss_mb`` and timeline (``RunResult.timeline``). Target: 1.10 or less, peaks under 2 GB.

    .venv/bin/python benchmarks/engine.py                              # 32,768 / 4,096 / naive 8,192, scaling
    .venv/bin/python benchmarks/engine.py --large 8192 --small 2048 --naive 4096 --scaling none   # quick check
    .venv/bin/python benchmarks/engine.py --only-scaling               # 16,384 vs 65,536 (~25 min)
    .venv/bin/python benchmarks/engine.py --only-scaling --scaling 16384,100000   # the 100,000^2 run (~1 h)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from rsvision.engine.progress import peak_rss_mb

TILE, OVERLAP, BATCH, CLASSES = 512, 64, 8, 6
CACHE_BYTES = 64 * 2**20  # GDAL's block cache in the children that read without the engine, as the engine bounds it


def make_scene(path: Path, size: int, compress: str | None = None) -> Path:
    """A tiled 512 x 512 3-band uint8 GeoTIFF (uncompressed, or ``compress``ed): smooth stripes plus noise, one block
    row at a time."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    if path.exists():
        with rasterio.open(path) as ds:
            codec = ds.profile.get("compress")
            if (ds.count, ds.dtypes[0], ds.width, ds.height, codec) == (3, "uint8", size, size, compress):
                return path
    rng = np.random.default_rng(0)
    profile = dict(
        driver="GTiff",
        width=size,
        height=size,
        count=3,
        dtype="uint8",
        crs="EPSG:32633",
        transform=Affine(0.5, 0, 300000, 0, -0.5, 5000000),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        BIGTIFF="YES",
    )
    if compress:
        profile.update(compress=compress, NUM_THREADS="ALL_CPUS")
    tmp = path.with_name(path.stem + ".partial.tif")
    x = np.arange(size, dtype=np.uint32)  # uint16 would overflow past 65,535 (the values wrap alike mod 256)
    with rasterio.open(tmp, "w", **profile) as dst:
        for row in range(0, size, 512):
            h = min(512, size - row)
            y = np.arange(row, row + h, dtype=np.uint32)[:, None]
            base = ((x[None, :] // 9 + y // 13) * 7).astype(np.uint8)
            block = np.stack([base, base // 2 + 40, 255 - base]) + rng.integers(0, 24, (3, h, size), dtype=np.uint8)
            dst.write(block, window=Window(0, row, size, h))
    tmp.rename(path)
    return path


def build_predictor():
    import torch

    from rsvision.tasks import ModulePredictor

    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 14, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(14, CLASSES, 1),
    )
    return ModulePredictor(cnn, CLASSES, mean=[128.0] * 3, std=[64.0] * 3, output="classes")


FLOP_PER_PIXEL = 2 * (3 * 9 * 16 + 16 * 9 * 14 + 14 * CLASSES)


# children: each prints one JSON line ----------------------------------------------------------------------------


def child_engine(scene: str, output: str) -> dict:
    from rsvision.engine import run

    predictor = build_predictor()
    predict, in_predict = predictor.predict, [0.0]

    def timed_predict(batch):
        t = time.perf_counter()
        try:
            return predict(batch)
        finally:
            in_predict[0] += time.perf_counter() - t

    predictor.predict = timed_predict
    t0 = time.perf_counter()
    result = run(scene, predictor, output, tile=TILE, overlap=OVERLAP, batch=BATCH, quiet=True, resume=False)
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "own_s": wall - in_predict[0],
        "peak_rss_mb": peak_rss_mb(),
        "tiles": result.tiles,
        "summary": result.summary,
        "timeline": result.timeline,
    }


def _batches_in_memory(scene: str) -> list:
    """Every tile of the scene as float32, batched as the engine batches them (up to BATCH tiles of a tile row)."""
    import rasterio

    from rsvision.io import open_scene
    from rsvision.io.tiles import TilePlan
    from rsvision.tasks import TileBatch

    s = open_scene(scene)
    plan = TilePlan.for_shape(s.height, s.width, TILE, OVERLAP)
    batches = []
    with rasterio.Env(GDAL_CACHEMAX=CACHE_BYTES):
        for row in range(plan.n_rows):
            windows = [plan.window(row, col) for col in range(plan.n_cols)]
            for i in range(0, len(windows), BATCH):
                part = windows[i : i + BATCH]
                images = np.stack([s.read(w).data.astype(np.float32) for w in part])
                batches.append(TileBatch(images, np.zeros((len(part), TILE, TILE), bool), part))
    return batches


def child_forward(scene: str) -> dict:
    """The predictor alone on every tile of the scene, read into memory first and batched as the engine does."""
    import torch

    from rsvision.engine.run import available_cpus

    predictor = build_predictor()
    batches = _batches_in_memory(scene)
    torch.set_num_threads(available_cpus())
    # no warm-up call: the engine's wall time in a fresh process includes its first, cold batch too
    t0 = time.perf_counter()
    for b in batches:
        predictor.predict(b)
    predict_s = time.perf_counter() - t0
    with torch.inference_mode():
        xs = [torch.from_numpy(b.images).contiguous(memory_format=torch.channels_last) for b in batches]
        t0 = time.perf_counter()
        for x in xs:
            predictor.module(x)
        module_s = time.perf_counter() - t0
    return {
        "predict_s": predict_s,
        "module_s": module_s,
        "tiles": sum(len(b) for b in batches),
        "peak_rss_mb": peak_rss_mb(),
    }


def child_naive(scene: str, output: str) -> dict:
    """Whole image in memory, sliding window, full-size accumulators: the approach the engine replaces."""
    import rasterio
    import torch

    from rsvision.engine.run import available_cpus

    predictor = build_predictor()
    torch.set_num_threads(available_cpus())
    t0 = time.perf_counter()
    with rasterio.Env(GDAL_CACHEMAX=CACHE_BYTES), rasterio.open(scene) as src:
        image = src.read().astype(np.float32)
        profile = src.profile
    _, h, w = image.shape
    scores = np.zeros((CLASSES, h, w), np.float32)
    counts = np.zeros((h, w), np.float32)
    stride = TILE - OVERLAP
    ys = sorted({*range(0, h - TILE, stride), h - TILE})
    xs = sorted({*range(0, w - TILE, stride), w - TILE})
    windows = [(y, x) for y in ys for x in xs]
    from rsvision.tasks import TileBatch

    for i in range(0, len(windows), BATCH):
        part = windows[i : i + BATCH]
        batch = np.stack([image[:, y : y + TILE, x : x + TILE] for y, x in part])
        out = predictor.predict(TileBatch(batch, np.zeros((len(part), TILE, TILE), bool), []))
        for (y, x), o in zip(part, out):
            scores[:, y : y + TILE, x : x + TILE] += o
            counts[y : y + TILE, x : x + TILE] += 1
    classes = (scores / counts).argmax(axis=0).astype(np.uint8)
    profile.update(count=1, dtype="uint8", compress="deflate")
    with rasterio.open(output, "w", **profile) as dst:
        dst.write(classes[None])
    return {"wall_s": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb(), "tiles": len(windows)}


# parent -----------------------------------------------------------------------------------------------------------


def spawn(*args: str, timeout: float) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        return {
            "error": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ''}"
        }
    return json.loads(proc.stdout.strip().splitlines()[-1])


def scaling(sizes: str, work: Path, left) -> dict:
    """The scaling line: time per tile and peak memory on a DEFLATE scene of each size, the large one between two
    runs of the small one (the machine's speed drifts over minutes: the ratio is over their mean)."""
    if sizes == "none":
        return {}
    small, large = (int(v) for v in sizes.split(","))
    scenes = {}
    for size in (small, large):
        t0 = time.perf_counter()
        scenes[size] = make_scene(work / f"rgb_deflate_{size}.tif", size, compress="deflate")
        print(f"scene {size:>6} x {size:<6}  DEFLATE, ready in {time.perf_counter() - t0:6.1f} s", flush=True)

    def engine(size):
        out = work / f"scaling_{size}.tif"
        result = spawn("engine", str(scenes[size]), str(out), timeout=max(60.0, left()))
        out.unlink(missing_ok=True)
        print(f"scaling  {size:>6}: {result}", flush=True)
        return result

    first = engine(small)
    if "error" in first:
        return {"scaling_notes": [first["error"]]}
    tiles = ((large - TILE) // (TILE - OVERLAP) + 2) ** 2
    estimate = 1.2 * first["wall_s"] / first["tiles"] * tiles + first["wall_s"]
    if estimate > left() - 30:
        return {"scaling_notes": [f"skipped: about {estimate:.0f} s needed, {left():.0f} s left of --budget"]}
    runs = [first, engine(large), engine(small)]
    if any("error" in r for r in runs):
        return {"scaling_notes": [r["error"] for r in runs if "error" in r]}
    per_tile_small = [r["wall_s"] / r["tiles"] for r in (runs[0], runs[2])]
    per_tile_large = runs[1]["wall_s"] / runs[1]["tiles"]
    return {
        "scaling_sizes": [small, large],
        "scaling_ratio": round(per_tile_large / float(np.mean(per_tile_small)), 3),
        "ms_per_tile_small": [round(1000 * t, 2) for t in per_tile_small],
        "ms_per_tile_large": round(1000 * per_tile_large, 2),
        "peak_rss_mb_small": max(runs[0]["peak_rss_mb"], runs[2]["peak_rss_mb"]),
        "peak_rss_mb_large": runs[1]["peak_rss_mb"],
        "timeline_small": runs[0]["timeline"],
        "timeline_large": runs[1]["timeline"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=32768)
    parser.add_argument("--small", type=int, default=4096)
    parser.add_argument("--naive", type=int, default=8192)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/rsvision-bench-engine"))
    parser.add_argument("--budget", type=float, default=900.0, help="seconds for the whole benchmark")
    parser.add_argument("--repeat", type=int, default=7, help="pairs of runs: the small scene, the bare model")
    parser.add_argument(
        "--scaling",
        default="16384,65536",
        help="SMALL,LARGE sides of the DEFLATE scenes of the scaling line ('none': skip it)",
    )
    parser.add_argument("--only-scaling", action="store_true", help="run the scaling line alone")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        children = {"engine": child_engine, "forward": child_forward, "naive": child_naive}
        result = children[kind](*rest)
        print(json.dumps(result))
        return

    start = time.perf_counter()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    left = lambda: args.budget - (time.perf_counter() - start)
    if args.only_scaling:
        figures = {"bench": "engine-scaling", **scaling(args.scaling, work, left)}
        figures["total_s"] = round(time.perf_counter() - start, 1)
        print(json.dumps(figures))
        return
    scenes = {}
    for size in sorted({args.small, args.naive, args.large}):
        t0 = time.perf_counter()
        scenes[size] = make_scene(work / f"rgb_{size}.tif", size)
        print(f"scene {size:>6} x {size:<6}  ready in {time.perf_counter() - t0:6.1f} s  ({scenes[size]})", flush=True)

    def engine(size):
        out = work / f"classes_{size}.tif"
        r = spawn("engine", str(scenes[size]), str(out), timeout=max(60.0, left()))
        out.unlink(missing_ok=True)
        return r

    # the overhead pairs: an engine run and the predictor alone, back to back, which one first alternating
    smalls, forwards = [], []
    for i in range(args.repeat):
        for kind in ("engine", "forward") if i % 2 == 0 else ("forward", "engine"):
            if kind == "engine":
                smalls.append(engine(args.small))
            else:
                forwards.append(spawn("forward", str(scenes[args.small]), timeout=max(60.0, left())))
        print(f"engine   {args.small:>6}: {smalls[-1]}", flush=True)
        print(f"forward  {args.small:>6}: {forwards[-1]}", flush=True)
    pairs = [(e, f) for e, f in zip(smalls, forwards) if "wall_s" in e and "predict_s" in f]
    fastest = lambda runs, key: min((r[key] for r in runs if key in r), default=None)
    middle = lambda values: float(np.median(values)) if values else None
    small_peaks = [r["peak_rss_mb"] for r in smalls if "peak_rss_mb" in r]
    small_peak = middle(small_peaks)  # peaks vary run to run: the middle one
    naive = spawn("naive", str(scenes[args.naive]), str(work / "naive.tif"), timeout=max(60.0, left()))
    (work / "naive.tif").unlink(missing_ok=True)
    beside = engine(args.naive)
    print(f"naive    {args.naive:>6}: {naive}", flush=True)
    print(f"engine   {args.naive:>6}: {beside}", flush=True)

    per_tile = fastest(smalls, "wall_s") / pairs[0][0]["tiles"] if pairs else float("inf")
    large_tiles = ((args.large - TILE) // (TILE - OVERLAP) + 2) ** 2
    estimate = 1.1 * per_tile * large_tiles
    if estimate < left() - 30:
        large = engine(args.large)
    else:
        large = {
            "error": f"skipped: estimated {estimate:.0f} s for {large_tiles} tiles exceeds the {left():.0f} s left"
        }
    print(f"engine   {args.large:>6}: {large}", flush=True)

    def ratio(a, b):
        return round(a / b, 3) if a is not None and b else None

    figures = {
        "bench": "engine",
        "device": "cpu",
        "threads": len(os.sched_getaffinity(0)),
        "flop_per_pixel": FLOP_PER_PIXEL,
        "tile": TILE,
        "overlap": OVERLAP,
        "batch": BATCH,
        "small": args.small,
        "large": args.large,
        "naive_size": args.naive,
        "overhead_ratio": round(middle([e["wall_s"] / f["predict_s"] for e, f in pairs]), 3) if pairs else None,
        "overhead_ratio_fastest": ratio(fastest(smalls, "wall_s"), fastest(forwards, "predict_s")),
        "overhead_ratio_module": round(middle([e["wall_s"] / f["module_s"] for e, f in pairs]), 3) if pairs else None,
        "engine_own_s": round(middle([e["own_s"] for e, _ in pairs]), 3) if pairs else None,
        "peak_rss_ratio": ratio(large.get("peak_rss_mb"), small_peak),
        "peak_rss_large_mb": large.get("peak_rss_mb"),
        "peak_rss_small_mb": small_peak,
        "peak_rss_small_runs_mb": small_peaks,
        "engine_small_s": fastest(smalls, "wall_s"),
        "forward_small_s": fastest(forwards, "predict_s"),
        "module_small_s": fastest(forwards, "module_s"),
        "engine_small_runs_s": [r.get("wall_s") for r in smalls],
        "forward_small_runs_s": [r.get("predict_s") for r in forwards],
        "engine_large_s": large.get("wall_s"),
        "engine_large_mpix_per_s": round(args.large**2 / large["wall_s"] / 1e6, 3) if "wall_s" in large else None,
        "naive_peak_rss_mb": naive.get("peak_rss_mb"),
        "engine_peak_rss_mb_same_scene": beside.get("peak_rss_mb"),
        "naive_s": naive.get("wall_s"),
        "engine_s_same_scene": beside.get("wall_s"),
        "notes": [r["error"] for r in (*smalls, *forwards, naive, beside, large) if "error" in r],
    }
    figures.update(scaling(args.scaling, work, left))
    figures["total_s"] = round(time.perf_counter() - start, 1)
    print()
    print(f"{'measure':<44}{'value':>14}")
    for key in (
        "overhead_ratio",
        "overhead_ratio_fastest",
        "overhead_ratio_module",
        "engine_own_s",
        "peak_rss_ratio",
        "peak_rss_small_mb",
        "peak_rss_large_mb",
        "engine_large_s",
        "naive_peak_rss_mb",
        "engine_peak_rss_mb_same_scene",
    ):
        value = figures[key]
        print(f"{key:<44}{value if value is not None else '-':>14}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
