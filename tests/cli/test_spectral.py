"""`rsvision spectral`: named float32 bands equal to hand-computed indices on a Sentinel-2 band folder (scaled to
reflectance, zero denominators and nodata as NaN), the catalogue listed, and every bad input one line, exit 2,
no output."""

import numpy as np
import pytest
import rasterio
from affine import Affine

SIZE = 300


@pytest.fixture
def s2_folder(tmp_path):
    """B02, B03, B04, B08 at 10 m (uint16, nodata 0), with a 0/0 pixel and a nodata block."""
    folder = tmp_path / "S2"
    folder.mkdir()
    rng = np.random.default_rng(0)
    bands = {name: rng.integers(1, 9000, (SIZE, SIZE)).astype("uint16") for name in ("B02", "B03", "B04", "B08")}
    bands["B04"][5, 5] = bands["B08"][5, 5] = 0  # nodata in both
    bands["B02"][:20, :30] = bands["B03"][:20, :30] = bands["B04"][:20, :30] = bands["B08"][:20, :30] = 0
    profile = dict(driver="GTiff", width=SIZE, height=SIZE, count=1, dtype="uint16", crs="EPSG:32633", nodata=0)
    for name, data in bands.items():
        with rasterio.open(
            folder / f"T33UUP_20200101T100000_{name}.tif",
            "w",
            **profile,
            transform=Affine(10, 0, 500000, 0, -10, 5000000),
        ) as dst:
            dst.write(data[None])
    return folder, {k: v.astype(np.float64) * 1e-4 for k, v in bands.items()}


def test_indices_and_expressions_equal_hand_computed_values(run_cli, capsys, s2_folder, tmp_path):
    folder, b = s2_folder
    out = tmp_path / "idx.tif"
    code, _, err = run_cli(capsys, "spectral", folder, "--index", "ndvi,NDWI", "--expr", "ratio=B08/B04", "-o", out)
    assert code in (0, None), err
    assert "NDVI, NDWI, ratio (values x 0.0001)" in err
    with rasterio.open(out) as ds:
        assert ds.count == 3 and ds.dtypes == ("float32",) * 3 and ds.descriptions == ("NDVI", "NDWI", "ratio")
        assert ds.crs.to_epsg() == 32633 and ds.res == (10, 10)
        values = ds.read()
    nodata = (b["B04"] == 0) | (b["B08"] == 0) | (b["B02"] == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = [
            (b["B08"] - b["B04"]) / (b["B08"] + b["B04"]),
            (b["B03"] - b["B08"]) / (b["B03"] + b["B08"]),
            b["B08"] / np.where(b["B04"] == 0, np.nan, b["B04"]),
        ]
    for k, e in enumerate(expected):
        e = np.where(nodata, np.nan, e)
        np.testing.assert_allclose(values[k], e, rtol=1e-5, atol=1e-6)  # float32 arithmetic
    assert np.isnan(values[:, 5, 5]).all() and np.isnan(values[:, :20, :30]).all()


def test_the_catalogue_is_listed(run_cli, capsys):
    code, out, _ = run_cli(capsys, "spectral", "--list")
    assert code in (0, None)
    rows = dict(line.split("\t")[:2] for line in out.splitlines())
    assert len(rows) > 200 and rows["NDVI"] == "(N - R)/(N + R)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--index", "ndvx"], "unknown spectral index 'ndvx'; did you mean"),
        (["--expr", "(B08-B04/(B08+B04)"], "never closed at column"),
        (["--expr", "B08 / B13"], "needs B13"),
        (["--expr", "open('x')"], "only the functions"),
        (["--index", "ndvi", "--constant", "L"], "--constant takes NAME=NUMBER"),
        ([], "name at least one index"),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing(run_cli, capsys, s2_folder, tmp_path, args, message):
    out = tmp_path / "bad.tif"
    code, _, err = run_cli(capsys, "spectral", s2_folder[0], *args, "-o", out)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and not list(tmp_path.glob(".bad*"))


def test_an_index_needing_a_band_the_scene_lacks(run_cli, capsys, tmp_path, make_raster):
    rgb = make_raster("rgb.tif", np.full((3, 40, 40), 100, "uint8"))
    code, _, err = run_cli(capsys, "spectral", rgb, "--index", "ndvi", "-o", tmp_path / "n.tif")
    assert code == 2 and "NDVI needs N (Near-Infrared (NIR), 760-900 nm)" in err
    assert not (tmp_path / "n.tif").exists()


def test_an_oscd_city_on_its_10m_grid(run_cli, capsys, shared, tmp_path):
    city = shared("oscd", "images", "paris", "imgs_1")
    out = tmp_path / "paris_ndvi.tif"
    code, _, err = run_cli(capsys, "spectral", city, "--index", "ndvi", "-o", out)
    assert code in (0, None), err
    with rasterio.open(out) as ds, rasterio.open(next(city.glob("*B04.tif"))) as b04:
        assert (ds.width, ds.height, ds.transform) == (b04.width, b04.height, b04.transform)
        ndvi = ds.read(1)
    finite = ndvi[np.isfinite(ndvi)]
    assert finite.size > 0.9 * ndvi.size and finite.min() >= -1 and finite.max() <= 1 and finite.std() > 0.05


def test_the_output_records_the_scale_it_applied(run_cli, capsys, s2_folder, tmp_path):
    out = tmp_path / "ndvi.tif"
    code, _, err = run_cli(capsys, "spectral", s2_folder[0], "--index", "ndvi", "-o", out)
    assert code in (0, None), err
    with rasterio.open(out) as ds:
        assert ds.tags()["scaling"] == "values x 0.0001"


@pytest.mark.parametrize("key", ["l2a", "l2a_zip"])
def test_reflectance_from_a_sentinel2_product(run_cli, capsys, products, tmp_path, key):
    """Baseline 04.00: (DN - 1000) / 10000 per band, then NDVI; the plain 1e-4 would give another value."""
    make = products["make"]
    out = tmp_path / "ndvi.tif"
    code, _, err = run_cli(capsys, "spectral", products[key], "--index", "ndvi", "--reflectance", "-o", out)
    assert code in (0, None), err
    assert "NDVI (reflectance: sentinel-2 boa, baseline 04.00, offset -1000" in err
    with rasterio.open(out) as ds:
        assert ds.tags()["scaling"].startswith("reflectance: sentinel-2 boa, baseline 04.00, offset -1000")
        assert (ds.width, ds.height, ds.res) == (60, 60, (10, 10))
        ndvi = ds.read(1)
    red, nir = ((make.ramp(b, 60, 10).astype(np.float64) - 1000) / 10000 for b in ("B04", "B08"))
    dn = make.ramp("B04", 60, 10)
    expected = np.where(dn == 0, np.nan, (nir - red) / (nir + red))
    np.testing.assert_allclose(ndvi, expected, rtol=1e-5, atol=1e-6)
    assert ndvi[10, 10] == pytest.approx((0.131 - 0.091) / (0.131 + 0.091), abs=1e-6)  # DN 2310 and 1910


def test_reflectance_from_a_landsat_tar(run_cli, capsys, products, tmp_path):
    make = products["make"]
    out = tmp_path / "ndvi.tif"
    code, _, err = run_cli(
        capsys, "spectral", products["landsat_l2_tar"], "--index", "ndvi", "--reflectance", "-o", out
    )
    assert code in (0, None), err
    with rasterio.open(out) as ds:
        assert ds.tags()["scaling"] == "reflectance: landsat c2 l2 surface reflectance (thermal: kelvin)"
        ndvi = ds.read(1)
    red, nir = (make.ramp(b, 20, 30).astype(np.float64) * 2.75e-05 - 0.2 for b in ("B4", "B5"))
    expected = np.where(make.ramp("B4", 20, 30) == 0, np.nan, (nir - red) / (nir + red))
    np.testing.assert_allclose(ndvi, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--reflectance", "--scale", "1e-4"], "either a scale factor (--scale) or reflectance from metadata"),
        (["--reflectance"], "carries no reflectance metadata"),
    ],
)
def test_reflectance_refusals_are_one_line(run_cli, capsys, s2_folder, tmp_path, extra, message):
    out = tmp_path / "bad.tif"
    code, _, err = run_cli(capsys, "spectral", s2_folder[0], "--index", "ndvi", *extra, "-o", out)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_a_product_without_reflectance_keeps_its_fill_value_as_nodata(run_cli, capsys, products, tmp_path):
    """The L2A's band files declare no nodata; its DN 0 is still no data under the plain 1e-4 scale."""
    make = products["make"]
    out = tmp_path / "ndvi.tif"
    code, _, err = run_cli(capsys, "spectral", products["l2a"], "--index", "ndvi", "-o", out)
    assert code in (0, None), err
    with rasterio.open(out) as ds:
        assert ds.tags()["scaling"] == "values x 0.0001"
        ndvi = ds.read(1)
    red, nir = (make.ramp(b, 60, 10).astype(np.float64) for b in ("B04", "B08"))
    with np.errstate(invalid="ignore"):  # 0 / 0 in the no-data block
        expected = np.where(red == 0, np.nan, (nir - red) / (nir + red))
    np.testing.assert_allclose(ndvi, expected, rtol=1e-5, atol=1e-6)
