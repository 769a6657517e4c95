"""COCO box evaluation (AP@[.5:.95], AP50, AP75, AP/AR by area, AR@1/10/100), vectorised with numpy.

The numbers equal pycocotools' ``COCOeval(iouType="bbox")`` with its default
parameters; pycocotools is not needed at runtime. Rules reproduced:

- images and categories are those of the annotation dict (sorted by id); results
  of unknown categories are dropped, results on unknown images are an error;
- per image and category, detections are sorted by score (ties keep the results
  order) and cut to 100; IoU of a detection with a crowd region is
  intersection / detection area;
- a ground truth is ignored when it is a crowd or its ``area`` field is outside
  the area range; a detection takes the best-IoU free ground truth (IoU >= t),
  preferring non-ignored ones, crowds staying free; a detection matched to an
  ignored ground truth, or unmatched with a box area outside the range, is
  ignored;
- precision is interpolated at 101 recall points; a category without
  non-ignored ground truth in a range is left out of that range's mean.

Two deliberate differences: values pycocotools reports as -1 (nothing to
average) are NaN here, and a ground truth whose ``id`` is 0 is matched like any
other (pycocotools mistakes a match to id 0 for no match). A missing ``area``
falls back to the box area, a missing ``iscrowd`` to 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rsvision.errors import AnnotationError, MetricInputError

__all__ = ["AREA_RANGES", "IOU_THRESHOLDS", "MAX_DETS", "RECALL_THRESHOLDS", "coco_evaluate"]

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
MAX_DETS = (1, 10, 100)
AREA_RANGES = {"all": (0.0, 1e5**2), "small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e5**2)}


@dataclass
class _Boxes:
    """Column arrays of one annotation or result list, already filtered to known images/categories."""

    img: np.ndarray  # index into the sorted image ids
    cat: np.ndarray  # index into the sorted category ids
    box: np.ndarray  # (n, 4) xywh float64
    area: np.ndarray
    extra: np.ndarray  # iscrowd (bool) for ground truth, score for detections


def _column(items: Sequence[dict], key: str, what: str, default: Any = None) -> list:
    try:
        if default is None:
            return [item[key] for item in items]
        return [item.get(key, default) for item in items]
    except KeyError:
        bad = next(i for i, item in enumerate(items) if key not in item)
        raise MetricInputError(f"{what}[{bad}] has no '{key}'") from None
    except (TypeError, AttributeError):
        raise MetricInputError(f"{what} must be a list of objects (dicts)") from None


def _xywh(values: list, what: str) -> np.ndarray:
    if not values:
        return np.zeros((0, 4))
    try:
        box = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    except (TypeError, ValueError):
        raise MetricInputError(f"{what}: every 'bbox' must be 4 numbers [x, y, w, h]") from None
    if box.shape[1] != 4:
        raise MetricInputError(f"{what}: every 'bbox' must be 4 numbers [x, y, w, h], got {box.shape[1]}")
    return box


def _index_of(ids: list, table: dict, what: str, strict: bool) -> tuple[np.ndarray, np.ndarray]:
    """Map ids to table indices; returns (indices, keep mask). Unknown ids raise when ``strict``."""
    idx = np.fromiter((table.get(i, -1) for i in ids), dtype=np.int64, count=len(ids))
    keep = idx >= 0
    if strict and not keep.all():
        bad = ids[int(np.argmin(keep))]
        raise MetricInputError(f"{what} names image_id {bad!r}, which the annotation file does not have")
    return idx, keep


def _read_gt(gt: dict, img_table: dict, cat_table: dict) -> _Boxes:
    anns = gt.get("annotations", [])
    if not isinstance(anns, list):
        raise AnnotationError("COCO annotation dict: 'annotations' must be a list")
    what = "annotations"
    img, keep_i = _index_of(_column(anns, "image_id", what), img_table, what, strict=False)
    cat, keep_c = _index_of(_column(anns, "category_id", what), cat_table, what, strict=False)
    box = _xywh(_column(anns, "bbox", what), what)
    area_raw = [a.get("area") for a in anns]
    missing = np.fromiter((v is None for v in area_raw), dtype=bool, count=len(area_raw))
    area = np.array([0.0 if v is None else v for v in area_raw], dtype=np.float64)
    area[missing] = box[missing, 2] * box[missing, 3]
    crowd = np.array(_column(anns, "iscrowd", what, default=0), dtype=bool)
    keep = keep_i & keep_c
    return _Boxes(img[keep], cat[keep], box[keep], area[keep], crowd[keep])


def _read_results(results: list, img_table: dict, cat_table: dict) -> _Boxes:
    if not isinstance(results, list):
        raise MetricInputError("COCO results must be a list of {image_id, category_id, bbox, score} objects")
    what = "results"
    img, _ = _index_of(_column(results, "image_id", what), img_table, what, strict=True)
    cat, keep = _index_of(_column(results, "category_id", what), cat_table, what, strict=False)
    box = _xywh(_column(results, "bbox", what), what)
    score_values = _column(results, "score", what)
    try:
        score = np.asarray(score_values, dtype=np.float64)
    except (TypeError, ValueError):
        raise MetricInputError("results: every 'score' must be a number") from None
    area = box[:, 2] * box[:, 3]
    return _Boxes(img[keep], cat[keep], box[keep], area[keep], score[keep])


def _pair_iou(d: np.ndarray, g: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU of row-aligned (det, gt) xywh pairs, in the same float operations as pycocotools' bbIou."""
    w = np.minimum(d[:, 2] + d[:, 0], g[:, 2] + g[:, 0]) - np.maximum(d[:, 0], g[:, 0])
    h = np.minimum(d[:, 3] + d[:, 1], g[:, 3] + g[:, 1]) - np.maximum(d[:, 1], g[:, 1])
    inter = w * h
    da = d[:, 2] * d[:, 3]
    union = np.where(crowd, da, da + g[:, 2] * g[:, 3] - inter)
    ok = (w > 0) & (h > 0)
    out = np.zeros(len(d))
    np.divide(inter, union, out=out, where=ok)
    return out


def _sort_dets(dt: _Boxes, n_cats: int, max_det: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order detections by (image, category, -score, results order), cut each group to ``max_det``.

    Returns the kept indices in that order, their group key and their rank in the group.
    """
    group = dt.img * n_cats + dt.cat
    order = np.argsort(-dt.extra, kind="stable")
    order = order[np.argsort(group[order], kind="stable")]
    g = group[order]
    first = np.r_[True, g[1:] != g[:-1]] if len(g) else np.zeros(0, bool)
    start = np.maximum.accumulate(np.where(first, np.arange(len(g)), 0)) if len(g) else np.zeros(0, np.int64)
    rank = np.arange(len(g)) - start
    keep = rank < max_det
    return order[keep], g[keep], rank[keep]


def _match(dt: _Boxes, gt: _Boxes, n_cats: int) -> dict[str, np.ndarray]:
    """Greedy COCO matching of every detection at every (area range, IoU threshold).

    Detections of equal rank in their (image, category) group are matched all at
    once, so the Python loop runs at most ``MAX_DETS[-1]`` times.
    """
    n_thr, n_area = len(IOU_THRESHOLDS), len(AREA_RANGES)
    rows = n_area * n_thr
    # ground truth ordered by (group, annotation order); ignore flag per area range
    g_group = gt.img * n_cats + gt.cat
    g_order = np.argsort(g_group, kind="stable")
    g_group, g_box, g_area, g_crowd = g_group[g_order], gt.box[g_order], gt.area[g_order], gt.extra[g_order]
    lo = np.array([r[0] for r in AREA_RANGES.values()])[:, None]
    hi = np.array([r[1] for r in AREA_RANGES.values()])[:, None]
    g_ignore = g_crowd[None, :] | (g_area[None, :] < lo) | (g_area[None, :] > hi)  # (A, G)
    g_ignore_rows = np.repeat(g_ignore, n_thr, axis=0)  # row = a * T + t
    thr_rows = np.tile(np.minimum(IOU_THRESHOLDS, 1 - 1e-10), n_area)[:, None]

    d_idx, d_group, d_rank = _sort_dets(dt, n_cats, MAX_DETS[-1])
    n_det = len(d_idx)
    d_box = dt.box[d_idx]
    g_start = np.searchsorted(g_group, d_group, side="left")
    g_count = np.searchsorted(g_group, d_group, side="right") - g_start

    matched = np.zeros((rows, n_det), dtype=bool)
    matched_ignored = np.zeros((rows, n_det), dtype=bool)
    taken = np.zeros((rows, len(g_group)), dtype=bool)

    # (det, gt) pairs of the same group, laid out by (det rank, det, gt order)
    by_rank = np.argsort(d_rank, kind="stable")
    by_rank = by_rank[g_count[by_rank] > 0]
    counts = g_count[by_rank]
    ends = np.cumsum(counts)
    offsets = ends - counts
    pair_det = np.repeat(by_rank, counts)
    pair_gt = np.repeat(g_start[by_rank] - offsets, counts) + np.arange(int(ends[-1]) if len(ends) else 0)
    pair_iou = _pair_iou(d_box[pair_det], g_box[pair_gt], g_crowd[pair_gt])
    rank_bounds = np.searchsorted(d_rank[by_rank], np.arange(MAX_DETS[-1] + 1), side="left")

    for r in range(MAX_DETS[-1]):
        j0, j1 = rank_bounds[r], rank_bounds[r + 1]
        if j0 == j1:
            continue
        p0, p1 = offsets[j0], ends[j1 - 1]
        gi, iou = pair_gt[p0:p1], pair_iou[p0:p1]
        seg_start = offsets[j0:j1] - p0
        seg_of = np.repeat(np.arange(j1 - j0), counts[j0:j1])
        cand = (~taken[:, gi] | g_crowd[gi]) & (iou >= thr_rows)
        regular = ~g_ignore_rows[:, gi]
        # a regular ground truth beats an ignored one; then higher IoU; then later in order
        any_regular = np.logical_or.reduceat(cand & regular, seg_start, axis=1)
        cand &= regular == any_regular[:, seg_of]
        val = np.where(cand, iou, -1.0)
        best = np.maximum.reduceat(val, seg_start, axis=1)
        pos = np.where(cand & (val == best[:, seg_of]), np.arange(p1 - p0), -1)
        pick = np.maximum.reduceat(pos, seg_start, axis=1)  # (rows, dets of rank r); -1: no match
        row, col = np.nonzero(pick >= 0)
        gt_hit = gi[pick[row, col]]
        det = by_rank[j0 + col]
        taken[row, gt_hit] = True
        matched[row, det] = True
        matched_ignored[row, det] = g_ignore_rows[row, gt_hit]

    d_area = dt.area[d_idx]
    outside = np.repeat((d_area[None, :] < lo) | (d_area[None, :] > hi), n_thr, axis=0)
    ignored = matched_ignored | (~matched & outside)
    return {
        "det": d_idx,
        "rank": d_rank,
        "matched": matched,
        "ignored": ignored,
        "gt_cat": gt.cat[g_order],
        "gt_ignore": g_ignore,
    }


def _accumulate(dt: _Boxes, m: dict[str, np.ndarray], n_cats: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision (T, R, K, A, M) and recall (T, K, A, M) arrays as COCOeval.accumulate makes them (-1: absent)."""
    n_thr, n_rec, n_area, n_max = len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), len(AREA_RANGES), len(MAX_DETS)
    precision = -np.ones((n_thr, n_rec, n_cats, n_area, n_max))
    recall = -np.ones((n_thr, n_cats, n_area, n_max))
    det, rank = m["det"], m["rank"]
    score, cat = dt.extra[det], dt.cat[det]
    # within a category: score descending, ties by image then rank (the concatenation order pycocotools sorts)
    order = np.argsort(-score, kind="stable")
    order = order[np.argsort(cat[order], kind="stable")]
    cat_bounds = np.searchsorted(cat[order], np.arange(n_cats + 1), side="left")
    tp_all = m["matched"] & ~m["ignored"]
    fp_all = ~m["matched"] & ~m["ignored"]
    n_pos = np.stack([np.bincount(m["gt_cat"][~ig], minlength=n_cats) for ig in m["gt_ignore"]])  # (A, K)
    eps = np.spacing(1)
    for k in range(n_cats):
        if not n_pos[:, k].any():
            continue
        seg = order[cat_bounds[k] : cat_bounds[k + 1]]
        for mi, max_det in enumerate(MAX_DETS):
            sel = seg[rank[seg] < max_det]
            tp = np.cumsum(tp_all[:, sel], axis=1, dtype=np.float64)
            fp = np.cumsum(fp_all[:, sel], axis=1, dtype=np.float64)
            n = len(sel)
            for a in range(n_area):
                npig = n_pos[a, k]
                if npig == 0:
                    continue
                rows = slice(a * n_thr, (a + 1) * n_thr)
                rc = tp[rows] / npig
                pr = tp[rows] / (fp[rows] + tp[rows] + eps)
                recall[:, k, a, mi] = rc[:, -1] if n else 0.0
                pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
                for t in range(n_thr):
                    inds = np.searchsorted(rc[t], RECALL_THRESHOLDS, side="left")
                    q = np.zeros(n_rec)
                    ok = inds < n
                    q[ok] = pr[t, inds[ok]]
                    precision[t, :, k, a, mi] = q
    return precision, recall


def _mean_valid(s: np.ndarray) -> float:
    s = s[s > -1]
    return float(np.mean(s)) if s.size else float("nan")


def coco_evaluate(gt: dict, results: list[dict]) -> dict:
    """Score COCO box results against a COCO annotation dict, as pycocotools' COCOeval(iouType="bbox").

    ``gt`` has ``images``, ``annotations`` (``image_id``, ``category_id``,
    ``bbox`` [x, y, w, h], ``area``, ``iscrowd``) and ``categories`` (``id``,
    ``name``); ``results`` is a list of ``{image_id, category_id, bbox, score}``.
    Returns ``map``, ``map50``, ``map75``, ``map_small``, ``map_medium``,
    ``map_large``, ``mar_1``, ``mar_10``, ``mar_100``, ``mar_small``,
    ``mar_medium``, ``mar_large`` and ``per_class`` ``{name: {"ap", "ap50"}}``;
    NaN where nothing can be averaged.
    """
    if not isinstance(gt, dict) or "images" not in gt or "categories" not in gt:
        raise AnnotationError("COCO annotation dict must have 'images' and 'categories' lists")
    img_ids = sorted({i for i in _column(gt["images"], "id", "images")})
    cats = gt["categories"]
    cat_ids = sorted({c for c in _column(cats, "id", "categories")})
    img_table = {i: n for n, i in enumerate(img_ids)}
    cat_table = {c: n for n, c in enumerate(cat_ids)}
    names = {c["id"]: str(c.get("name", c["id"])) for c in cats}

    g = _read_gt(gt, img_table, cat_table)
    d = _read_results(results, img_table, cat_table)
    n_cats = len(cat_ids)
    matches = _match(d, g, n_cats)
    precision, recall = _accumulate(d, matches, n_cats)

    all_, last = 0, len(MAX_DETS) - 1
    area_index = {name: i for i, name in enumerate(AREA_RANGES)}
    t50 = int(np.flatnonzero(IOU_THRESHOLDS == 0.5)[0])
    t75 = int(np.flatnonzero(IOU_THRESHOLDS == 0.75)[0])
    out: dict[str, Any] = {
        "map": _mean_valid(precision[..., all_, last]),
        "map50": _mean_valid(precision[t50, ..., all_, last]),
        "map75": _mean_valid(precision[t75, ..., all_, last]),
    }
    for name in ("small", "medium", "large"):
        out[f"map_{name}"] = _mean_valid(precision[..., area_index[name], last])
    for mi, max_det in enumerate(MAX_DETS):
        out[f"mar_{max_det}"] = _mean_valid(recall[..., all_, mi])
    for name in ("small", "medium", "large"):
        out[f"mar_{name}"] = _mean_valid(recall[..., area_index[name], last])
    out["per_class"] = {
        names[c]: {
            "ap": _mean_valid(precision[:, :, k, all_, last]),
            "ap50": _mean_valid(precision[t50, :, k, all_, last]),
        }
        for k, c in enumerate(cat_ids)
    }
    return out
