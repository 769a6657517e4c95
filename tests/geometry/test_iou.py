"""IoU: horizontal against torchvision, rotated against shapely's polygon IoU, overlap sweep against brute force."""

import math

import numpy as np
import pytest
import shapely
import torch
from torchvision.ops import box_iou as tv_box_iou

from rsvision.errors import GeometryError
from rsvision.geometry import box_iou, overlapping_pairs, paired_rotated_iou, rbox_to_poly, rotated_iou, xyxy_to_rbox


def shapely_iou(a, b):
    """Polygon IoU of aligned rotated boxes with shapely (0 where the union is empty)."""
    pa = shapely.polygons(rbox_to_poly(a).reshape(-1, 4, 2))
    pb = shapely.polygons(rbox_to_poly(b).reshape(-1, 4, 2))
    inter = shapely.area(shapely.intersection(pa, pb))
    union = shapely.area(pa) + shapely.area(pb) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def rb(n, rng, centre=(0, 50), size=(1, 40)):
    return np.c_[
        rng.uniform(*centre, (n, 2)), np.exp(rng.uniform(*np.log(size), (n, 2))), rng.uniform(-math.pi, math.pi, n)
    ]


def cases(rng):
    """(a, b) pairs: 10,000 in all, general and special."""
    out = []
    out.append((rb(4300, rng), rb(4300, rng)))  # general, about half overlapping
    thin = rb(800, rng)
    thin[:, 3] = thin[:, 2] * 10 ** rng.uniform(-6, -2, 800)
    out.append((thin, rb(800, rng)))  # thin
    big = rb(600, rng, size=(1e3, 1e4))
    out.append((big, rb(600, rng, centre=(-500, 500), size=(0.01, 5))))  # large vs small
    outer = rb(600, rng)
    inner = outer.copy()
    inner[:, 2:4] *= rng.uniform(0.05, 0.6, (600, 1))
    inner[:, 4] += rng.uniform(-0.3, 0.3, 600)
    out.append((outer, inner))  # nested
    same = rb(600, rng)
    out.append((same, same.copy()))  # identical
    shifted = same.copy()
    c, s = np.cos(same[:, 4]), np.sin(same[:, 4])
    shifted[:, 0] += c * same[:, 2]
    shifted[:, 1] += s * same[:, 2]
    out.append((same, shifted))  # touching along a full edge
    half = same.copy()
    half[:, 0] += c * same[:, 2] / 2
    half[:, 1] += s * same[:, 2] / 2
    out.append((same, half))  # collinear edges, half overlap
    corner = same.copy()
    corner[:, 0] += c * same[:, 2] - s * same[:, 3]
    corner[:, 1] += s * same[:, 2] + c * same[:, 3]
    out.append((same[:400], corner[:400]))  # touching at a corner
    crossed = same[:400].copy()
    crossed[:, 4] += math.pi / 2
    out.append((same[:400], crossed))  # same centre, turned a quarter
    flat = rb(600, rng)
    flat[:300, 3] = 0.0
    flat[300:, 3] = 1e-9
    out.append((flat, rb(600, rng)))  # zero-area and near-zero-area
    grid = rng.integers(0, 20, (1000, 4)).astype(float)
    x1, x2 = np.minimum(grid[:, 0], grid[:, 2]), np.maximum(grid[:, 0], grid[:, 2]) + 1
    y1, y2 = np.minimum(grid[:, 1], grid[:, 3]), np.maximum(grid[:, 1], grid[:, 3]) + 1
    hb = xyxy_to_rbox(np.c_[x1, y1, x2, y2])
    out.append((hb[:500], hb[500:]))  # integer axis-aligned boxes sharing coordinates
    a = np.concatenate([p[0] for p in out])
    b = np.concatenate([p[1] for p in out])
    assert len(a) == 10_000
    return a, b


def test_rotated_iou_equals_shapely_on_10000_pairs():
    rng = np.random.default_rng(0)
    a, b = cases(rng)
    ref = shapely_iou(a, b)
    got = paired_rotated_iou(a, b)
    np.testing.assert_allclose(got, ref, atol=1e-6, rtol=0)
    assert (ref > 0).mean() > 0.3 and (ref == 0).sum() > 500  # both outcomes well represented
    np.testing.assert_allclose(paired_rotated_iou(b, a), ref, atol=1e-6, rtol=0)  # symmetric


def test_rotated_iou_matrix_equals_pairwise_reference():
    rng = np.random.default_rng(1)
    a, b = rb(150, rng), rb(170, rng)
    b[:20] = a[:20]
    m = rotated_iou(a, b)
    assert m.shape == (150, 170)
    ia, ib = np.meshgrid(np.arange(150), np.arange(170), indexing="ij")
    np.testing.assert_allclose(m, shapely_iou(a[ia.ravel()], b[ib.ravel()]).reshape(150, 170), atol=1e-6, rtol=0)
    np.testing.assert_allclose(np.diag(m[:20, :20]), 1.0, atol=1e-12)


def test_rotated_iou_of_horizontal_boxes_is_box_iou():
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 100, (300, 2))
    xyxy = np.c_[xy, xy + rng.uniform(1, 30, (300, 2))]
    h = box_iou(xyxy[:100], xyxy[100:])
    np.testing.assert_allclose(
        h, tv_box_iou(torch.from_numpy(xyxy[:100]), torch.from_numpy(xyxy[100:])).numpy(), atol=1e-12
    )
    r = xyxy_to_rbox(xyxy)
    np.testing.assert_allclose(rotated_iou(r[:100], r[100:]), h, atol=1e-9)


def test_empty_and_torch_inputs():
    assert rotated_iou(np.zeros((0, 5)), np.zeros((3, 5))).shape == (0, 3)
    assert box_iou(np.zeros((2, 4)), np.zeros((0, 4))).shape == (2, 0)
    a = torch.tensor([[0.0, 0.0, 4.0, 2.0, 0.0]], dtype=torch.float64)
    out = rotated_iou(a, a)
    assert isinstance(out, torch.Tensor) and out.item() == pytest.approx(1.0)
    assert rotated_iou(np.zeros((1, 5)), np.zeros((1, 5)))[0, 0] == 0.0  # empty union


def test_overlapping_pairs_matches_brute_force():
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 100, (400, 2))
    a = np.c_[xy[:200], xy[:200] + rng.uniform(0, 15, (200, 2))]
    b = np.c_[xy[200:], xy[200:] + rng.uniform(0, 15, (200, 2))]
    b[:10] = a[:10]
    b[10:20, 0] = a[10:20, 2]  # touching only: not overlapping
    got = set()
    for ia, ib in overlapping_pairs(a, b):
        got |= set(zip(ia.tolist(), ib.tolist()))
    brute = (
        (a[:, None, 0] < b[None, :, 2]) & (b[None, :, 0] < a[:, None, 2])
        & (a[:, None, 1] < b[None, :, 3]) & (b[None, :, 1] < a[:, None, 3])
    )  # fmt: skip
    assert got == set(zip(*map(np.ndarray.tolist, np.nonzero(brute))))


def test_bad_rotated_boxes_are_refused():
    with pytest.raises(GeometryError, match="shape"):
        rotated_iou(np.zeros((2, 4)), np.zeros((2, 5)))
    with pytest.raises(GeometryError, match="negative"):
        rotated_iou(np.array([[0, 0, -1, 1, 0.0]]), np.zeros((2, 5)))
    with pytest.raises(GeometryError, match="as many"):
        paired_rotated_iou(np.zeros((2, 5)), np.zeros((3, 5)))
