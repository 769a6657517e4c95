"""NMS against a plain greedy loop over the IoU matrix."""

import math

import numpy as np
import pytest
import torch

from rsvision.errors import GeometryError
from rsvision.geometry import box_iou, nms, rotated_iou, rotated_nms


def greedy(iou, scores, thr, classes=None):
    """Textbook NMS: visit by descending score, keep a box unless a kept box of its class overlaps it > thr."""
    classes = np.zeros(len(scores), int) if classes is None else classes
    kept = []
    for i in np.argsort(-scores, kind="stable"):
        if all(iou[i, k] <= thr or classes[i] != classes[k] for k in kept):
            kept.append(i)
    return np.array(kept, dtype=np.int64)


def clustered_rboxes(n, rng):
    """Objects with several jittered detections each, so IoUs spread over (0, 1)."""
    objects = np.c_[rng.uniform(0, 200, (n // 8, 2)), rng.uniform(10, 30, n // 8), rng.uniform(4, 10, n // 8)]
    objects = np.c_[objects, rng.uniform(-math.pi / 2, math.pi / 2, n // 8)]
    r = objects[rng.integers(0, len(objects), n)]
    return r + rng.normal(0, 1, (n, 5)) * [2, 2, 1, 0.5, 0.15]


@pytest.mark.parametrize("thr", [0.1, 0.3, 0.5, 0.7])
@pytest.mark.parametrize("with_classes", [False, True])
def test_rotated_nms_matches_greedy_loop(thr, with_classes):
    rng = np.random.default_rng(int(thr * 10) + with_classes)
    r = clustered_rboxes(400, rng)
    scores = rng.permutation(400) / 400 + 0.001  # distinct
    classes = rng.integers(0, 3, 400) if with_classes else None
    got = rotated_nms(r, scores, thr, classes)
    expected = greedy(rotated_iou(r, r), scores, thr, classes)
    np.testing.assert_array_equal(got, expected)
    assert 0 < len(got) < 400  # suppression happened, but not everywhere


@pytest.mark.parametrize("with_classes", [False, True])
def test_horizontal_nms_matches_greedy_loop(with_classes):
    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 100, (300, 2)) + rng.normal(0, 2, (300, 2))
    boxes = np.c_[xy, xy + rng.uniform(5, 20, (300, 2))]
    scores = rng.permutation(300) / 300.0
    classes = rng.integers(0, 4, 300) if with_classes else None
    got = nms(boxes, scores, 0.4, classes)
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, greedy(box_iou(boxes, boxes), scores, 0.4, classes))
    t = nms(
        torch.from_numpy(boxes), torch.from_numpy(scores), 0.4, None if classes is None else torch.from_numpy(classes)
    )
    assert isinstance(t, torch.Tensor)
    np.testing.assert_array_equal(t.numpy(), greedy(box_iou(boxes, boxes), scores, 0.4, classes))


def test_rotated_nms_edge_cases():
    assert rotated_nms(np.zeros((0, 5)), np.zeros(0), 0.5).shape == (0,)
    r = np.array([[0, 0, 10, 5, 0.0], [0, 0, 10, 5, 0.0], [100, 100, 10, 5, 0.0]])
    np.testing.assert_array_equal(rotated_nms(r, np.array([0.2, 0.9, 0.5]), 0.5), [1, 2])
    out = rotated_nms(torch.from_numpy(r), torch.tensor([0.2, 0.9, 0.5]), 0.5)
    assert isinstance(out, torch.Tensor) and out.tolist() == [1, 2]
    with pytest.raises(GeometryError, match="scores"):
        rotated_nms(r, np.array([0.1, 0.2]), 0.5)
    with pytest.raises(GeometryError, match="x1 <= x2"):
        nms(np.array([[5.0, 0, 1, 1]]), np.array([1.0]), 0.5)
