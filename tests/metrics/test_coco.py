"""COCO box evaluation against pycocotools (a test dependency) on generated cases."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import pytest

from rsvision.errors import MetricInputError
from rsvision.metrics.coco import coco_evaluate

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

STATS_KEYS = [
    "map", "map50", "map75", "map_small", "map_medium", "map_large",
    "mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large",
]  # fmt: skip


def make_case(
    seed: int,
    n_img: int = 40,
    n_cat: int = 5,
    gt_per_img: float = 8,
    crowd_frac: float = 0.1,
    jitter: float = 0.08,
    false_per_img: float = 5,
    crowded_image_frac: float = 0.0,
    score_decimals: int | None = None,
    duplicate_gt_frac: float = 0.0,
) -> tuple[dict, list]:
    """A COCO annotation dict and a results list.

    About 15% of images have no ground truth and 10% no detections; object sizes
    span small to large; ``area`` is below the box area as for segmentations.
    """
    rng = np.random.default_rng(seed)
    images = [{"id": 7 + 3 * i, "width": 640, "height": 480} for i in range(n_img)]
    cats = [{"id": 1 + 2 * c, "name": f"class{c}"} for c in range(n_cat)]
    anns: list[dict] = []
    res: list[dict] = []

    def rand_box():
        s = float(np.exp(rng.uniform(np.log(4), np.log(300))))
        r = float(np.exp(rng.uniform(-1, 1)))
        return [float(rng.uniform(0, 600)), float(rng.uniform(0, 450)), s * r, s / r]

    def det(image_id: int, category_id: int, bbox: list) -> dict:
        return {"image_id": image_id, "category_id": category_id, "bbox": bbox, "score": float(rng.random())}

    for im in images:
        objects = []
        for _ in range(rng.poisson(gt_per_img) if rng.random() > 0.15 else 0):
            box, cat = rand_box(), cats[rng.integers(n_cat)]["id"]
            copies = 2 if rng.random() < duplicate_gt_frac else 1  # identical boxes: IoU ties
            for _ in range(copies):
                anns.append({
                    "id": len(anns) + 1, "image_id": im["id"], "category_id": cat, "bbox": box,
                    "area": box[2] * box[3] * float(rng.uniform(0.5, 1.0)),
                    "iscrowd": int(rng.random() < crowd_frac),
                })  # fmt: skip
            objects.append((box, cat))
        if rng.random() < 0.1:
            continue
        for (x, y, w, h), cat in objects:
            for _ in range(rng.integers(0, 4)):
                j = rng.normal(0, jitter, 4)
                c = cat if rng.random() > 0.1 else cats[rng.integers(n_cat)]["id"]
                exact = rng.random() < 0.1
                bbox = [x, y, w, h] if exact else [x + j[0] * w, y + j[1] * h, w * np.exp(j[2]), h * np.exp(j[3])]
                res.append(det(im["id"], c, [float(v) for v in bbox]))
        for _ in range(rng.poisson(false_per_img)):
            res.append(det(im["id"], cats[rng.integers(n_cat)]["id"], rand_box()))
        if rng.random() < crowded_image_frac:  # more than 100 detections of one class in one image
            for _ in range(130):
                res.append(det(im["id"], cats[0]["id"], rand_box()))
    if score_decimals is not None:  # ties in score: the order rules must agree too
        for r in res:
            r["score"] = round(r["score"], score_decimals)
    return {"images": images, "annotations": anns, "categories": cats}, res


def reference(gt: dict, res: list) -> COCOeval:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(res)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def assert_matches_pycocotools(gt: dict, res: list) -> dict:
    ours = coco_evaluate(gt, res)
    ref = reference(gt, res)
    expected = np.where(ref.stats == -1, np.nan, ref.stats)  # -1 (nothing to average) is NaN here
    got = np.array([ours[k] for k in STATS_KEYS])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4, equal_nan=True)
    prec = ref.eval["precision"][:, :, :, 0, -1]  # T, R, K at area "all", 100 detections
    for k, cat in enumerate(sorted(gt["categories"], key=lambda c: c["id"])):
        p = prec[:, :, k]
        want_ap = p[p > -1].mean() if (p > -1).any() else np.nan
        want_ap50 = p[0][p[0] > -1].mean() if (p[0] > -1).any() else np.nan
        got_pc = ours["per_class"][cat["name"]]
        np.testing.assert_allclose([got_pc["ap"], got_pc["ap50"]], [want_ap, want_ap50], atol=1e-4, equal_nan=True)
    return ours


def test_coco_basic_case_with_empty_images_and_crowds():
    gt, res = make_case(0)
    assert any(not any(a["image_id"] == im["id"] for a in gt["annotations"]) for im in gt["images"])
    assert any(a["iscrowd"] for a in gt["annotations"])
    out = assert_matches_pycocotools(gt, res)
    assert 0.2 < out["map50"] < 1  # a real mix of hits and misses, not a degenerate case


def test_coco_many_classes_truncation_and_score_ties():
    gt, res = make_case(1, n_img=30, n_cat=80, gt_per_img=20, crowded_image_frac=0.15, score_decimals=2)
    assert_matches_pycocotools(gt, res)


def test_coco_crowd_heavy_with_identical_ground_truths():
    gt, res = make_case(2, crowd_frac=0.35, duplicate_gt_frac=0.3, score_decimals=1, jitter=0.05)
    assert_matches_pycocotools(gt, res)


def test_coco_ious_exactly_on_the_thresholds():
    """Boxes 252 wide shifted by 84, 63, 36, 28 px along x: IoU (w - s) / (w + s) = 0.5, 0.6, 0.75, 0.8 exactly."""
    rng = np.random.default_rng(6)
    images = [{"id": i + 1} for i in range(20)]
    cats = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    anns, res = [], []
    for im in images:
        for _ in range(3):
            x, y, h = (int(v) for v in rng.integers([0, 0, 10], [400, 400, 120]))
            cat = int(rng.integers(1, 3))
            anns.append({
                "id": len(anns) + 1, "image_id": im["id"], "category_id": cat,
                "bbox": [x, y, 252, h], "area": 252 * h, "iscrowd": 0,
            })  # fmt: skip
            for shift in rng.choice([0, 84, 63, 36, 28], size=2):
                bbox = [x + int(shift), y, 252, h]
                res.append({"image_id": im["id"], "category_id": cat, "bbox": bbox, "score": float(rng.random())})
    assert_matches_pycocotools({"images": images, "annotations": anns, "categories": cats}, res)


def test_coco_categories_without_ground_truth_and_unknown_result_category():
    gt, res = make_case(3, n_img=12, n_cat=4)
    gt["categories"].append({"id": 99, "name": "never-annotated"})
    res.append({"image_id": gt["images"][0]["id"], "category_id": 99, "bbox": [1.0, 2.0, 30.0, 40.0], "score": 0.5})
    res.append({"image_id": gt["images"][0]["id"], "category_id": 12345, "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.9})
    out = assert_matches_pycocotools(gt, res)
    assert np.isnan(out["per_class"]["never-annotated"]["ap"])


def test_coco_no_results_at_all():
    gt, _ = make_case(4, n_img=5)
    out = coco_evaluate(gt, [])
    assert out["map"] == 0 and out["mar_100"] == 0


def test_coco_bad_results_give_clear_errors():
    gt, res = make_case(5, n_img=3)
    with pytest.raises(MetricInputError, match="image_id 424242"):
        coco_evaluate(gt, [*res, {"image_id": 424242, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1.0}])
    with pytest.raises(MetricInputError, match="has no 'score'"):
        coco_evaluate(gt, [{"image_id": 7, "category_id": 1, "bbox": [0, 0, 1, 1]}])
    with pytest.raises(MetricInputError, match="4 numbers"):
        coco_evaluate(gt, [{"image_id": 7, "category_id": 1, "bbox": [0, 0, 1], "score": 1.0}])
