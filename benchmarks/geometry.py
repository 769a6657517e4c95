"""Geometry and detection-metric speed: every ``bench_*`` function below runs in one go.

- ``bench_coco``: COCO box evaluation of 5,000 images / 100,000 detections (20 classes, crowd
  regions, images without boxes), rsvision's ``coco_evaluate`` against pycocotools'
  ``COCOeval`` evaluate + accumulate + summarize in the same run; the twelve summary numbers
  must agree. ``coco_speed_ratio`` = pycocotools time / rsvision time (target >= 1).

    .venv/bin/python benchmarks/geometry.py

Prints a table, then one JSON line ``{"bench": "geometry", ...}``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import time

import numpy as np

COCO_KEYS = [
    "map", "map50", "map75", "map_small", "map_medium", "map_large",
    "mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large",
]  # fmt: skip


def make_coco(n_img: int = 5000, n_det: int = 100_000, n_cat: int = 20, seed: int = 0) -> tuple[dict, list]:
    """A COCO annotation dict (about 7 objects per image, 5% crowds, 10% empty images) and ``n_det`` results."""
    rng = np.random.default_rng(seed)
    n_obj = rng.poisson(7, n_img) * (rng.random(n_img) > 0.1)
    img = np.repeat(np.arange(n_img), n_obj)
    n_gt = len(img)
    size = np.exp(rng.uniform(np.log(6), np.log(400), n_gt))
    ratio = np.exp(rng.uniform(-0.7, 0.7, n_gt))
    gt_box = np.column_stack([rng.uniform(0, 900, (n_gt, 2)), size * ratio, size / ratio])
    gt_cat = rng.integers(0, n_cat, n_gt)
    crowd = rng.random(n_gt) < 0.05
    area = gt_box[:, 2] * gt_box[:, 3] * rng.uniform(0.6, 1.0, n_gt)
    # detections: jittered copies of objects (hits, near misses, duplicates, wrong class), then strays
    n_hit = int(n_det * 0.7)
    src = rng.integers(0, n_gt, n_hit)
    jit = rng.normal(0, 0.1, (n_hit, 4))
    hit_box = gt_box[src] + np.column_stack([jit[:, :2] * gt_box[src, 2:], np.zeros((n_hit, 2))])
    hit_box[:, 2:] *= np.exp(jit[:, 2:])
    hit_cat = np.where(rng.random(n_hit) < 0.9, gt_cat[src], rng.integers(0, n_cat, n_hit))
    n_stray = n_det - n_hit
    s = np.exp(rng.uniform(np.log(6), np.log(400), n_stray))
    stray_box = np.column_stack([rng.uniform(0, 900, (n_stray, 2)), s, s * np.exp(rng.uniform(-0.7, 0.7, n_stray))])
    det_img = np.concatenate([img[src], rng.integers(0, n_img, n_stray)])
    det_box = np.concatenate([hit_box, stray_box])
    det_cat = np.concatenate([hit_cat, rng.integers(0, n_cat, n_stray)])
    score = rng.random(n_det)
    gt = {
        "images": [{"id": i + 1, "width": 1000, "height": 1000} for i in range(n_img)],
        "categories": [{"id": c + 1, "name": f"class{c}"} for c in range(n_cat)],
        "annotations": [
            {"id": k + 1, "image_id": int(i) + 1, "category_id": int(c) + 1, "bbox": b, "area": float(a), "iscrowd": int(w)}
            for k, (i, c, b, a, w) in enumerate(zip(img, gt_cat, gt_box.tolist(), area, crowd))
        ],
    }
    results = [
        {"image_id": int(i) + 1, "category_id": int(c) + 1, "bbox": b, "score": float(sc)}
        for i, c, b, sc in zip(det_img, det_cat, det_box.tolist(), score)
    ]
    return gt, results


def bench_coco() -> dict:
    """rsvision ``coco_evaluate`` vs pycocotools on 5,000 images / 100,000 detections."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from rsvision.metrics.coco import coco_evaluate

    gt, results = make_coco()
    t0 = time.perf_counter()
    ours = coco_evaluate(gt, results)
    t_ours = time.perf_counter() - t0

    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        t_ref = time.perf_counter() - t0
    diff = float(np.max(np.abs(np.array([ours[k] for k in COCO_KEYS]) - ev.stats)))
    return {
        "coco_images": len(gt["images"]),
        "coco_detections": len(results),
        "coco_ground_truths": len(gt["annotations"]),
        "coco_rsvision_s": round(t_ours, 3),
        "coco_pycocotools_s": round(t_ref, 3),
        "coco_pycocotools_load_s": round(t_load, 3),
        "coco_speed_ratio": round(t_ref / t_ours, 2),
        "coco_max_abs_diff": diff,
        "coco_map": round(ours["map"], 4),
    }


def main() -> None:
    figures: dict = {}
    for name, fn in list(globals().items()):
        if name.startswith("bench_") and callable(fn):
            figures.update(fn())
    width = max(map(len, figures))
    print(f"{'figure':<{width}}  value")
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps({"bench": "geometry", **figures}))


if __name__ == "__main__":
    main()
