"""VOC / DOTA task-1 AP: a rotated case worked by hand, and random data against a port of the devkit's loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from rsvision.errors import MetricInputError
from rsvision.metrics.detection import DetectionMetric, voc_ap


def corners(box) -> np.ndarray:
    """(cx, cy, w, h, angle) -> 8 corner coordinates: centre + R(angle) @ (+-w/2, +-h/2), y down."""
    cx, cy, w, h, a = box
    c, s = math.cos(a), math.sin(a)
    local = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return np.array([v for x, y in local for v in (cx + c * x - s * y, cy + s * x + c * y)])


def shapely_iou(p: np.ndarray, q: np.ndarray) -> float:
    a, b = shapely.Polygon(p.reshape(4, 2)), shapely.Polygon(q.reshape(4, 2))
    return a.intersection(b).area / a.union(b).area


def along(box, shift):
    """The same rotated box moved ``shift`` along its long side: IoU (w - shift) / (w + shift)."""
    cx, cy, w, h, a = box
    return (cx + shift * math.cos(a), cy + shift * math.sin(a), w, h, a)


SHIP, PLANE = 0, 1
GT1 = (100.0, 100.0, 40.0, 20.0, math.pi / 6)
GT2 = (300.0, 300.0, 40.0, 20.0, -math.pi / 4)  # difficult
GT3 = (500.0, 100.0, 30.0, 10.0, 0.0)
GT4 = (200.0, 200.0, 60.0, 20.0, math.pi / 3)
GT5 = (400.0, 200.0, 50.0, 30.0, -math.pi / 6)
GT6 = (100.0, 400.0, 80.0, 60.0, 0.3)  # plane

# (box, score, label, the IoU with its ground truth as worked out by hand)
IMAGE1_DETS = [
    (GT1, 0.95, SHIP, 1.0),  # d1: exact copy of GT1
    (along(GT1, 10), 0.90, SHIP, 30 / 50),  # d2: also best on GT1, already taken -> duplicate
    (along(GT2, 5), 0.85, SHIP, 35 / 45),  # d3: on the difficult GT2
    (GT2, 0.60, SHIP, 1.0),  # d4: GT2 again; a difficult box is never "taken"
    (along(GT3, 10), 0.50, SHIP, 20 / 40),  # d5: IoU exactly 0.5, not > 0.5
]
IMAGE2_DETS = [
    (along(GT4, 10), 0.80, SHIP, 50 / 70),  # d6
    ((700.0, 700.0, 30.0, 10.0, 0.2), 0.70, SHIP, 0.0),  # d7: on nothing
    (along(GT5, 30), 0.55, SHIP, 20 / 80),  # d8: too far off GT5
    (GT6, 0.90, PLANE, 1.0),  # d9
]
IMAGE1_GT = ([GT1, GT2, GT3], [SHIP, SHIP, SHIP], [False, True, False])
IMAGE2_GT = ([GT4, GT5, GT6], [SHIP, SHIP, PLANE], [False, False, False])


def feed(metric: DetectionMetric, images, polygons_gt: bool = False) -> dict:
    for dets, (gts, gt_labels, difficult) in images:
        gt_boxes = np.array([corners(g) for g in gts]) if polygons_gt else np.array(gts)
        metric.update(
            np.array([d[0] for d in dets]), np.array([d[1] for d in dets]), np.array([d[2] for d in dets]),
            gt_boxes, np.array(gt_labels), np.array(difficult),
        )  # fmt: skip
    return metric.compute()


def test_hand_worked_case_ious_are_what_the_comments_say():
    pairs = [(GT1, IMAGE1_DETS[:2]), (GT2, IMAGE1_DETS[2:4]), (GT3, IMAGE1_DETS[4:])]
    gt_of = {id(d): g for g, ds in pairs for d in ds}
    gt_of.update({id(IMAGE2_DETS[0]): GT4, id(IMAGE2_DETS[2]): GT5, id(IMAGE2_DETS[3]): GT6})
    for det in IMAGE1_DETS + IMAGE2_DETS:
        if id(det) in gt_of:
            assert shapely_iou(corners(det[0]), corners(gt_of[id(det)])) == pytest.approx(det[3], abs=1e-9)
    all_gt = [corners(g) for g in IMAGE2_GT[0]]
    assert max(shapely_iou(corners(IMAGE2_DETS[1][0]), g) for g in all_gt) == 0


@pytest.mark.parametrize("polygons_gt", [False, True])
def test_hand_worked_rotated_case(polygons_gt):
    # Ship: 4 non-difficult ground truths (GT1, GT3, GT4, GT5). Detections over both images by score:
    #   d1 .95 TP   -> tp 1 fp 0  recall .25  precision 1
    #   d2 .90 FP   -> tp 1 fp 1  recall .25  precision .5   (duplicate on GT1)
    #   d3 .85 ign  -> tp 1 fp 1  recall .25  precision .5   (difficult GT2: neither TP nor FP)
    #   d6 .80 TP   -> tp 2 fp 1  recall .5   precision 2/3
    #   d7 .70 FP   -> tp 2 fp 2  recall .5   precision .5
    #   d4 .60 ign  -> tp 2 fp 2  recall .5   precision .5   (difficult GT2 again: still ignored)
    #   d8 .55 FP   -> tp 2 fp 3  recall .5   precision .4   (IoU .25)
    #   d5 .50 FP   -> tp 2 fp 4  recall .5   precision 1/3  (IoU exactly .5: the devkit needs > .5)
    # All-point: envelope is 1 up to recall .25, 2/3 up to .5, 0 beyond: AP = .25 * 1 + .25 * 2/3 = 5/12.
    # 11-point: t = 0, .1, .2 -> 1; t = .3, .4, .5 -> 2/3; t = .6 ... 1 -> 0: AP = (3 + 2) / 11 = 5/11.
    # Plane: one exact hit: AP 1 both ways. Means over the two classes: 17/24 and 8/11.
    images = [(IMAGE1_DETS, IMAGE1_GT), (IMAGE2_DETS, IMAGE2_GT)]
    out = feed(DetectionMetric(["ship", "plane"], rotated=True), images, polygons_gt)
    ship, plane = out["per_class"]["ship"], out["per_class"]["plane"]
    assert ship["ap50"] == pytest.approx(5 / 12, abs=1e-12)
    assert ship["ap50_voc07"] == pytest.approx(5 / 11, abs=1e-12)
    assert (ship["num_gt"], ship["num_det"]) == (4, 8)
    assert plane == {"ap50": 1.0, "ap50_voc07": 1.0, "num_gt": 1, "num_det": 1}
    assert out["map50"] == pytest.approx(17 / 24, abs=1e-12)
    assert out["map50_voc07"] == pytest.approx(8 / 11, abs=1e-12)


def test_image_order_does_not_matter():
    a = feed(DetectionMetric(["ship", "plane"], rotated=True), [(IMAGE1_DETS, IMAGE1_GT), (IMAGE2_DETS, IMAGE2_GT)])
    b = feed(DetectionMetric(["ship", "plane"], rotated=True), [(IMAGE2_DETS, IMAGE2_GT), (IMAGE1_DETS, IMAGE1_GT)])
    assert a == b


def test_voc_ap_uses_the_devkits_11_point_grid():
    # np.arange(0, 1.1, 0.1)[3] is 0.30000000000000004, so a recall of exactly 0.3 misses t = "0.3": 3 points of 11.
    assert voc_ap(np.array([0.3]), np.array([1.0]), use_07=True) == pytest.approx(3 / 11)
    assert voc_ap(np.array([0.3]), np.array([1.0])) == pytest.approx(0.3)
    assert voc_ap(np.array([]), np.array([])) == 0.0


def test_class_without_ground_truth_is_left_out_of_the_mean():
    m = DetectionMetric(["a", "b"])
    m.update([[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.8], [0, 1], [[0, 0, 10, 10]], [0])
    out = m.compute()
    assert out["map50"] == 1.0 and math.isnan(out["per_class"]["b"]["ap50"]) and out["per_class"]["b"]["num_det"] == 1


def test_bad_input_gives_clear_errors():
    m = DetectionMetric(["a"])
    with pytest.raises(MetricInputError, match=r"pred_boxes must be \(N, 4\)"):
        m.update(np.zeros((2, 5)), [0.1, 0.2], [0, 0], np.zeros((0, 4)), [])
    with pytest.raises(MetricInputError, match="class indices"):
        m.update(np.zeros((1, 4)), [0.1], [3], np.zeros((0, 4)), [])
    with pytest.raises(MetricInputError, match="gt_difficult has 2 values for 1 boxes"):
        m.update(np.zeros((0, 4)), [], [], [[0, 0, 1, 1]], [0], [False, True])


# --------------------------------------------------------------------------- devkit port


def devkit_voc_eval(images, classname, ovthresh=0.5, use_07_metric=False):
    """``voc_eval`` of DOTA_devkit/dota_evaluation_task1.py, ported with files replaced by in-memory records.

    ``images``: list of dicts with 8-corner ``gt``, ``gt_label``, ``difficult``, ``det``,
    ``score``, ``label``. ``polyiou.iou_poly`` is replaced by shapely's polygon IoU; the
    horizontal pre-filter with its +1 keeps its exact form.
    """
    class_recs = {}
    npos = 0
    for imagename, im in enumerate(images):
        keep = im["gt_label"] == classname
        bbox = im["gt"][keep]
        difficult = im["difficult"][keep].astype(bool)
        det = [False] * len(bbox)
        npos = npos + sum(~difficult)
        class_recs[imagename] = {"bbox": bbox, "difficult": difficult, "det": det}

    image_ids, confidence, boxes = [], [], []
    for imagename, im in enumerate(images):
        for b, s, lab in zip(im["det"], im["score"], im["label"]):
            if lab == classname:
                image_ids.append(imagename)
                confidence.append(s)
                boxes.append(b)
    confidence = np.array(confidence)
    BB = np.array(boxes).reshape(-1, 8)
    sorted_ind = np.argsort(-confidence)
    BB = BB[sorted_ind, :]
    image_ids = [image_ids[x] for x in sorted_ind]

    nd = len(image_ids)
    tp = np.zeros(nd)
    fp = np.zeros(nd)
    for d in range(nd):
        R = class_recs[image_ids[d]]
        bb = BB[d, :].astype(float)
        ovmax = -np.inf
        BBGT = R["bbox"].astype(float)
        if BBGT.size > 0:
            BBGT_xmin = np.min(BBGT[:, 0::2], axis=1)
            BBGT_ymin = np.min(BBGT[:, 1::2], axis=1)
            BBGT_xmax = np.max(BBGT[:, 0::2], axis=1)
            BBGT_ymax = np.max(BBGT[:, 1::2], axis=1)
            bb_xmin, bb_ymin = np.min(bb[0::2]), np.min(bb[1::2])
            bb_xmax, bb_ymax = np.max(bb[0::2]), np.max(bb[1::2])
            ixmin = np.maximum(BBGT_xmin, bb_xmin)
            iymin = np.maximum(BBGT_ymin, bb_ymin)
            ixmax = np.minimum(BBGT_xmax, bb_xmax)
            iymax = np.minimum(BBGT_ymax, bb_ymax)
            iw = np.maximum(ixmax - ixmin + 1.0, 0.0)
            ih = np.maximum(iymax - iymin + 1.0, 0.0)
            inters = iw * ih
            uni = (
                (bb_xmax - bb_xmin + 1.0) * (bb_ymax - bb_ymin + 1.0)
                + (BBGT_xmax - BBGT_xmin + 1.0) * (BBGT_ymax - BBGT_ymin + 1.0)
                - inters
            )
            overlaps = inters / uni
            BBGT_keep_mask = overlaps > 0
            BBGT_keep = BBGT[BBGT_keep_mask, :]
            BBGT_keep_index = np.where(overlaps > 0)[0]
            if len(BBGT_keep) > 0:
                overlaps = [shapely_iou(g, bb) for g in BBGT_keep]
                ovmax = np.max(overlaps)
                jmax = np.argmax(overlaps)
                jmax = BBGT_keep_index[jmax]
        if ovmax > ovthresh:
            if not R["difficult"][jmax]:
                if not R["det"][jmax]:
                    tp[d] = 1.0
                    R["det"][jmax] = 1
                else:
                    fp[d] = 1.0
        else:
            fp[d] = 1.0

    fp = np.cumsum(fp)
    tp = np.cumsum(tp)
    rec = tp / float(npos)
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return devkit_voc_ap(rec, prec, use_07_metric)


def devkit_voc_ap(rec, prec, use_07_metric=False):
    """``voc_ap`` of the devkit, loops and all."""
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            if np.sum(rec >= t) == 0:
                p = 0
            else:
                p = np.max(prec[rec >= t])
            ap = ap + p / 11.0
        return ap
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


def random_images(seed: int, rotated: bool, n_img: int = 25, n_cls: int = 3):
    """Objects with jittered detections (hits, near misses, duplicates), stray detections, ~15% difficult."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n_img):
        n_gt = int(rng.integers(0, 9)) if i % 7 else 0
        gt = np.column_stack([
            rng.uniform(50, 950, (n_gt, 2)), rng.uniform(20, 120, n_gt), rng.uniform(10, 60, n_gt),
            rng.uniform(-math.pi / 2, math.pi / 2, n_gt) if rotated else np.zeros(n_gt),
        ])  # fmt: skip
        gt_label = rng.integers(0, n_cls, n_gt)
        det, label = [], []
        if i % 5 != 4:
            for g, lab in zip(gt, gt_label):
                for _ in range(int(rng.integers(0, 4))):
                    j = rng.normal(0, 0.07, 5)
                    det.append(g + np.array([j[0] * g[2], j[1] * g[3], j[2] * g[2], j[3] * g[3], j[4] * rotated]))
                    label.append(lab if rng.random() > 0.1 else rng.integers(0, n_cls))
            for _ in range(int(rng.integers(0, 6))):
                det.append(np.array([*rng.uniform(50, 950, 2), *rng.uniform(20, 100, 2), rng.uniform(-1, 1) * rotated]))
                label.append(rng.integers(0, n_cls))
        det = np.array(det).reshape(-1, 5)
        det[:, 2:4] = np.abs(det[:, 2:4])
        images.append({
            "gt5": gt, "gt_label": gt_label, "difficult": rng.random(n_gt) < 0.15,
            "det5": det, "label": np.array(label, dtype=np.int64), "score": rng.random(len(det)),
        })  # fmt: skip
    for im in images:
        for key in ("gt", "det"):
            boxes = im[key + "5"]
            if rotated:
                im[key + "_metric"] = boxes
                im[key] = np.array([corners(b) for b in boxes]).reshape(-1, 8)
            else:
                xyxy = np.column_stack([boxes[:, :2] - boxes[:, 2:4] / 2, boxes[:, :2] + boxes[:, 2:4] / 2])
                im[key + "_metric"] = xyxy
                im[key] = xyxy[:, [0, 1, 2, 1, 2, 3, 0, 3]]
    return images


@pytest.mark.parametrize("rotated", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_data_matches_the_devkit_port(seed, rotated):
    images = random_images(seed, rotated)
    classes = ["a", "b", "c"]
    metric = DetectionMetric(classes, rotated=rotated)
    for im in images:
        metric.update(im["det_metric"], im["score"], im["label"], im["gt_metric"], im["gt_label"], im["difficult"])
    out = metric.compute()
    ap, ap07 = [], []
    for c, name in enumerate(classes):
        ap.append(devkit_voc_eval(images, c))
        ap07.append(devkit_voc_eval(images, c, use_07_metric=True))
        assert out["per_class"][name]["ap50"] == pytest.approx(ap[-1], abs=1e-12)
        assert out["per_class"][name]["ap50_voc07"] == pytest.approx(ap07[-1], abs=1e-12)
    assert out["map50"] == pytest.approx(np.mean(ap), abs=1e-12)
    assert out["map50_voc07"] == pytest.approx(np.mean(ap07), abs=1e-12)
    assert 0.1 < out["map50"] < 0.95  # hits, misses and duplicates all present


def test_pr_curve_walks_the_detections_by_falling_score():
    metric = DetectionMetric(["a"], 0.5)
    gt = np.array([[0.0, 0, 10, 10], [20, 20, 30, 30]])
    found = np.array([[0.0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30]])
    metric.update(found, [0.9, 0.8, 0.3], [0, 0, 0], gt, [0, 0])
    recall, precision, scores = metric.pr_curve(0)
    assert recall.tolist() == [0.5, 0.5, 1.0] and np.allclose(precision, [1, 0.5, 2 / 3])
    assert scores.tolist() == [0.9, 0.8, 0.3]
