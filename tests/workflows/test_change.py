"""`change_scenes`: two generated scenes in different CRSs and resolutions with a planted change; the change polygon
lands at the planted map position within a pixel; every method finds it; the map is the same tiled and untiled;
a partial overlap is cut to the intersection; bands pair by name or wavelength; a disjoint pair and one without
common bands are refused before any file is made."""

import numpy as np
import pyogrio
import pyogrio.raw
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.warp import Resampling, calculate_default_transform, reproject

from rsvision.core.sensors import get_sensor
from rsvision.errors import BandNotFoundError, DisjointScenesError
from rsvision.workflows.change import change_scenes, pair_bands, pair_scenes

T1 = Affine(10, 0, 500000, 0, -10, 4000000)  # EPSG:32633, 10 m
H = W = 160
ROWS, COLS = (60, 90), (70, 100)  # the planted change, in the first date's pixels
NAMES = ("blue", "green", "red", "nir")


def _write(path, data, crs, transform, nodata=None):
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0], dtype="float32")
    with rasterio.open(path, "w", crs=crs, transform=transform, nodata=nodata, **profile) as dst:
        dst.write(data)
        dst.descriptions = NAMES
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The first date in UTM at 10 m; the second in Web Mercator at 15 m, changed in ROWS x COLS."""
    folder = tmp_path_factory.mktemp("change")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:H, 0:W]
    phases = np.arange(4)[:, None, None]
    smooth = 200 * np.sin(xx / 7 + phases) * np.cos(yy / 9 - phases) + 2 * xx  # resampling keeps it
    before = (1000 + smooth + rng.normal(0, 5, (4, H, W))).astype(np.float32)
    after = before + rng.normal(0, 5, before.shape).astype(np.float32)
    after[:, slice(*ROWS), slice(*COLS)] += np.array([500, -400, 600, -300], np.float32)[:, None, None]
    bounds = rasterio.transform.array_bounds(H, W, T1)
    transform, w, h = calculate_default_transform("EPSG:32633", "EPSG:3857", W, H, *bounds[::-1][::-1], resolution=15)
    warped = np.zeros((4, h, w), np.float32)
    reproject(
        after,
        warped,
        src_transform=T1,
        src_crs="EPSG:32633",
        dst_transform=transform,
        dst_crs="EPSG:3857",
        resampling=Resampling.nearest,
        dst_nodata=0,
    )
    return _write(folder / "before.tif", before, "EPSG:32633", T1), _write(
        folder / "after.tif", warped, "EPSG:3857", transform, nodata=0
    )


def test_change_polygon_at_the_planted_place(pair, tmp_path):
    result = change_scenes(
        *pair,
        tmp_path / "change.tif",
        vector=tmp_path / "change.gpkg",
        quiet=True,
        preview=tmp_path / "p.png",
        probabilities=tmp_path / "p.tif",
        tile=64,
    )
    info = pyogrio.read_info(tmp_path / "change.gpkg")
    assert info["features"] == 1
    meta, _, geoms, columns = pyogrio.raw.read(tmp_path / "change.gpkg")
    poly = shapely.from_wkb(geoms[0])
    x0, y0 = T1 @ (COLS[0], ROWS[1])
    x1, y1 = T1 @ (COLS[1], ROWS[0])
    assert np.allclose(poly.bounds, (x0, y0, x1, y1), atol=10)  # within one 10 m pixel
    area, probability = columns[list(meta["fields"]).index("area")], columns[list(meta["fields"]).index("probability")]
    assert area[0] == pytest.approx(300 * 300, rel=0.15)
    assert 0.5 < probability[0] <= 1
    assert result.changed == pytest.approx(900, rel=0.15)
    with rasterio.open(tmp_path / "change.tif") as ds:
        assert ds.crs.to_epsg() == 32633 and ds.transform == T1
    with rasterio.open(tmp_path / "p.tif") as ds:
        assert ds.count == 2 and ds.tags()["units"] == "percent"
    assert (tmp_path / "p.png").stat().st_size > 1000


@pytest.mark.parametrize("method", ["cva", "irmad", "pcakmeans"])
def test_each_method_finds_the_change(pair, tmp_path, method):
    change_scenes(*pair, tmp_path / "c.tif", method=method, quiet=True)
    with rasterio.open(tmp_path / "c.tif") as ds:
        found = ds.read(1) == 1
    truth = np.zeros((H, W), bool)
    truth[slice(*ROWS), slice(*COLS)] = True
    assert (found & truth).sum() / truth.sum() > 0.95
    # IR-MAD's 99% chi-square test also flags ~1.5% of the unchanged pixels: resampling the second date from 15 m
    # puts a tail on its no-change distribution
    assert (found & truth).sum() / (found | truth).sum() > (0.65 if method == "irmad" else 0.8)


@pytest.mark.parametrize("method", ["cva", "irmad", "pcakmeans"])
def test_tiled_equals_untiled(pair, tmp_path, method):
    maps = []
    for tile in (48, 512):
        change_scenes(
            *pair,
            tmp_path / f"{tile}.tif",
            method=method,
            tile=tile,
            probabilities=tmp_path / f"{tile}p.tif",
            quiet=True,
        )
        with rasterio.open(tmp_path / f"{tile}.tif") as a, rasterio.open(tmp_path / f"{tile}p.tif") as b:
            maps.append((a.read(1), b.read(2).astype(int)))
    assert np.array_equal(maps[0][0], maps[1][0])
    assert np.abs(maps[0][1] - maps[1][1]).max() <= 1  # percent, rounded after blending


def test_partial_overlap_is_cut_to_the_intersection(pair, tmp_path):
    before = pair[0]
    with rasterio.open(before) as ds:
        part = ds.read()[:, 20:120, 30:150]
    cut = _write(tmp_path / "part.tif", part, "EPSG:32633", T1 @ Affine.translation(30, 20))
    change_scenes(before, cut, tmp_path / "c.tif", quiet=True)
    with rasterio.open(tmp_path / "c.tif") as ds:
        assert (ds.width, ds.height) == (120, 100)
        assert ds.transform == T1 @ Affine.translation(30, 20)


def test_disjoint_pair_is_refused(pair, tmp_path):
    before, _ = pair
    with rasterio.open(before) as ds:
        data = ds.read()
    far = _write(tmp_path / "far.tif", data, "EPSG:32633", Affine(10, 0, 600000, 0, -10, 4000000))
    with pytest.raises(DisjointScenesError):
        change_scenes(before, far, tmp_path / "c.tif", quiet=True)
    assert list(tmp_path.iterdir()) == [far]


def test_no_common_bands_is_refused(pair, tmp_path):
    before, _ = pair
    with rasterio.open(before) as ds:
        data = ds.read()
    profile = dict(driver="GTiff", width=W, height=H, count=4, dtype="float32", crs="EPSG:32633", transform=T1)
    other = tmp_path / "other.tif"
    with rasterio.open(other, "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = ("swir1", "swir2", "tir1", "tir2")
    with pytest.raises(BandNotFoundError, match="no common bands"):
        change_scenes(before, other, tmp_path / "c.tif", quiet=True)
    assert list(tmp_path.iterdir()) == [other]


def test_sentinel2_pairs_with_landsat_on_common_bands():
    s2, l8 = get_sensor("sentinel-2").bands, get_sensor("landsat-8-9").bands
    pairs = [(s2[i].name, l8[j].name) for i, j in pair_bands(s2, l8)]
    assert pairs == [
        ("B01", "B1"), ("B02", "B2"), ("B03", "B3"), ("B04", "B4"),
        ("B8A", "B5"),  # the nearer of B08 (842 nm) and B8A (865 nm) to OLI's 865 nm
        ("B10", "B9"), ("B11", "B6"), ("B12", "B7"),
    ]  # fmt: skip
    full = pair_bands(s2, s2)
    assert full == [(i, i) for i in range(13)]


def _sensed(scene: np.ndarray, dy: int, dx: int, factor: int = 10) -> np.ndarray:
    """A 10 m image of a 1 m ``scene`` seen ``(dy, dx)`` metres off: each pixel the mean of its 10 x 10 metres."""
    h, w = (scene.shape[1] - 40) // factor, (scene.shape[2] - 40) // factor
    part = scene[:, 20 + dy : 20 + dy + h * factor, 20 + dx : 20 + dx + w * factor]
    return part.reshape(scene.shape[0], h, factor, w, factor).mean((2, 4)).astype(np.float32)


def test_coregistration_takes_a_misregistered_date_off_the_edges(tmp_path):
    """Fields and buildings at 1 m seen by two dates 7 m apart on one 10 m grid, a block built in between: the
    shift is measured, the dates' difference away from the change falls, and the change is still found."""
    rng = np.random.default_rng(3)
    scene = np.full((4, 1640, 1640), 1000.0)
    for _ in range(500):
        y, x = rng.integers(0, 1580, 2)
        h, w = rng.integers(15, 60, 2)
        scene[:, y : y + h, x : x + w] += rng.normal(0, 300, (4, 1, 1))
    before = _sensed(scene, 0, 0)
    scene[:, 820:1020, 720:920] += 900.0  # built between the dates
    after = _sensed(scene, 5, -5) + rng.normal(0, 5, before.shape).astype(np.float32)
    paths = _write(tmp_path / "b.tif", before, "EPSG:32633", T1), _write(tmp_path / "a.tif", after, "EPSG:32633", T1)
    truth = np.zeros(before.shape[1:], bool)
    truth[80:100, 70:90] = True
    difference = {}
    for coregister in (False, True):
        pair = pair_scenes(*paths, coregister=coregister)
        assert (pair.shift is not None) == coregister
        difference[coregister] = np.abs(pair.before.read().data - pair.after.read().data).mean(0)[~truth].mean()
    # seen 5 m down and 5 m left, the second date is read from half a pixel right and up
    assert (pair.shift.dx, pair.shift.dy) == pytest.approx((0.5, -0.5), abs=0.1)
    assert difference[True] < 0.8 * difference[False]
    result = change_scenes(*paths, tmp_path / "c.tif", coregister=True, quiet=True)
    assert "second date co-registered by (+0.5" in result.note
    with rasterio.open(tmp_path / "c.tif") as ds:
        found = ds.read(1) == 1
    assert (found & truth).sum() / truth.sum() > 0.9


def test_coregistration_without_structure_says_so(tmp_path):
    flat = np.full((4, 64, 64), 700, np.float32)
    paths = _write(tmp_path / "b.tif", flat, "EPSG:32633", T1), _write(tmp_path / "a.tif", flat + 9, "EPSG:32633", T1)
    pair = pair_scenes(*paths, coregister=True)
    assert pair.shift is None and "not co-registered" in pair.coregistration
    assert pair_scenes(*paths).coregistration == ""
