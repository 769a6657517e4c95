"""Pixel <-> map coordinates with a UTM affine, boxes to georeferenced polygons and back."""

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.transform
import shapely
from rasterio.transform import Affine

import rsvision
from rsvision.errors import GeometryError
from rsvision.geometry import (
    boxes_to_polygons,
    map_to_pixel,
    normalize_rbox,
    pixel_to_map,
    polygons_to_pixel,
    polygons_to_rboxes,
    polygons_to_xyxy,
    rbox_to_poly,
)

# Sentinel-2 10 m grid of tile 31UDQ (UTM zone 31N), upper-left corner at (399960, 5400000).
UTM = Affine(10.0, 0.0, 399_960.0, 0.0, -10.0, 5_400_000.0)


def test_known_point_on_a_utm_grid():
    assert pixel_to_map(UTM, 0, 0) == (399_960.0, 5_400_000.0)  # top-left corner of pixel (0, 0)
    x, y = pixel_to_map(UTM, 10.5, 20.5)  # centre of row 20, column 10
    assert (x, y) == (400_065.0, 5_399_795.0)
    assert (x, y) == rasterio.transform.xy(UTM, 20, 10, offset="center")
    col, row = map_to_pixel(UTM, 400_065.0, 5_399_795.0)
    assert (col, row) == (10.5, 20.5)
    rng = np.random.default_rng(0)
    px, py = rng.uniform(0, 10980, (2, 100))
    np.testing.assert_allclose(map_to_pixel(UTM, *pixel_to_map(UTM, px, py)), (px, py), atol=1e-7)


def test_sample_scene_transform_agrees_with_rasterio():
    band = next((Path(rsvision.__file__).parent / "samples/data/oscd_bercy/imgs_1").glob("*_B02.tif"), None)
    if band is None:
        pytest.skip("sample OSCD scene not packaged")
    with rasterio.open(band) as ds:
        rows, cols = np.array([0, 3, ds.height - 1]), np.array([0, 7, ds.width - 1])
        np.testing.assert_allclose(pixel_to_map(ds.transform, cols, rows), ds.xy(rows, cols, offset="ul"))


def test_boxes_to_polygons_in_map_coordinates():
    xyxy = np.array([[10.0, 20.0, 30.0, 25.0]])
    [p] = boxes_to_polygons(xyxy, UTM)
    assert p.bounds == (400_060.0, 5_399_750.0, 400_260.0, 5_399_800.0)
    assert p.area == pytest.approx(20 * 5 * 100)
    [q] = boxes_to_polygons(xyxy)  # identity: pixel coordinates
    assert q.equals(shapely.box(10, 20, 30, 25))
    r = np.array([[50.0, 60.0, 20.0, 8.0, math.pi / 6]])
    [pr] = boxes_to_polygons(r, UTM)
    [pc] = boxes_to_polygons(rbox_to_poly(r), UTM)
    assert pr.equals(pc) and pr.area == pytest.approx(20 * 8 * 100)
    with pytest.raises(GeometryError, match=r"\(N, 4\)"):
        boxes_to_polygons(np.zeros((2, 6)), UTM)


def test_polygons_back_to_pixels():
    rng = np.random.default_rng(1)
    r = normalize_rbox(np.c_[rng.uniform(0, 500, (50, 2)), rng.uniform(2, 40, (50, 2)), rng.uniform(-3, 3, 50)])
    polys = boxes_to_polygons(r, UTM)
    pix = polygons_to_pixel(polys, UTM)
    np.testing.assert_allclose([shapely.get_coordinates(g)[:4].ravel() for g in pix], rbox_to_poly(r), atol=1e-6)
    back = polygons_to_rboxes(polys, UTM)
    np.testing.assert_allclose(back[:, :4], r[:, :4], atol=1e-6)
    np.testing.assert_allclose(np.cos(2 * back[:, 4]), np.cos(2 * r[:, 4]), atol=1e-6)
    np.testing.assert_allclose(polygons_to_xyxy(polys, UTM), shapely.bounds(np.array(pix)), atol=1e-9)
    line = polygons_to_rboxes([shapely.LineString([(0, 0), (4, 0)])])
    np.testing.assert_allclose(line, [[2, 0, 4, 0, 0]], atol=1e-12)
    with pytest.raises(GeometryError, match="inverted"):
        map_to_pixel(Affine(0, 0, 0, 0, 0, 0), 1, 1)
