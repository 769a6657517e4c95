import numpy as np
import pytest
from affine import Affine
from pyproj import Transformer

from rsvision.errors import DisjointScenesError, GridMismatchError
from rsvision.io import align, open_scene


def test_align_utm_onto_lonlat_at_a_known_point(make_raster):
    # Source: UTM 33N at 30 m; every pixel holds a unique id = row * width + col.
    h, w = 200, 240
    src_t = Affine(30, 0, 294500, 0, -30, 4651000)  # about 7 km around (12.565 E, 41.955 N)
    ids = np.arange(h * w, dtype="float32").reshape(h, w)
    source = open_scene(make_raster("utm.tif", ids, crs="EPSG:32633", transform=src_t))
    # Reference: lon/lat at about 20 m, covering the middle of the source.
    ref_t = Affine(0.0002, 0, 12.55, 0, -0.0002, 41.97)
    reference = open_scene(make_raster("ll.tif", np.zeros((150, 150), "uint8"), crs="EPSG:4326", transform=ref_t))
    aligned = align(source, to=reference, resampling="nearest")
    assert aligned.grid == reference.grid and aligned.crs == reference.crs
    out = aligned.read()
    assert out.shape == (1, 150, 150)
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32633", always_xy=True)
    for row, col in [(10, 20), (75, 75), (140, 33)]:
        lon, lat = ref_t @ (col + 0.5, row + 0.5)  # centre of the reference pixel
        x, y = to_utm.transform(lon, lat)
        src_col, src_row = ~src_t @ (x, y)
        assert out.data[0, row, col] == ids[int(src_row), int(src_col)]


def test_align_masks_where_second_scene_has_no_data(make_raster):
    ref = open_scene(
        make_raster("ref.tif", np.ones((100, 100), "uint16"), transform=Affine(10, 0, 500000, 0, -10, 4000000))
    )
    # The second scene covers only the left half of the reference, at 20 m.
    half = open_scene(
        make_raster("half.tif", np.full((50, 25), 7, "uint16"), transform=Affine(20, 0, 500000, 0, -20, 4000000))
    )
    out = align(half, to=ref).read()
    mask = np.ma.getmaskarray(out)[0]
    assert not mask[:, :50].any() and mask[:, 50:].all()
    assert (out.data[0, :, :50] == 7).all()
    # With a nodata value the warp keeps it, and it is masked too.
    half_nd = open_scene(
        make_raster(
            "half_nd.tif", np.full((50, 25), 7, "uint16"), transform=Affine(20, 0, 500000, 0, -20, 4000000), nodata=0
        )
    )
    mask = np.ma.getmaskarray(align(half_nd, to=ref).read())[0]
    assert not mask[:, :50].any() and mask[:, 50:].all()


def test_disjoint_scenes_raise(make_raster):
    a = open_scene(make_raster("a.tif", np.ones((10, 10), "uint8"), transform=Affine(10, 0, 500000, 0, -10, 4000000)))
    b = open_scene(make_raster("b.tif", np.ones((10, 10), "uint8"), transform=Affine(10, 0, 600000, 0, -10, 4000000)))
    with pytest.raises(DisjointScenesError, match=r"b\.tif does not overlap the reference scene"):
        align(b, to=a)


def test_align_needs_georeference(make_raster):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = open_scene(make_raster("a.tif", np.ones((10, 10), "uint8"), crs=None))
    b = open_scene(make_raster("b.tif", np.ones((10, 10), "uint8")))
    with pytest.raises(GridMismatchError, match="need a georeference"):
        align(b, to=a)


def test_oscd_second_date_onto_first_grid(shared):
    root = shared("oscd", "images", "abudhabi")
    before, after = open_scene(root / "imgs_1"), open_scene(root / "imgs_2")
    assert (before.width, before.height) != (after.width, after.height)
    aligned = align(after, to=before)
    out = aligned.read(bands=["B04"])
    assert out.shape == (1, before.height, before.width)
