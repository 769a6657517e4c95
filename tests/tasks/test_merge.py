"""Blend weights and box merging across tiles."""

import numpy as np
import pytest

from rsvision.io import tiles
from rsvision.tasks.merge import axis_weight_sum, axis_weights, merge_boxes, touches_inner_edge


def _starts(length, size, overlap):
    return sorted({int(w.col_off) for w in tiles((1, length), size, overlap)})


@pytest.mark.parametrize(
    "length,size,overlap", [(1000, 256, 64), (1000, 256, 200), (700, 512, 64), (300, 512, 64), (1030, 100, 0)]
)
def test_weights_positive_and_smooth(length, size, overlap):
    starts = _starts(length, size, overlap)
    weights = axis_weights(starts, min(size, length))
    assert all((w > 0).all() and (w <= 1).all() for w in weights)
    total = axis_weight_sum(starts, len(weights[0]), length)
    assert total.min() > 0
    if overlap * 2 <= size:  # two tiles per pixel at most: the ramps form a partition of unity
        np.testing.assert_allclose(total, 1.0, atol=1e-12)
    for w in weights:  # no jumps inside a tile: steps stay small
        assert np.abs(np.diff(w)).max() <= np.pi / (2 * max(overlap, 1)) + 1e-9 or overlap == 0


def test_scene_edges_keep_full_weight():
    starts = _starts(1000, 256, 64)
    weights = axis_weights(starts, 256)
    assert weights[0][0] == 1 and weights[-1][-1] == 1
    assert weights[1][0] < 0.01 and weights[0][-1] < 0.01  # ramps reach towards 0 at inner edges, never 0


def test_touches_inner_edge():
    boxes = np.array([[0, 10, 20, 30], [50, 50, 60, 60], [90, 95, 100, 100.0]])
    cut = touches_inner_edge(boxes, (100, 100), (True, True, True, True), margin=1)
    assert cut.tolist() == [True, False, True]
    cut = touches_inner_edge(boxes, (100, 100), (False, True, False, False), margin=1)  # only the top is inner
    assert cut.tolist() == [False, False, False]


def test_merge_prefers_whole_boxes_and_is_class_aware():
    boxes = np.array(
        [
            [100, 100, 130, 120],  # whole
            [100, 100, 115, 120],  # the same object cut by a tile edge, scoring higher
            [100, 100, 130, 120],  # the same place, another class
            [102, 101, 131, 121],  # a duplicate of box 0 from the next tile
            [300, 300, 400, 380],  # an object larger than the overlap: two cut pieces, the larger wins
            [340, 300, 400, 380],
        ],
        float,
    )
    scores = np.array([0.6, 0.9, 0.5, 0.55, 0.7, 0.8])
    labels = np.array([1, 1, 2, 1, 0, 0])
    cut = np.array([False, True, False, False, True, True])
    keep = merge_boxes(boxes, scores, labels, cut, iou_threshold=0.5)
    assert sorted(keep.tolist()) == [0, 2, 4]


def test_merge_rotated_and_empty():
    assert merge_boxes(np.zeros((0, 5)), np.zeros(0), np.zeros(0, int), np.zeros(0, bool), 0.5).size == 0
    r = np.array([[50, 50, 20, 10, 0.3], [50.5, 50, 20, 10, 0.3], [50, 50, 8, 10, 0.3]])
    keep = merge_boxes(r, np.array([0.9, 0.8, 0.95]), np.array([0, 0, 0]), np.array([False, False, True]), 0.5)
    assert keep.tolist() == [0]
