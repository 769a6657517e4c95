import numpy as np
import pytest

from rsvision.errors import MetricInputError
from rsvision.metrics import classification
from rsvision.metrics.segmentation import ChangeMetric, SegmentationMetric


def test_hand_case_iou_and_miou():
    target = np.array([[0, 0, 1], [1, 2, 2]])
    pred = np.array([[0, 1, 1], [1, 2, 0]])
    m = SegmentationMetric(3, class_names=["water", "road", "roof"])
    m.update(pred, target)
    out = m.compute()
    # water tp1 fp1 fn1 -> 1/3; road tp2 fp1 fn0 -> 2/3; roof tp1 fp0 fn1 -> 1/2
    assert out["per_class"]["water"]["iou"] == pytest.approx(1 / 3)
    assert out["per_class"]["road"]["iou"] == pytest.approx(2 / 3)
    assert out["per_class"]["roof"]["iou"] == pytest.approx(1 / 2)
    assert out["per_class"]["road"]["precision"] == pytest.approx(2 / 3)
    assert out["per_class"]["road"]["recall"] == pytest.approx(1.0)
    assert out["per_class"]["road"]["f1"] == pytest.approx(0.8)
    assert out["miou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert out["overall_accuracy"] == pytest.approx(4 / 6)


def test_ignore_index_pixels_are_skipped():
    target = np.array([0, 1, 255, 255, 1])
    pred = np.array([0, 1, 1, 0, 0])
    m = SegmentationMetric(2, ignore_index=255)
    m.update(pred, target)
    assert m.confusion.matrix.tolist() == [[1, 0], [1, 1]]
    assert m.compute()["overall_accuracy"] == pytest.approx(2 / 3)


def test_ignore_index_inside_class_range_is_not_scored():
    target = np.array([0, 0, 1, 2, 2])
    pred = np.array([0, 2, 1, 2, 1])
    m = SegmentationMetric(3, ignore_index=0, class_names=["clutter", "a", "b"])
    m.update(pred, target)
    out = m.compute()
    assert set(out["per_class"]) == {"a", "b"}
    # a: tp1 fp1 -> 1/2 ; b: tp1 fn1 -> 1/2
    assert out["miou"] == pytest.approx(0.5)


def test_absent_class_left_out_of_miou():
    m = SegmentationMetric(3)
    m.update(np.array([0, 1]), np.array([0, 1]))
    assert m.compute()["miou"] == 1.0


def test_tiles_equal_one_shot_and_chunking(monkeypatch):
    rng = np.random.default_rng(1)
    target = rng.integers(0, 5, (96, 80)).astype(np.uint8)
    target[:10, :10] = 255
    pred = np.where(rng.random(target.shape) < 0.7, target % 5, rng.integers(0, 5, target.shape)).astype(np.uint8)
    one = SegmentationMetric(5, ignore_index=255)
    one.update(pred, target)
    tiles = SegmentationMetric(5, ignore_index=255)
    for y in range(0, 96, 32):
        for x in range(0, 80, 40):
            tiles.update(pred[y : y + 32, x : x + 40], target[y : y + 32, x : x + 40])
    monkeypatch.setattr(classification, "_CHUNK", 100)
    chunked = SegmentationMetric(5, ignore_index=255)
    chunked.update(pred, target)
    assert np.array_equal(one.confusion.matrix, tiles.confusion.matrix)
    assert np.array_equal(one.confusion.matrix, chunked.confusion.matrix)
    assert one.compute() == tiles.compute()
    assert one.confusion.total == 96 * 80 - 100


def test_segmentation_errors():
    m = SegmentationMetric(3)
    with pytest.raises(MetricInputError, match="label 3 outside"):
        m.update(np.array([0, 3]), np.array([0, 1]))
    with pytest.raises(MetricInputError, match="integers"):
        m.update(np.array([0.5]), np.array([0]))
    with pytest.raises(MetricInputError, match="shape"):
        m.update(np.zeros((2, 2), int), np.zeros((2, 3), int))


def test_change_metric_hand_case():
    # tp 3, fp 1, fn 2, tn 4
    target = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    pred = np.array([1, 1, 1, 0, 0, 1, 0, 0, 0, 0])
    m = ChangeMetric()
    m.update(pred.astype(bool), target.astype(bool))
    out = m.compute()
    assert out["precision"] == pytest.approx(3 / 4)
    assert out["recall"] == pytest.approx(3 / 5)
    assert out["f1"] == pytest.approx(6 / 9)
    assert out["iou"] == pytest.approx(3 / 6)
    assert out["overall_accuracy"] == pytest.approx(7 / 10)
    # p_e = (5*4 + 5*6) / 100 = 0.5
    assert out["kappa"] == pytest.approx((0.7 - 0.5) / 0.5)


def test_change_metric_rejects_255_masks():
    with pytest.raises(MetricInputError, match="divide 0/255 masks by 255"):
        ChangeMetric().update(np.array([0, 255]), np.array([0, 255]))
    with pytest.raises(MetricInputError, match="must not be a change class"):
        ChangeMetric(ignore_index=1)


def test_many_classes_uint8_labels_do_not_overflow():
    rng = np.random.default_rng(3)
    target = rng.integers(0, 256, 5000).astype(np.uint8)
    pred = rng.integers(0, 256, 5000).astype(np.uint8)
    m = SegmentationMetric(256)
    m.update(pred, target)
    expected = np.zeros((256, 256), dtype=np.int64)
    np.add.at(expected, (target.astype(int), pred.astype(int)), 1)
    assert np.array_equal(m.confusion.matrix, expected)
