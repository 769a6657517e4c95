"""Change detection: the unsupervised methods on the 10 labelled OSCD cities, and their speed and memory through
the engine on a generated 13-band Sentinel-2 pair.

OSCD: each city's pair fitted on its own pixels (`rsvision eval change --data ../shared/data/oscd --method M`),
F1 / IoU / precision / recall of the change class per city and pooled over the cities' pixels. Speed: `rsvision
change` (each method in a child process of its own, so that peak memory is its own) on a generated SIZE x SIZE
13-band uint16 pair (DEFLATE, 512 px blocks; the second date shifted in CRS origin by half a pixel so it is warped,
with planted changes), Mpix/s and peak RSS. Figures depend on what else runs on the machine.

    .venv/bin/python benchmarks/change.py --data ../shared/data/oscd              # 8,192 x 8,192 pair
    .venv/bin/python benchmarks/change.py --data ../shared/data/oscd --size 2048  # quick
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

METHODS = ("cva", "irmad", "pcakmeans")
SCENES = Path("/tmp/rsvision-bench-change")
S2 = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")


def oscd(data: Path) -> tuple[dict, dict]:
    """Pooled keys per method, and per city per method."""
    from rsvision.bench.change import evaluate_change_method
    from rsvision.datasets.change import OscdDataset

    dataset = OscdDataset(data)
    pooled, cities = {}, {}
    for method in METHODS:
        result = evaluate_change_method(dataset, method)
        pooled[method] = {k: result[k] for k in ("f1", "iou", "precision", "recall", "kappa")}
        for city, values in result["per_sample"].items():
            cities.setdefault(city, {})[method] = {k: values[k] for k in ("f1", "iou", "precision", "recall")}
    return pooled, cities


def make_pair(size: int) -> tuple[Path, Path]:
    """Two 13-band uint16 GeoTIFFs of ``size`` x ``size`` (made once, strip by strip): smooth texture and noise,
    the second date half a pixel off the first's grid, with square changes every 1,024 pixels."""
    SCENES.mkdir(parents=True, exist_ok=True)
    paths = SCENES / f"before_{size}.tif", SCENES / f"after_{size}.tif"
    if all(p.exists() for p in paths):
        return paths
    rng = np.random.default_rng(0)
    profile = dict(driver="GTiff", width=size, height=size, count=13, dtype="uint16", crs="EPSG:32633", tiled=True)
    profile.update(blockxsize=512, blockysize=512, compress="deflate")
    origins = (Affine(10, 0, 5e5, 0, -10, 4.2e6), Affine(10, 0, 5e5 + 5, 0, -10, 4.2e6 - 5))
    xx = np.arange(size)
    for date, (path, transform) in enumerate(zip(paths, origins)):
        partial = path.with_suffix(".partial.tif")
        with rasterio.open(partial, "w", transform=transform, **profile) as dst:
            dst.descriptions = S2
            for row in range(0, size, 512):
                yy = np.arange(row, min(row + 512, size))[:, None]
                smooth = 800 * np.sin(xx[None] / 37 + np.arange(13)[:, None, None]) * np.cos(yy[None] / 53)
                block = 2000 + smooth + rng.normal(0, 30, smooth.shape)
                if date:
                    changed = ((yy % 1024) < 64) & ((xx[None] % 1024) < 64)
                    block += 1500 * changed[None]
                dst.write(np.clip(block, 0, 65535).astype(np.uint16), window=Window(0, row, size, len(yy)))
        partial.rename(path)
    return paths


def speed(method: str, size: int) -> dict:
    """``rsvision change`` on the generated pair in a child process: Mpix/s of the whole command and its peak RSS."""
    before, after = make_pair(size)
    out = SCENES / f"change_{method}_{size}.tif"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "rsvision", "change", str(before), str(after), "-o", str(out), "--method", method]
    started = time.perf_counter()
    subprocess.run([*command, "-q"], check=True)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child so far
    return {"seconds": round(seconds, 2), "mpix_per_s": round(size * size / 1e6 / seconds, 3), "peak_rss_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/oscd"))
    parser.add_argument("--size", type=int, default=8192, help="side of the generated 13-band pair")
    args = parser.parse_args()
    pooled, cities = oscd(args.data)
    print(f"{'city':<14}" + "".join(f"{m + ' f1/iou/p/r':>32}" for m in METHODS))
    for city, per in cities.items():
        cells = ["/".join(f"{per[m][k]:.3f}" for k in ("f1", "iou", "precision", "recall")) for m in METHODS]
        print(f"{city:<14}" + "".join(f"{c:>32}" for c in cells))
    print(f"{'pooled':<14}" + "".join(f"{pooled[m]['f1']:>32.3f}" for m in METHODS))
    speeds = {m: speed(m, args.size) for m in METHODS}
    for m, s in speeds.items():
        print(f"{m}: {args.size}^2 13-band pair in {s['seconds']} s, {s['mpix_per_s']} MPix/s")
    figures = {"bench": "change", **{f"f1_{m}": round(pooled[m]["f1"], 4) for m in METHODS}}
    figures.update({f"iou_{m}": round(pooled[m]["iou"], 4) for m in METHODS})
    figures.update(
        mpix_per_s=speeds["cva"]["mpix_per_s"],
        **{f"mpix_per_s_{m}": speeds[m]["mpix_per_s"] for m in METHODS},
        peak_rss_mb=round(max(s["peak_rss_mb"] for s in speeds.values())),
        size=args.size,
        cities=cities,
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
