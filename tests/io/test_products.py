"""Product folders and archives (Sentinel-2 SAFE L1C / L2A, Landsat Collection 2 L1 / L2, Sentinel-1 GRD SAFE, as
folders, .zip and .tar): their bands on one grid, reflectance by each product's own rule checked against values
computed by hand, the L2A SCL cloud mask, decibels, and one-line errors. Products: tests/data/products."""

import warnings

import numpy as np
import pytest
import rasterio
import rasterio.transform
import rasterio.warp
from rasterio.windows import Window

from rsvision.errors import NoBandFilesError, NotGeoreferencedWarning, ScalingError, UnreadableRasterError
from rsvision.io import open_scene
from rsvision.io.products import scl_cloud_mask, sentinel2_scaling

S2_IDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
S2_L2A_BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12", "SCL"]


def test_every_product_keeps_its_nodata_block_masked(products):
    for key in ("l2a", "l2a_zip", "l1c", "landsat_l2", "landsat_l2_tar", "landsat_l1"):
        with open_scene(products[key]) as scene:
            values = scene.read(Window(0, 0, 2, 2), scale="reflectance")
            assert values.mask.all() and np.isnan(values.data).all(), key


@pytest.mark.parametrize("key", ["l2a", "l2a_zip"])
def test_l2a_bands_at_their_finest_resolution_on_the_10m_grid(products, key):
    make = products["make"]
    with open_scene(products[key], resampling="nearest") as scene:
        assert scene.band_names == S2_L2A_BANDS and scene.sensor == "sentinel-2"
        assert (scene.width, scene.height, scene.res) == (60, 60, (10.0, 10.0))
        assert scene.crs.to_epsg() == 32633 and scene.transform.c == make.WEST
        raw = scene.read(bands=["B02", "B05", "B01"])
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw[0].data, make.ramp("B02", 60, 10))  # R10m, not the 20/60 m copies of 7
    np.testing.assert_array_equal(raw[1].data, np.kron(make.ramp("B05", 30, 20), np.ones((2, 2), "uint16")))
    np.testing.assert_array_equal(raw[2].data, np.kron(make.ramp("B01", 10, 60), np.ones((6, 6), "uint16")))


def test_l2a_reflectance_baseline_04_00_subtracts_the_offset(products):
    make = products["make"]
    with open_scene(products["l2a_zip"]) as scene:
        assert scene.scaling.label == "sentinel-2 boa, baseline 04.00, offset -1000, quantification 10000"
        refl = scene.read(bands=["B04", "B08"], scale="reflectance")
    assert refl.dtype == np.float32
    # by hand: B04 at row 10, col 10 is DN 1300 + 610 = 1910 -> (1910 - 1000) / 10000
    assert refl[0, 10, 10] == pytest.approx(0.091, abs=1e-6)
    for k, band in enumerate(["B04", "B08"]):
        dn = make.ramp(band, 60, 10).astype(np.float64)
        expected = np.ma.masked_equal(dn, 0)
        np.testing.assert_allclose(refl[k].filled(np.nan), ((expected - 1000) / 10000).filled(np.nan), atol=1e-6)
        np.testing.assert_array_equal(refl.mask[k], dn == 0)


def test_l1c_reflectance_baseline_02_09_has_no_offset(products):
    make = products["make"]
    with open_scene(products["l1c"]) as scene:
        assert scene.band_names == S2_IDS  # TCI.jp2 left out
        assert scene.scaling.label == "sentinel-2 toa, baseline 02.09, quantification 10000"
        refl = scene.read(bands=["B04"], scale="reflectance")
        raw = scene.read(bands=["B04"])
    assert refl[0, 10, 10] == pytest.approx(0.191, abs=1e-6)  # DN 1910 / 10000
    dn = make.ramp("B04", 60, 10)
    np.testing.assert_array_equal(raw[0].data, dn)
    np.testing.assert_allclose(refl[0].data[dn > 0], dn[dn > 0] / 10000, rtol=1e-6)


def test_l1c_from_baseline_04_00_radio_add_offset(products):
    make = products["make"]
    scaling = sentinel2_scaling(make.s2_metadata("1C", "04.00", -1000), "1C")
    assert scaling.label == "sentinel-2 toa, baseline 04.00, offset -1000, quantification 10000"
    for band in ("B01", "B04", "B8A", "B12"):  # (DN - 1000) / 10000
        assert scaling.factors[band] == pytest.approx((1e-4, -0.1))
    assert scaling.fill == 0


def test_scl_cloud_mask_from_classes_3_8_9_10_never_blended(products):
    make = products["make"]
    with open_scene(products["l2a"]) as scene:  # bilinear for the spectral bands, nearest for SCL
        scl = scene.read(bands=["SCL"])[0].data
        mask = scl_cloud_mask(scene)
        part = scl_cloud_mask(scene, Window(15, 0, 10, 20))
    assert set(np.unique(scl)) == {0, 3, 4, 6, 8, 9, 10}
    scl20 = np.full((30, 30), 4)
    for (r0, r1), value in make.SCL_CLASSES.items():
        scl20[r0:r1, 10:20] = value
    expected = np.kron(np.isin(scl20, (3, 8, 9, 10)), np.ones((2, 2), bool))
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(part, expected[0:20, 15:25])
    assert mask.sum() == 4 * 5 * 10 * 4


@pytest.mark.parametrize("key", ["landsat_l2", "landsat_l2_tar"])
def test_landsat_c2_l2_surface_reflectance_and_temperature(products, key):
    make = products["make"]
    with open_scene(products[key]) as scene:
        assert scene.band_names == ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B10"]  # no QA files
        assert scene.sensor == "landsat-8-9" and scene.res == (30.0, 30.0)
        assert scene.scaling.factors["B4"] == (2.75e-05, -0.2)  # not the Level-1 rule the MTL also holds
        refl = scene.read(bands=["B4", "B10"], scale="reflectance")
    dn4, dn10 = make.ramp("B4", 20, 30).astype(np.float64), make.ramp("B10", 20, 30).astype(np.float64)
    assert refl[0, 5, 5] == pytest.approx((1400 + 105) * 2.75e-05 - 0.2, abs=1e-6)  # DN 1505
    valid = dn4 > 0
    np.testing.assert_allclose(refl[0].data[valid], dn4[valid] * 2.75e-05 - 0.2, atol=1e-6)
    np.testing.assert_allclose(refl[1].data[valid], dn10[valid] * 0.00341802 + 149.0, rtol=1e-6)  # kelvin
    np.testing.assert_array_equal(refl.mask[0], ~valid)


def test_landsat_c2_l1_toa_reflectance_from_mtl_txt(products):
    make = products["make"]
    with open_scene(products["landsat_l1"]) as scene:
        assert scene.band_names == ["B2", "B3", "B4", "B5", "B8", "B10"] and scene.res == (15.0, 15.0)  # B8's grid
        assert "sun elevation 30" in scene.scaling.label
        refl = scene.read(bands=["B8", "B10"], scale="reflectance")
    dn8, dn10 = make.ramp("B8", 40, 15).astype(np.float64), make.ramp("B10", 20, 30).astype(np.float64)
    # by hand: (DN * 2e-05 - 0.1) / sin(30 deg) = 2 * (DN * 2e-05 - 0.1)
    valid = dn8 > 0
    np.testing.assert_allclose(refl[0].data[valid], 2 * (dn8[valid] * 2e-05 - 0.1), atol=1e-6)
    assert refl[0, 20, 20] == pytest.approx(2 * ((1800 + 820) * 2e-05 - 0.1), abs=1e-6)
    with open_scene(products["landsat_l1"], grid="B10", resampling="nearest") as scene:  # thermal: radiance
        radiance = scene.read(bands=["B10"], scale="reflectance")[0]
    np.testing.assert_allclose(radiance.data[dn10 > 0], dn10[dn10 > 0] * 3.342e-04 + 0.1, rtol=1e-5)


def test_a_window_past_the_edge_is_nan_and_masked_when_scaled(products):
    with open_scene(products["l2a"]) as scene:
        values = scene.read(Window(50, 50, 20, 20), bands=["B02"], scale="reflectance")
    assert values.shape == (1, 20, 20) and values.mask[0, 10:, :].all() and np.isnan(values.data[0, :, 10:]).all()
    assert not values.mask[0, :10, :10].any()


def test_sentinel1_geotiff_in_decibels(tmp_path):
    path = tmp_path / "s1a_sigma0.tif"
    data = np.array([[[0.0, 0.01], [1.0, 0.5]], [[0.1, 0.001], [2.0, 0.0]]], "float32")
    profile = dict(driver="GTiff", width=2, height=2, count=2, dtype="float32", crs="EPSG:32633")
    with rasterio.open(path, "w", **profile, transform=rasterio.Affine(10, 0, 0, 0, -10, 0)) as dst:
        dst.write(data)
        dst.descriptions = ("VV", "VH")
    with open_scene(path) as scene:
        assert scene.band_names == ["VV", "VH"]
        db = scene.read(scale="db")
        db_view = scene.scaled("db").read()
    expected = np.ma.masked_equal(data.astype(np.float64), 0)
    expected = 10 * np.ma.log10(expected)
    np.testing.assert_array_equal(db.mask, data == 0)
    np.testing.assert_allclose(db.data[~db.mask], expected.data[~expected.mask], atol=1e-5)
    assert db[0, 0, 1] == pytest.approx(-20.0) and db[1, 1, 0] == pytest.approx(3.0103, abs=1e-4)
    np.testing.assert_array_equal(db_view.filled(0), db.filled(0))


def test_sentinel1_safe_measurements_georeferenced_by_their_gcps(products):
    make = products["make"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotGeoreferencedWarning)
        scene = open_scene(products["s1"], resampling="nearest")
    with scene:
        assert scene.band_names == ["VV", "VH"] and scene.sensor == "sentinel-1" and scene.scaling is None
        assert scene.crs.to_epsg() == 32633  # the UTM zone of the GCPs' centre
        raw, db = scene.read(), scene.read(scale="db")
        # the centre of measurement pixel (row 20, col 10), by the GCPs' lon/lat, lands on a pixel holding its DN
        lon, lat = 15.0 + 0.01 * 10.5 / 40, 45.0 - 0.01 * 20.5 / 40
        (x,), (y,) = rasterio.warp.transform("EPSG:4326", scene.crs, [lon], [lat])
        row, col = rasterio.transform.rowcol(scene.transform, x, y)
    dn = make.ramp("B1", 40, 10)
    assert raw[0, row, col] == dn[20, 10]
    assert db[0, row, col] == pytest.approx(10 * np.log10(dn[20, 10]), abs=1e-4)
    valid = ~db.mask[0]
    assert valid.sum() > 0.6 * scene.width * scene.height  # outside the swath (DN 0): masked
    np.testing.assert_allclose(db[0].data[valid], 10 * np.log10(raw[0].data[valid].astype(np.float64)), atol=1e-4)
    assert np.isin(raw[0].data[valid], dn).all()  # nearest: measured values only


def test_reflectance_without_metadata_is_one_line(make_raster):
    path = make_raster("plain.tif", np.ones((2, 5, 5), "uint16"))
    with open_scene(path) as scene:
        with pytest.raises(ScalingError, match="carries no reflectance metadata") as err:
            scene.read(scale="reflectance")
        assert "\n" not in str(err.value)
        with pytest.raises(ScalingError, match="carries no reflectance metadata"):
            scene.scaled("reflectance")
        with pytest.raises(ScalingError, match="unknown scale 'dn'"):
            scene.read(scale="dn")


def test_an_archive_of_no_product_is_one_line(tmp_path):
    import zipfile

    path = tmp_path / "photos.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.txt", "hello")
    with pytest.raises(NoBandFilesError, match="holds no product rsvision knows"):
        open_scene(path)


def test_a_folder_of_band_files_is_still_a_plain_stack(products, tmp_path):
    """A Landsat band folder without its MTL file stacks as before, with no scaling."""
    folder = tmp_path / "bands"
    folder.mkdir()
    for f in sorted(products["landsat_l2"].glob("*_SR_B[45].TIF")):
        (folder / f.name).write_bytes(f.read_bytes())
    with open_scene(folder) as scene:
        assert scene.count == 2 and scene.scaling is None


def test_a_truncated_archive_is_one_line(products, tmp_path):
    path = tmp_path / "cut.zip"
    path.write_bytes(products["l2a_zip"].read_bytes()[:1000])
    with pytest.raises(UnreadableRasterError, match="cannot read .*cut.zip as an archive"):
        open_scene(path)


def test_coarser_bands_never_blend_the_fill_value_into_data(products):
    """Bilinear onto the 10 m grid: the product's fill DN 0 is the warp's nodata, so edge pixels are masked or
    interpolated from valid DNs only, never halfway to 0."""
    make = products["make"]
    with open_scene(products["l2a"]) as scene:
        assert scene.nodata == 0  # the product's fill value; its JP2 files declare none
        b05, b01 = scene.read(bands=["B05", "B01"])
    assert b05.mask[:6, :6].all() and b01.mask[:6, :6].all()
    assert b05.compressed().min() >= make.base("B05") and b01.compressed().min() >= make.base("B01")
