"""Box converters: le90 normalisation, polygon <-> rotated box, horizontal conversions, torch twins."""

import math

import numpy as np
import pytest
import shapely
import torch

from rsvision.errors import GeometryError
from rsvision.geometry import (
    box_area,
    normalize_rbox,
    poly_area,
    poly_to_rbox,
    poly_to_xyxy,
    rbox_area,
    rbox_to_poly,
    rbox_to_xyxy,
    xywh_to_xyxy,
    xyxy_to_rbox,
    xyxy_to_xywh,
)


def random_rboxes(n, rng, square=False):
    wh = rng.uniform(0.5, 50, (n, 2))
    if square:
        wh[:, 1] = wh[:, 0]
    return np.c_[rng.uniform(-100, 100, (n, 2)), wh, rng.uniform(-10, 10, n)]


def same_corner_sets(p, q, tol=1e-9):
    """Every corner of p has a corner of q within tol, box by box."""
    a, b = p.reshape(-1, 4, 1, 2), q.reshape(-1, 1, 4, 2)
    d = np.linalg.norm(a - b, axis=-1)
    return bool((d.min(-1) < tol).all() and (d.min(-2) < tol).all())


def assert_le90(r):
    assert (r[:, 2] >= r[:, 3]).all()
    assert (r[:, 4] >= -math.pi / 2).all() and (r[:, 4] < math.pi / 2).all()


def test_normalize_keeps_the_rectangle_and_lands_in_le90():
    rng = np.random.default_rng(0)
    r = random_rboxes(2000, rng)
    n = normalize_rbox(r)
    assert_le90(n)
    assert same_corner_sets(rbox_to_poly(r), rbox_to_poly(n))
    np.testing.assert_array_equal(normalize_rbox(n), n)  # idempotent


@pytest.mark.parametrize("square", [False, True])
def test_every_encoding_of_a_rectangle_normalises_to_one(square):
    rng = np.random.default_rng(1)
    base = normalize_rbox(random_rboxes(300, rng, square=square))
    cx, cy, w, h, a = base.T
    variants = [np.c_[cx, cy, w, h, a + k * math.pi] for k in (-3, -1, 1, 2)] + [
        np.c_[cx, cy, h, w, a + s * math.pi / 2] for s in (-3, -1, 1, 3)
    ]
    for v in variants:
        np.testing.assert_allclose(normalize_rbox(v), base, atol=1e-9, rtol=0)
    if square:
        assert (base[:, 4] >= -math.pi / 4).all() and (base[:, 4] < math.pi / 4).all()


@pytest.mark.parametrize(
    "box, expected",
    [
        ((0, 0, 4, 2, math.pi / 2), (0, 0, 4, 2, -math.pi / 2)),
        ((0, 0, 4, 2, -math.pi / 2), (0, 0, 4, 2, -math.pi / 2)),
        ((0, 0, 4, 2, math.pi / 2 - 1e-15), (0, 0, 4, 2, -math.pi / 2)),
        ((0, 0, 4, 2, -math.pi / 2 - 1e-15), (0, 0, 4, 2, -math.pi / 2)),
        ((0, 0, 4, 2, math.pi), (0, 0, 4, 2, 0)),
        ((0, 0, 2, 4, 0), (0, 0, 4, 2, -math.pi / 2)),
        ((0, 0, 2, 4, math.pi / 2), (0, 0, 4, 2, 0)),
        ((0, 0, 3, 3, math.pi / 4), (0, 0, 3, 3, -math.pi / 4)),
        ((0, 0, 3, 3, math.pi / 2), (0, 0, 3, 3, 0)),
        ((0, 0, 3, 3 * (1 + 1e-12), 0.3), (0, 0, 3 * (1 + 0.5e-12), 3 * (1 + 0.5e-12), 0.3)),
        ((5, 6, 0, 0, 1.0), (5, 6, 0, 0, 1.0 - math.pi / 2)),
    ],
)
def test_le90_edge_angles(box, expected):
    np.testing.assert_allclose(normalize_rbox(np.array([box]))[0], expected, atol=1e-12, rtol=0)


def test_rbox_to_poly_follows_the_clockwise_convention():
    # angle 0: corners TL, TR, BR, BL on the image; a positive angle turns the long side down (clockwise)
    np.testing.assert_allclose(rbox_to_poly(np.array([[10, 20, 4, 2, 0]])), [[8, 19, 12, 19, 12, 21, 8, 21]])
    p = rbox_to_poly(np.array([[0, 0, 2, 0, 0.1]]))[0]
    assert p[2] > 0 and p[3] > 0  # the +w/2 end goes right and down


def test_poly_rbox_poly_round_trip():
    rng = np.random.default_rng(2)
    r = normalize_rbox(random_rboxes(2000, rng))
    p = rbox_to_poly(r)
    back = poly_to_rbox(p)
    np.testing.assert_allclose(back[:, :4], r[:, :4], atol=1e-9, rtol=0)
    # angles agree modulo the period of the shape (pi, or pi/2 for squares)
    assert same_corner_sets(rbox_to_poly(back), p)
    # any starting corner and either orientation give the same box
    for shift in (1, 2, 3):
        rolled = np.roll(p.reshape(-1, 4, 2), shift, axis=1).reshape(-1, 8)
        np.testing.assert_allclose(poly_to_rbox(rolled), back, atol=1e-9, rtol=0)
    flipped = p.reshape(-1, 4, 2)[:, ::-1].reshape(-1, 8)
    np.testing.assert_allclose(poly_to_rbox(flipped), back, atol=1e-9, rtol=0)


def test_poly_to_rbox_is_the_minimum_area_rectangle():
    rng = np.random.default_rng(3)
    # DOTA-like integer quadrilaterals: jittered rectangles, some non-convex or self-crossing
    r = random_rboxes(500, rng)
    quads = np.round(rbox_to_poly(r) + rng.normal(0, 2, (500, 8)))
    ours = poly_to_rbox(quads)
    ref = shapely.minimum_rotated_rectangle(shapely.multipoints(quads.reshape(-1, 4, 2)))
    np.testing.assert_allclose(rbox_area(ours), shapely.area(ref), rtol=1e-9, atol=1e-9)
    # it encloses every corner
    rect = shapely.polygons(rbox_to_poly(ours).reshape(-1, 4, 2))
    grown = shapely.buffer(rect, 1e-7)
    assert shapely.contains(grown, shapely.multipoints(quads.reshape(-1, 4, 2))).all()


def test_poly_to_rbox_degenerate_inputs():
    line = np.array([[0, 0, 2, 0, 4, 0, 1, 0]], dtype=float)
    np.testing.assert_allclose(poly_to_rbox(line), [[2, 0, 4, 0, 0]], atol=1e-12)
    point = np.array([[3, 4] * 4], dtype=float)
    np.testing.assert_allclose(poly_to_rbox(point), [[3, 4, 0, 0, 0]], atol=1e-12)


def test_horizontal_conversions():
    rng = np.random.default_rng(4)
    x, y = np.sort(rng.uniform(0, 100, (50, 2)), axis=1), np.sort(rng.uniform(0, 100, (50, 2)), axis=1)
    xyxy = np.c_[x[:, 0], y[:, 0], x[:, 1], y[:, 1]]
    np.testing.assert_allclose(xywh_to_xyxy(xyxy_to_xywh(xyxy)), xyxy)
    r = xyxy_to_rbox(xyxy)
    assert_le90(r)
    np.testing.assert_allclose(rbox_to_xyxy(r), xyxy, atol=1e-9)
    np.testing.assert_allclose(box_area(xyxy), rbox_area(r), rtol=1e-12)
    tall = xyxy_to_rbox(np.array([[0.0, 0.0, 2.0, 6.0]]))
    np.testing.assert_allclose(tall, [[1, 3, 6, 2, -math.pi / 2]])


def test_rbox_to_xyxy_encloses_the_corners():
    rng = np.random.default_rng(5)
    r = random_rboxes(500, rng)
    np.testing.assert_allclose(rbox_to_xyxy(r), poly_to_xyxy(rbox_to_poly(r)), atol=1e-9)
    np.testing.assert_allclose(poly_area(rbox_to_poly(r)), rbox_area(r), rtol=1e-9)


def test_torch_twins_match_numpy():
    rng = np.random.default_rng(6)
    r = random_rboxes(200, rng)
    t = torch.from_numpy(r)
    for fn in (normalize_rbox, rbox_to_poly, rbox_to_xyxy, rbox_area):
        out = fn(t)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
        np.testing.assert_allclose(out.numpy(), fn(r), atol=1e-12, rtol=0)
    xyxy = rbox_to_xyxy(r)
    for fn in (xyxy_to_xywh, xywh_to_xyxy, box_area, xyxy_to_rbox):
        np.testing.assert_allclose(fn(torch.from_numpy(xyxy)).numpy(), fn(xyxy), atol=1e-12)
    assert normalize_rbox(t.float()).dtype == torch.float32


@pytest.mark.parametrize(
    "fn, arg, match",
    [
        (normalize_rbox, np.zeros((3, 4)), r"shape \(N, 5\)"),
        (normalize_rbox, np.array([[0, 0, -1, 1, 0]]), "negative"),
        (normalize_rbox, np.array([[0, 0, np.nan, 1, 0]]), "NaN"),
        (poly_to_rbox, np.zeros((2, 7)), "2k"),
        (xyxy_to_xywh, [["a", "b", "c", "d"]], "numeric"),
        (xyxy_to_rbox, np.array([[5.0, 0, 1, 1]]), "x1 <= x2"),
    ],
)
def test_bad_input_gives_a_clear_error(fn, arg, match):
    with pytest.raises(GeometryError, match=match):
        fn(arg)
