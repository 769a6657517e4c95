"""Masks -> polygons -> masks round trips through rasterio.features."""

import numpy as np
import pytest
import shapely
from rasterio.transform import Affine

from rsvision.errors import GeometryError
from rsvision.geometry import mask_to_polygons, rasterize_polygons

UTM = Affine(10.0, 0.0, 448_000.0, 0.0, -10.0, 5_412_000.0)


def class_map():
    m = np.zeros((40, 50), dtype=np.uint8)
    m[5:15, 5:20] = 1
    m[20:35, 10:15] = 2
    m[22:30, 30:45] = 3
    m[25:27, 35:40] = 1  # a hole in class 3 filled by class 1
    m[0, 49] = 2  # one pixel
    return m


@pytest.mark.parametrize("transform", [None, UTM])
def test_round_trip_polygons_raster_polygons(transform):
    m = class_map()
    shapes = mask_to_polygons(m, transform=transform, background=0)
    assert {v for _, v in shapes} == {1, 2, 3} and all(isinstance(v, int) for _, v in shapes)
    back = rasterize_polygons(shapes, m.shape, transform=transform)
    np.testing.assert_array_equal(back, m)
    again = mask_to_polygons(back, transform=transform, background=0)
    assert sorted((round(g.area, 6), v) for g, v in again) == sorted((round(g.area, 6), v) for g, v in shapes)
    cell = 1.0 if transform is None else 100.0
    assert sum(g.area for g, v in shapes if v == 3) == pytest.approx((8 * 15 - 2 * 5) * cell)


def test_pixel_corner_convention():
    m = np.zeros((4, 4), dtype=np.uint8)
    m[1, 2] = 1
    [(g, v)] = mask_to_polygons(m, background=0)
    assert g.bounds == (2.0, 1.0, 3.0, 2.0) and v == 1
    [(g, _)] = mask_to_polygons(m, transform=UTM, background=0)
    assert g.bounds == (448_020.0, 5_411_980.0, 448_030.0, 5_411_990.0)


def test_min_area_simplify_connectivity_and_dtypes():
    m = class_map()
    big = mask_to_polygons(m, background=0, min_area=2.0)
    assert all(g.area >= 2.0 for g, _ in big) and len(big) == len(mask_to_polygons(m, background=0)) - 1
    diag = np.eye(5, dtype=bool)
    assert len(mask_to_polygons(diag, background=0, connectivity=4)) == 5
    assert len(mask_to_polygons(diag, background=0, connectivity=8)) == 1
    staircase = np.tril(np.ones((30, 30), dtype=np.uint8))
    [(rough, _)] = mask_to_polygons(staircase, background=0)
    [(smooth, _)] = mask_to_polygons(staircase, background=0, simplify=1.0)
    assert len(smooth.exterior.coords) < len(rough.exterior.coords) / 5
    assert smooth.symmetric_difference(rough).area < 30
    wide = m.astype(np.int64) * 1000
    assert {v for _, v in mask_to_polygons(wide, background=0)} == {1000, 2000, 3000}
    f = m.astype(np.float64)
    f[f == 0] = np.nan
    assert {v for _, v in mask_to_polygons(f)} == {1.0, 2.0, 3.0}
    with pytest.raises(GeometryError, match="cannot represent"):
        mask_to_polygons(np.array([[2**40, 0]], dtype=np.int64))
    with pytest.raises(GeometryError, match="2-D"):
        mask_to_polygons(np.zeros((2, 3, 3)))


def test_rasterize_values_dtype_and_empty_input():
    square = shapely.box(1, 1, 3, 3)
    out = rasterize_polygons([square], (4, 4))
    assert out.dtype == np.uint8 and out.sum() == 4
    assert rasterize_polygons([(square, 70000)], (4, 4)).dtype == np.int32
    assert rasterize_polygons([(square, 0.5)], (4, 4)).max() == 0.5
    np.testing.assert_array_equal(rasterize_polygons([], (2, 3), fill=7), np.full((2, 3), 7))
    touched = rasterize_polygons([shapely.box(0.9, 0.9, 1.1, 1.1)], (3, 3), all_touched=True)
    assert touched.sum() == 4
    with pytest.raises(GeometryError, match="pairs"):
        rasterize_polygons([("not a geometry", 1)], (2, 2))
