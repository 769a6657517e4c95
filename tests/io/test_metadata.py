"""Band names, wavelengths and sensor read from a file's own metadata (ENVI headers, GDAL's IMAGERY domain, band
descriptions, product file names), and where each band's identity came from (``Band.origin``)."""

import warnings

import numpy as np
import pytest
import rasterio

from rsvision.errors import BandCountError, UnreadableRasterError
from rsvision.io import open_scene

ETM_MICRONS = [0.4825, 0.565, 0.66, 0.825, 1.65, 2.22]  # what ENVI writes for a Landsat ETM+ 6-band stack
ETM_NAMES = [
    f"Resize (ETM+ Meta (Band {n}):L71119038_03820021017_MTL.txt) ({w:.6f} Micrometers)"
    for n, w in zip([1, 2, 3, 4, 5, 7], ETM_MICRONS)
]


def _etm_header(units="Micrometers", values=None, sensor="Landsat ETM", names=ETM_NAMES):
    values = values or [f"{w:.6f}" for w in ETM_MICRONS]
    lines = [f"wavelength units = {units}", "wavelength = {\n " + ", ".join(values) + "}"]
    if sensor:
        lines.insert(0, f"sensor type = {sensor}")
    if names:
        lines.append("band names = {\n " + ",\n ".join(names) + "}")
    return lines


def test_gdal_exposes_envi_wavelengths_and_sensor_type(make_envi):
    """What the reader relies on, as GDAL 3.10 gives it for a header written as ENVI writes it."""
    path = make_envi("etm.dat", 6, [*_etm_header(), "fwhm = {0.065, 0.08, 0.06, 0.15, 0.2, 0.26}"])
    with rasterio.open(path) as ds:
        assert ds.tags(1) == {"wavelength": "0.482500", "wavelength_units": "Micrometers"}
        assert ds.tags(ns="ENVI")["sensor_type"] == "Landsat ETM" and "sensor_type" not in ds.tags()
        assert ds.tags()["wavelength_units"] == "Micrometers"
        if "IMAGERY" in ds.tag_namespaces(1):  # GDAL >= 3.10: three decimals, 0.4825 -> "0.482"
            assert ds.tags(1, ns="IMAGERY") == {"CENTRAL_WAVELENGTH_UM": "0.482", "FWHM_UM": "0.065"}
        assert ds.descriptions[0] == ETM_NAMES[0] + " (0.482500 Micrometers)"  # GDAL appends the wavelength


def test_envi_landsat_etm_named_by_catalogue_keeping_file_wavelengths(make_envi):
    scene = open_scene(make_envi("etm.dat", 6, _etm_header()))
    assert scene.sensor == "landsat-7"
    assert scene.band_names == ["B1", "B2", "B3", "B4", "B5", "B7"]
    assert [b.wavelength_nm for b in scene.bands] == pytest.approx([482.5, 565, 660, 825, 1650, 2220])
    assert {b.origin for b in scene.bands} == {"file"} and {b.gsd_m for b in scene.bands} == {30}
    assert {b.sensor for b in scene.bands} == {"landsat-7"}
    np.testing.assert_array_equal(scene.read(bands=["B7"]).data[0], np.arange(60, 72).reshape(3, 4))


def test_envi_nanometres_and_sensor_named_only_in_band_names(make_envi):
    """No `sensor type`: the band names' L71119038_..._MTL.txt names Landsat 7."""
    values = ["482.5", "565", "660", "825", "1650", "2220"]
    scene = open_scene(make_envi("nm.dat", 6, _etm_header("Nanometers", values, sensor=None)))
    assert scene.sensor == "landsat-7" and scene.band_names == ["B1", "B2", "B3", "B4", "B5", "B7"]
    assert scene.bands[3].wavelength_nm == 825


def test_envi_without_units_and_without_sensor(make_envi):
    """Values under 100 are micrometres; no sensor is named, so the descriptions stay the names (GDAL's appended
    wavelength removed) and the file's wavelengths are kept."""
    header = [line for line in _etm_header(sensor=None, names=["red edge", "nir"]) if "units" not in line]
    header = [h if not h.startswith("wavelength") else "wavelength = {0.705, 0.865}" for h in header]
    scene = open_scene(make_envi("two.dat", 2, header))
    assert scene.sensor is None and scene.band_names == ["red edge", "nir"]
    assert [b.wavelength_nm for b in scene.bands] == [705, 865] and {b.origin for b in scene.bands} == {"file"}


def test_user_sensor_matched_by_wavelength(make_envi):
    scene = open_scene(make_envi("tm.dat", 6, _etm_header(sensor="Unknown", names=None)), sensor="tm")
    assert scene.sensor == "landsat-4-5" and scene.band_names == ["B1", "B2", "B3", "B4", "B5", "B7"]
    assert scene.bands[0].origin == "file"


def test_bad_wavelengths_warn_in_one_line_and_are_ignored(make_envi):
    bad = make_envi("bad.dat", 6, _etm_header(values=["0.48", "x", "0.66", "0.82", "1.65", "2.22"]))
    with pytest.warns(UserWarning, match="band 2's wavelength 'x' is not a positive number") as caught:
        scene = open_scene(bad)
    assert all("\n" not in str(w.message) for w in caught)
    # the file's wavelengths ignored, the bands are named by "(Band n)" in their names, with the catalogue's
    assert scene.sensor == "landsat-7" and scene.band_names == ["B1", "B2", "B3", "B4", "B5", "B7"]
    assert scene.bands[0].wavelength_nm == 485
    wavenumbers = make_envi("wn.dat", 6, _etm_header(units="Wavenumber"))
    with pytest.warns(UserWarning, match="units 'wavenumber' are not a length"):
        open_scene(wavenumbers)
    index = make_envi("index.dat", 6, _etm_header(units="Index", values=[str(i) for i in range(1, 7)]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert open_scene(index).bands[0].wavelength_nm == 485  # ENVI's "Index": no wavelength; the catalogue's


def test_header_given_instead_of_data_file(make_envi):
    path = make_envi("etm.dat", 6, _etm_header())
    with pytest.raises(UnreadableRasterError, match=r"is an ENVI header; open the data file beside it \(.*etm.dat\)"):
        open_scene(path.with_suffix(".hdr"))
    lonely = path.parent / "lonely.hdr"
    lonely.write_text("ENVI\n")
    with pytest.raises(UnreadableRasterError, match=r"lonely.hdr is an ENVI header; open the data file beside it inst"):
        open_scene(lonely)


def test_imagery_domain_wavelengths_and_descriptions_with_band_names(make_raster):
    data = np.ones((2, 6, 6), "uint16")
    path = make_raster("LC08_L2SP_119038_20200310_20200822_02_T1_SR.tif", data)
    with rasterio.open(path, "r+") as ds:
        ds.set_band_description(1, "SR_B4 surface reflectance")
        ds.set_band_description(2, "Near infrared (Band 5)")
    scene = open_scene(path)
    assert scene.sensor == "landsat-8-9" and scene.band_names == ["B4", "B5"]
    assert [b.wavelength_nm for b in scene.bands] == [654.5, 865] and scene.bands[0].origin == "file"

    plain = make_raster("plain.tif", data)
    with rasterio.open(plain, "r+") as ds:
        ds.update_tags(1, ns="IMAGERY", CENTRAL_WAVELENGTH_UM="0.665", FWHM_UM="0.03")
        ds.update_tags(2, ns="IMAGERY", CENTRAL_WAVELENGTH_UM="0.842")
    scene = open_scene(plain)
    assert scene.sensor is None and scene.band_names == ["band1", "band2"]
    assert [b.wavelength_nm for b in scene.bands] == [665, 842] and scene.bands[0].origin is None
    sentinel = open_scene(plain, sensor="sentinel-2")  # a sensor given: named by the catalogue band nearest
    assert sentinel.band_names == ["B04", "B08"] and sentinel.bands[1].wavelength_nm == 842


def test_sensor_from_tiff_tags(make_raster):
    data = np.ones((6, 5, 5), "uint16")
    path = make_raster("stack.tif", data)
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(SENSOR="Landsat TM")
        for i in range(1, 7):
            ds.set_band_description(i, f"TM band {[1, 2, 3, 4, 5, 7][i - 1]}")
    scene = open_scene(path)
    assert scene.sensor == "landsat-4-5" and scene.band_names == ["B1", "B2", "B3", "B4", "B5", "B7"]
    assert scene.bands[4].wavelength_nm == 1650


def test_sentinel2_descriptions_take_catalogue_names(make_raster):
    path = make_raster("S2B_MSIL2A_20200310T022541_N0214_R046_T51RUQ_20200310T062310.tif", np.ones((3, 4, 4), "uint16"))
    with rasterio.open(path, "r+") as ds:
        for i, d in enumerate(["Band 4 (red)", "band_8", "B8A narrow nir"], 1):
            ds.set_band_description(i, d)
    scene = open_scene(path)
    assert scene.sensor == "sentinel-2" and scene.band_names == ["B04", "B08", "B8A"]


def test_planetscope_products(make_raster):
    four = open_scene(make_raster("20230615_101010_12_2426_3B_AnalyticMS_SR.tif", np.ones((4, 4, 4), "uint16")))
    assert four.sensor == "planetscope-4" and four.band_names == ["blue", "green", "red", "nir"]
    assert {b.origin for b in four.bands} == {"catalogue"} and four.bands[3].wavelength_nm == 865
    path = make_raster("20230615_101010_12_2426_3B_AnalyticMS_SR_8b.tif", np.ones((8, 4, 4), "uint16"))
    names = ["coastal_blue", "blue", "green_i", "green", "yellow", "red", "rededge", "nir"]
    with rasterio.open(path, "r+") as ds:
        for i, name in enumerate(names, 1):
            ds.set_band_description(i, name)  # as Planet writes them
    eight = open_scene(path)
    assert eight.sensor == "planetscope-8" and eight.band_names == names
    assert eight.bands[4].wavelength_nm == 610 and {b.gsd_m for b in eight.bands} == {3}


def test_single_band_file_named_by_its_file_name(make_raster):
    data = np.ones((5, 5), "uint16")
    b4 = open_scene(make_raster("LT05_L2SP_119038_19950310_20200912_02_T1_SR_B4.TIF", data))
    assert b4.sensor == "landsat-4-5" and b4.band_names == ["B4"] and b4.bands[0].wavelength_nm == 830
    assert b4.bands[0].origin == "file"
    scl = open_scene(make_raster("T51RUQ_20200310T022541_SCL_20m.tif", data.astype("uint8")))
    assert scl.sensor == "sentinel-2" and scl.band_names == ["SCL"] and scl.bands[0].gsd_m == 20


def test_origin_of_catalogue_user_and_unknown_names(make_raster):
    data = np.ones((4, 8, 8), dtype="uint8")
    naip = open_scene(make_raster("naip.tif", data, photometric="MINISBLACK"))
    assert naip.band_names == ["red", "green", "blue", "nir"] and {b.origin for b in naip.bands} == {"catalogue"}
    named = open_scene(make_raster("x.tif", data.astype("uint16")), band_names=["a", "b", "c", "d"])
    assert {b.origin for b in named.bands} == {"user"}
    unknown = open_scene(make_raster("y.tif", data.astype("uint16")))
    assert unknown.band_names == ["band1", "band2", "band3", "band4"] and {b.origin for b in unknown.bands} == {None}
    with pytest.raises(BandCountError, match="has 4 bands but sensor 'landsat-7' has 8"):
        open_scene(make_raster("z.tif", data.astype("uint16")), sensor="etm")


def test_wavelengths_that_contradict_a_guess_drop_it(make_raster):
    path = make_raster("rgb.tif", np.ones((3, 4, 4), "uint8"), photometric="MINISBLACK")
    with rasterio.open(path, "r+") as ds:
        for i, um in enumerate(["1.6", "2.2", "11.0"], 1):
            ds.update_tags(i, ns="IMAGERY", CENTRAL_WAVELENGTH_UM=um)
    scene = open_scene(path)
    assert scene.sensor is None and scene.band_names == ["band1", "band2", "band3"]
    assert [b.wavelength_nm for b in scene.bands] == [1600, 2200, 11000]


def test_band_files_origin_and_l2a_layers_in_a_folder(tmp_path, make_raster):
    for name, value in [("B03", 3), ("B02", 2), ("SCL_20m", 4)]:
        make_raster(f"T51RUQ_20200310T022541_{name}.tif", np.full((6, 6), value, "uint16"))
    scene = open_scene(tmp_path)
    assert scene.sensor == "sentinel-2" and scene.band_names == ["B02", "B03", "SCL"]
    assert {b.origin for b in scene.bands} == {"file"} and scene.bands[2].wavelength_nm is None


def test_quicklook_of_a_named_product_keeps_its_rgb_guess(make_raster):
    """A product name (Sentinel-2) whose bands the file's three uint8 bands are not: the RGB guess names them."""
    path = make_raster(
        "S2A_MSIL2A_20200310T022541_N0214_R046_T51RUQ_20200310T062310_TCI.tif", np.ones((3, 4, 4), "uint8")
    )
    scene = open_scene(path)
    assert scene.sensor == "rgb" and scene.band_names == ["red", "green", "blue"]
    assert {b.origin for b in scene.bands} == {"catalogue"}
    stack = open_scene(make_raster("LE07_L1TP_119038_20021017_20200916_02_T1_stack.tif", np.ones((6, 4, 4), "uint16")))
    assert stack.sensor == "landsat-7" and stack.band_names == [f"band{i}" for i in range(1, 7)]  # 6 of 8: unknown
