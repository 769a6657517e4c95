"""Detection scoring of DOTA task-1 / task-2 files and COCO results, on hand-made cases whose AP is known."""

import json
import math

import numpy as np
import pytest

from rsvision.bench.detection import evaluate_coco_results, evaluate_dota_results
from rsvision.datasets import CocoDataset
from rsvision.datasets.base import Dataset, Sample
from rsvision.errors import AnnotationError, MetricInputError
from rsvision.geometry import xyxy_to_poly

CLASSES = ("car", "ship")


def _dataset(boxes_per_image, difficult=None, oriented=False):
    samples = []
    for _k, (name, boxes) in enumerate(boxes_per_image.items()):
        b = np.asarray(boxes, dtype=float).reshape(-1, 4)
        t = {"boxes": b, "labels": np.zeros(len(b), dtype=np.int64)}
        t["difficult"] = np.asarray(difficult[name] if difficult else np.zeros(len(b)), dtype=bool)
        if oriented:
            t["polygons"] = xyxy_to_poly(b)
        samples.append(Sample(name, None, t))
    return Dataset("/nowhere", samples, CLASSES)


def _task2(folder, rows, cls="car"):
    folder.mkdir(exist_ok=True)
    (folder / f"Task2_{cls}.txt").write_text("".join(f"{n} {s} {' '.join(map(str, b))}\n" for n, s, b in rows))
    return folder


GT = {"img1": [[0, 0, 10, 10], [20, 20, 30, 30]], "img2": [[0, 0, 10, 10], [50, 50, 60, 60]]}


def test_recall_limited_ap(tmp_path):
    """3 of 4 objects found, no false positive: all-point AP = 3/4 at every IoU; 11-point = 8/11 (t <= 0.75)."""
    preds = _task2(tmp_path / "p", [("img1", 1, GT["img1"][0]), ("img1", 1, GT["img1"][1]), ("img2", 1, GT["img2"][0])])
    out = evaluate_dota_results(_dataset(GT), preds)
    assert out["map50"] == pytest.approx(0.75) and out["map"] == pytest.approx(0.75)
    assert out["map50_voc07"] == pytest.approx(8 / 11)
    assert out["per_class"]["car"]["num_gt"] == 4 and out["per_class"]["car"]["num_det"] == 3
    assert math.isnan(out["per_class"]["ship"]["ap50"])  # no ground truth: NaN, left out of the mean


def test_false_positive_ranked_first(tmp_path):
    """An FP above n true positives: precision at the k-th TP is k / (k + 1), so the envelope gives AP = n / (n + 1)."""
    rows = [("img1", 0.99, [100, 100, 110, 110])] + [(n, 0.5, b) for n, bs in GT.items() for b in bs]
    out = evaluate_dota_results(_dataset(GT), _task2(tmp_path / "p", rows))
    assert out["map50"] == pytest.approx(4 / 5)


def test_map_over_iou_thresholds(tmp_path):
    """One box at IoU 0.72 (100 x 72 inside 100 x 100): a hit at 0.50 .. 0.70 (strictly above), a miss from 0.75."""
    gt = {"a": [[0, 0, 100, 100]]}
    out = evaluate_dota_results(_dataset(gt), _task2(tmp_path / "p", [("a", 0.9, [0, 0, 100, 72])]))
    assert out["map50"] == 1.0 and out["map75"] == 0.0 and out["map"] == pytest.approx(5 / 10)
    assert out["per_class"]["car"]["ap"] == pytest.approx(0.5)


def test_difficult_neither_true_nor_false(tmp_path):
    gt = {"a": [[0, 0, 10, 10], [20, 20, 30, 30]]}
    ds = _dataset(gt, difficult={"a": [False, True]})
    out = evaluate_dota_results(ds, _task2(tmp_path / "p", [("a", 0.9, [20, 20, 30, 30]), ("a", 0.8, [0, 0, 10, 10])]))
    assert out["map50"] == 1.0 and out["per_class"]["car"]["num_gt"] == 1


def test_task1_polygons_rotated(tmp_path):
    """A 45-degree square shifted by d along its side s overlaps s x (s - d): IoU (s - d) / (s + d) = 8 / 12."""
    s, d, c = 10.0, 2.0, 50.0
    u = np.array([1.0, 1.0]) / math.sqrt(2)  # side direction
    v = np.array([-1.0, 1.0]) / math.sqrt(2)

    def square(offset):
        o = np.array([c, c]) + offset * u
        return np.concatenate([o, o + s * u, o + s * u + s * v, o + s * v])

    gt_poly = square(0.0)
    samples = [
        Sample(
            "P1",
            None,
            {
                "polygons": gt_poly[None],
                "boxes": np.zeros((1, 4)),
                "labels": np.zeros(1, int),
                "difficult": np.zeros(1, bool),
            },
        )
    ]
    ds = Dataset("/nowhere", samples, CLASSES)
    folder = tmp_path / "t1"
    folder.mkdir()
    rolled = np.roll(gt_poly, 4)  # same square, corners listed from another start
    (folder / "Task1_car.txt").write_text(
        f"P1 0.9 {' '.join(map(str, square(d)))}\nP1 0.5 {' '.join(map(str, rolled))}\n"
    )
    out = evaluate_dota_results(ds, folder)
    # the shifted square (IoU 2/3) is ranked first: a TP up to IoU 0.65, then the exact one is a duplicate;
    # from 0.70 the shifted one is an FP and the exact one a TP at precision 1/2
    assert out["map50"] == 1.0
    assert out["map"] == pytest.approx((4 * 1.0 + 6 * 0.5) / 10)


def test_task2_on_oriented_data_uses_envelopes(tmp_path):
    ds = _dataset({"a": [[0, 0, 10, 10]]}, oriented=True)
    ds.samples[0].targets["polygons"] = np.array([[5, 0, 10, 5, 5, 10, 0, 5]], float)  # a diamond in the box
    out = evaluate_dota_results(ds, _task2(tmp_path / "p", [("a", 1, [0, 0, 10, 10])]))
    assert out["map"] == 1.0


def test_bad_prediction_folders(tmp_path):
    ds = _dataset(GT)
    with pytest.raises(MetricInputError, match=r"1 prediction images name no sample of the dataset \(first: img9\)"):
        evaluate_dota_results(ds, _task2(tmp_path / "a", [("img9", 1, [0, 0, 1, 1])]))
    with pytest.raises(AnnotationError, match=r"Task2_car.txt:1: expected 'imgname score xmin ymin xmax ymax'"):
        evaluate_dota_results(ds, _task2(tmp_path / "b", [("img1", 1, [0, 0, 1])]))
    with pytest.raises(AnnotationError, match="xmax < xmin"):
        evaluate_dota_results(ds, _task2(tmp_path / "c", [("img1", 1, [5, 0, 1, 1])]))
    with pytest.raises(AnnotationError, match="unknown class 'truck'"):
        evaluate_dota_results(ds, _task2(tmp_path / "d", [("img1", 1, [0, 0, 1, 1])], cls="truck"))
    both = _task2(tmp_path / "e", [])
    (both / "Task1_car.txt").write_text("")
    with pytest.raises(AnnotationError, match="both Task1_ and Task2_"):
        evaluate_dota_results(ds, both)
    (tmp_path / "f").mkdir()
    with pytest.raises(AnnotationError, match="no Task1_<class>.txt"):
        evaluate_dota_results(ds, tmp_path / "f")


def _coco(tmp_path):
    gt = {
        "images": [
            {"id": 7, "file_name": "a.jpg", "width": 200, "height": 200},
            {"id": 9, "file_name": "b.jpg", "width": 200, "height": 200},
        ],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 3, "bbox": [0, 0, 100, 100], "area": 10000, "iscrowd": 0},
            {"id": 2, "image_id": 9, "category_id": 3, "bbox": [10, 10, 50, 50], "area": 2500, "iscrowd": 0},
        ],
        "categories": [{"id": 3, "name": "tree"}, {"id": 5, "name": "car"}],
    }
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(gt))
    return CocoDataset(path)


def test_coco_results(tmp_path):
    """Image 7 at IoU 0.72 (hit for COCO's t <= 0.70), image 9 exact: per-threshold AP is 1 up to 0.70, then 1/2."""
    ds = _coco(tmp_path)
    rows = [
        {"image_id": 7, "category_id": 3, "bbox": [0, 0, 100, 72], "score": 0.9},
        {"image_id": 9, "category_id": 3, "bbox": [10, 10, 50, 50], "score": 0.8},
    ]
    (tmp_path / "res.json").write_text(json.dumps(rows))
    out = evaluate_coco_results(ds, tmp_path / "res.json")
    assert out["map50"] == pytest.approx(1.0) and out["map50_voc07"] == pytest.approx(1.0)
    # from 0.75 on: the higher-scored box is an FP, then the TP at recall 1/2 has precision 1/2;
    # COCO interpolates 101 recall points: 1/2 at recall 0 .. 0.5 (51 points), 0 beyond
    assert out["map75"] == pytest.approx(51 / 101 * 0.5)
    assert out["map"] == pytest.approx((5 * 1.0 + 5 * 51 / 101 * 0.5) / 10)
    assert out["per_class"]["tree"]["num_gt"] == 2 and math.isnan(out["per_class"]["car"]["ap50_voc07"])


def test_coco_results_errors(tmp_path):
    ds = _coco(tmp_path)
    for rows, error, message in [
        ([{"image_id": 8, "category_id": 3, "bbox": [0, 0, 1, 1], "score": 1}], AnnotationError, "image_id 8 is not"),
        (
            [{"image_id": 7, "category_id": 4, "bbox": [0, 0, 1, 1], "score": 1}],
            AnnotationError,
            "category_id 4 is not",
        ),
        ([{"image_id": 7, "category_id": 3, "bbox": [0, 0, 1], "score": 1}], AnnotationError, "result 0: bbox must be"),
        (
            [{"image_id": 7, "category_id": 3, "bbox": [0, 0, 1, 1], "score": "x"}],
            AnnotationError,
            "score must be a number",
        ),
        ({"image_id": 7}, AnnotationError, "JSON list"),
    ]:
        (tmp_path / "res.json").write_text(json.dumps(rows))
        with pytest.raises(error, match=message):
            evaluate_coco_results(ds, tmp_path / "res.json")
