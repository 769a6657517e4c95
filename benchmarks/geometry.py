"""Geometry and detection-metric speed: every ``bench_*`` function below runs in one go.

- ``bench_coco``: COCO box evaluation of 5,000 images / 100,000 detections (20 classes, crowd
  regions, images without boxes), rsvision's ``coco_evaluate`` against pycocotools'
  ``COCOeval`` evaluate + accumulate + summarize in the same run; the twelve summary numbers
  must agree. ``coco_speed_ratio`` = pycocotools time / rsvision time (target >= 1).
- ``bench_rotated_iou``: rsvision's exact 2,000 x 2,000 rotated IoU matrix against a shapely
  loop on a random subset of pairs, scaled up to the same number of pairs (and shapely's
  vectorised ufuncs likewise). ``rotated_iou_speedup_ratio`` = shapely loop time / rsvision
  time when every pair overlaps (target >= 50).

    .venv/bin/python benchmarks/geometry.py

Prints a table, then one JSON line ``{"bench": "geometry", ...}``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import time
from collections.abc import Callable

import numpy as np
import shapely

from rsvision.geometry import rbox_to_poly, rotated_iou

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
            {
                "id": k + 1,
                "image_id": int(i) + 1,
                "category_id": int(c) + 1,
                "bbox": b,
                "area": float(a),
                "iscrowd": int(w),
            }
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


def _best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    """Shortest wall time of ``repeats`` calls, in seconds (the machine is shared: the minimum is the least noisy)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_rotated_iou(n: int = 2000, sample_pairs: int = 40_000, seed: int = 0) -> dict:
    """rsvision's ``n x n`` rotated IoU matrix vs a shapely loop over random pairs, scaled to ``n * n`` pairs.

    Two layouts: ``dense``, every pair overlapping (boxes 40-120 px around one point: the
    worst case, every pair goes through the exact kernel), and ``scene``, boxes 8-128 px over a
    1024 x 1024 tile (a crowded DOTA-like tile: most pairs are disjoint). The shapely loop
    gets its polygons built beforehand and computes intersection area and IoU per pair.
    """
    rng = np.random.default_rng(seed)
    layouts = {
        "dense": lambda: np.c_[
            rng.uniform(480, 544, (n, 2)), rng.uniform(40, 120, (n, 2)), rng.uniform(-np.pi, np.pi, n)
        ],
        "scene": lambda: np.c_[
            rng.uniform(0, 1024, (n, 2)), rng.uniform(8, 128, (n, 2)), rng.uniform(-np.pi, np.pi, n)
        ],
    }
    out: dict = {"rotated_iou_n": n, "rotated_iou_shapely_sample_pairs": sample_pairs}
    for name, make in layouts.items():
        a, b = make(), make()
        rotated_iou(a[:50], b[:50])  # warm-up
        matrix = rotated_iou(a, b)
        t_ours = _best_of(lambda: rotated_iou(a, b))
        pa = shapely.polygons(rbox_to_poly(a).reshape(-1, 4, 2))
        pb = shapely.polygons(rbox_to_poly(b).reshape(-1, 4, 2))
        ia, ib = rng.integers(0, n, sample_pairs), rng.integers(0, n, sample_pairs)
        ref = np.empty(sample_pairs)

        def shapely_loop() -> None:
            for k, (i, j) in enumerate(zip(ia.tolist(), ib.tolist())):
                p, q = pa[i], pb[j]
                inter = p.intersection(q).area
                union = p.area + q.area - inter
                ref[k] = inter / union if union > 0 else 0.0

        t_loop = _best_of(shapely_loop) * (n * n) / sample_pairs

        def shapely_vectorised() -> None:
            inter = shapely.area(shapely.intersection(pa[ia], pb[ib]))
            _ = inter / (shapely.area(pa[ia]) + shapely.area(pb[ib]) - inter)

        t_vec = _best_of(shapely_vectorised) * (n * n) / sample_pairs
        out[f"rotated_iou_{name}_overlapping_fraction"] = round(float((matrix > 0).mean()), 4)
        out[f"rotated_iou_{name}_s"] = round(t_ours, 4)
        out[f"rotated_iou_{name}_shapely_loop_s"] = round(t_loop, 3)
        out[f"rotated_iou_{name}_shapely_vectorized_s"] = round(t_vec, 3)
        out[f"rotated_iou_{name}_speedup_ratio"] = round(t_loop / t_ours, 1)
        out[f"rotated_iou_{name}_vs_vectorized_ratio"] = round(t_vec / t_ours, 1)
        out[f"rotated_iou_{name}_max_abs_diff"] = float(np.abs(matrix[ia, ib] - ref).max())
    # the headline is the worst case for rsvision: every pair overlaps
    out["rotated_iou_speedup_ratio"] = out["rotated_iou_dense_speedup_ratio"]
    return out


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
