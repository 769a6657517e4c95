"""Change detection: the built-in learned models (13 bands and RGB) and the unsupervised methods on the two held-out
OSCD cities, and their speed and memory through the engine on a generated 13-band Sentinel-2 pair.

OSCD: the two test cities of the built-in models (abudhabi and beihai: the two with the most changed pixels, fixed
before training; the models trained on the others: the 13-band model's five members each on six, two whole cities
held out choosing each member's epoch and threshold). Each method fitted on each city's own pixels (`rsvision
eval change --data ../shared/data/oscd --split abudhabi,beihai --method M`), each model run whole (`-m MODEL`);
F1 / IoU / precision / recall of the change class per city and pooled over the cities' pixels. Speed: `rsvision
change` (each method and the 13-band model in a child process of its own, so that peak memory is its own) on a
generated SIZE x SIZE
13-band uint16 pair (DEFLATE, 512 px blocks; the second date shifted in CRS origin by half a pixel so it is warped,
with planted changes), Mpix/s and peak RSS. Figures depend on what else runs on the machine.

    .venv/bin/python benchmarks/change.py --data ../shared/data/oscd              # 8,192 x 8,192 pair
    .venv/bin/python benchmarks/change.py --data ../shared/data/oscd --size 2048  # quick
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from command_peak import run_rsvision

METHODS = ("cva", "irmad", "pcakmeans")
MODELS = {"learned": "oscd_change_siamese", "learned_rgb": "oscd_change_siamese_rgb"}
CITIES = "abudhabi,beihai"
SCENES = Path("/tmp/rsvision-bench-change")
S2 = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")


def oscd(data: Path) -> tuple[dict, dict]:
    """Pooled keys per method and model, and per city per method and model."""
    from rsvision.bench.change import evaluate_change_method, evaluate_change_model
    from rsvision.datasets.change import OscdDataset
    from rsvision.models.resolve import resolve_model
    from rsvision.models.weights import Task, builtin_weights

    dataset = OscdDataset(data, split=CITIES)
    results = {m: evaluate_change_method(dataset, m) for m in METHODS}
    for key, name in MODELS.items():
        if name in builtin_weights():
            results[key] = evaluate_change_model(resolve_model(name, Task.CHANGE, "benchmark"), dataset)
    pooled, cities = {}, {}
    for what, result in results.items():
        pooled[what] = {k: result[k] for k in ("f1", "iou", "precision", "recall", "kappa")}
        for city, values in result["per_sample"].items():
            cities.setdefault(city, {})[what] = {k: values[k] for k in ("f1", "iou", "precision", "recall")}
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
    """``rsvision change`` on the generated pair in a child process: Mpix/s of the whole command and its own peak
    RSS. ``method``: an unsupervised method, or ``learned`` (the built-in 13-band model)."""
    before, after = make_pair(size)
    out = SCENES / f"change_{method}_{size}.tif"
    out.unlink(missing_ok=True)
    how = ["-m", MODELS[method]] if method in MODELS else ["--method", method]
    started = time.perf_counter()
    peak = run_rsvision(["change", str(before), str(after), "-o", str(out), *how, "-q"])
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "mpix_per_s": round(size * size / 1e6 / seconds, 3), "peak_rss_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/oscd"))
    parser.add_argument("--size", type=int, default=8192, help="side of the generated 13-band pair")
    args = parser.parse_args()
    pooled, cities = oscd(args.data)
    shown = list(pooled)
    print(f"{'city':<14}" + "".join(f"{m + ' f1/iou/p/r':>32}" for m in shown))
    for city, per in cities.items():
        cells = ["/".join(f"{per[m][k]:.3f}" for k in ("f1", "iou", "precision", "recall")) for m in shown]
        print(f"{city:<14}" + "".join(f"{c:>32}" for c in cells))
    print(f"{'pooled f1':<14}" + "".join(f"{pooled[m]['f1']:>32.3f}" for m in shown))
    timed = [m for m in ("learned", *METHODS) if m in pooled]
    speeds = {m: speed(m, args.size) for m in timed}
    for m, s in speeds.items():
        print(
            f"{m}: {args.size}^2 13-band pair in {s['seconds']} s, {s['mpix_per_s']} MPix/s, {s['peak_rss_mb']:.0f} MB"
        )
    figures = {"bench": "change", **{f"f1_{m}": round(pooled[m]["f1"], 4) for m in shown}}
    figures.update({f"iou_{m}": round(pooled[m]["iou"], 4) for m in shown})
    figures.update(
        mpix_per_s=speeds[timed[0]]["mpix_per_s"],
        **{f"mpix_per_s_{m}": speeds[m]["mpix_per_s"] for m in timed},
        peak_rss_mb=round(max(s["peak_rss_mb"] for s in speeds.values())),
        size=args.size,
        cities=cities,
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
