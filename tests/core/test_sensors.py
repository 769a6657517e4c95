"""The sensor catalogue: Landsat 4-5 / 7, PlanetScope, Sentinel-2 L2A layers; band and sensor names in file names and
header text; band matching across sensors by centre wavelength."""

import pytest

from rsvision.core.sensors import (
    SENSORS,
    SENTINEL2_ORDER,
    Band,
    band_from_filename,
    get_sensor,
    guess_sensor,
    match_bands,
    sensor_from_text,
)
from rsvision.errors import RsvisionError


def test_landsat_tm_and_etm_bands():
    tm, etm = SENSORS["landsat-4-5"], SENSORS["landsat-7"]
    assert tm.band_names == ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]
    assert etm.band_names == ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8"]
    assert tm.band("B6").gsd_m == 120 and etm.band("B6").gsd_m == 60 and etm.band("B8").gsd_m == 15
    assert {b.gsd_m for b in tm.bands if b.name != "B6"} == {30}
    assert etm.band("B4").wavelength_nm == 835 and tm.band("B4").wavelength_nm == 830  # 0.77-0.90, 0.76-0.90 um
    assert 10400 < etm.band("B6").wavelength_nm < 12500 and 2090 < etm.band("B7").wavelength_nm < 2350
    assert all(b.sensor == "landsat-7" for b in etm.bands)


def test_planetscope_bands():
    four, eight = SENSORS["planetscope-4"], SENSORS["planetscope-8"]
    assert four.band_names == ["blue", "green", "red", "nir"] and {b.gsd_m for b in four.bands} == {3}
    assert eight.band_names == ["coastal_blue", "blue", "green_i", "green", "yellow", "red", "rededge", "nir"]
    waves = [b.wavelength_nm for b in eight.bands]
    assert waves == sorted(waves) and 431 <= waves[0] <= 452 and 845 <= waves[-1] <= 885


def test_sentinel2_l2a_layers_are_extras_not_bands():
    s2 = SENSORS["sentinel-2"]
    assert len(SENTINEL2_ORDER) == len(s2.band_names) == len(s2.bands) == 13
    for name, gsd in [("SCL", 20), ("AOT", 10), ("WVP", 10)]:
        layer = s2.band(name)
        assert layer.wavelength_nm is None and layer.gsd_m == gsd and layer.sensor == "sentinel-2"
    with pytest.raises(KeyError):
        s2.band("TCI")
    assert guess_sensor(13, "uint16") is s2  # the 13-band guess is unchanged


def test_new_sensors_come_after_the_old_ones():
    """A band name found in several sensors (B1, red) resolves to the earlier one (rsvision.models.stem)."""
    keys = list(SENSORS)
    assert keys[:5] == ["sentinel-2", "landsat-8-9", "naip", "rgb", "sentinel-1"]


@pytest.mark.parametrize(
    "alias,key",
    [
        ("landsat-7", "landsat-7"),
        ("Landsat_7", "landsat-7"),
        ("ETM+", "landsat-7"),
        ("etm", "landsat-7"),
        ("tm", "landsat-4-5"),
        ("landsat-5", "landsat-4-5"),
        ("landsat 4", "landsat-4-5"),
        ("landsat", "landsat-8-9"),
        ("planetscope", "planetscope-4"),
        ("superdove", "planetscope-8"),
        ("planetscope-8", "planetscope-8"),
    ],
)
def test_get_sensor_aliases(alias, key):
    assert get_sensor(alias).name == key


def test_unknown_sensor_is_one_line():
    with pytest.raises(RsvisionError, match="unknown sensor 'spot-5'; known: sentinel-2, .*landsat-7") as err:
        get_sensor("spot-5")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "stem,expected",
    [
        ("LE07_L1TP_119038_20021017_20200916_02_T1_B1", ("landsat-7", "B1")),
        ("LE07_L1TP_119038_20021017_20200916_02_T1_B8", ("landsat-7", "B8")),
        ("LE07_L2SP_119038_20021017_20200916_02_T1_ST_B6", ("landsat-7", "B6")),
        ("LT05_L2SP_119038_19950310_20200912_02_T1_SR_B4", ("landsat-4-5", "B4")),
        ("LT04_L1TP_119038_19890310_20200912_02_T1_B7", ("landsat-4-5", "B7")),
        ("LC08_L2SP_119038_20200310_20200822_02_T1_SR_B4", ("landsat-8-9", "B4")),
        ("LC09_L2SP_119038_20220310_20220312_02_T1_ST_B10", ("landsat-8-9", "B10")),
        ("LC08_L1TP_034030_20190513_20190521_01_T1_B10", ("landsat-8-9", "B10")),
        ("LC08_L2SP_119038_20200310_20200822_02_T1_QA_PIXEL", None),
        ("LE07_L2SP_119038_20021017_20200916_02_T1_QA_RADSAT", None),
        ("LT05_L1TP_119038_19950310_20200912_02_T1_B8", None),  # TM has no band 8
        ("LE07_L1TP_119038_20021017_20200916_02_T1_B9", None),
        ("T51RUQ_20200310T022541_B8A_20m", ("sentinel-2", "B8A")),
        ("T51RUQ_20200310T022541_SCL_20m", ("sentinel-2", "SCL")),
        ("T51RUQ_20200310T022541_AOT_10m", ("sentinel-2", "AOT")),
        ("T51RUQ_20200310T022541_WVP_10m", ("sentinel-2", "WVP")),
        ("T51RUQ_20200310T022541_TCI_10m", None),
        ("s1a_iw_grd_VV", ("sentinel-1", "VV")),
        ("holiday_photo", None),
    ],
)
def test_band_from_filename(stem, expected):
    assert band_from_filename(stem) == expected


@pytest.mark.parametrize(
    "text,count,expected",
    [
        ("LE07_L1TP_119038_20021017_20200916_02_T1.tif", 6, "landsat-7"),
        ("LT05_L2SP_119038_19950310_20200912_02_T1_SR_stack.tif", 6, "landsat-4-5"),
        ("LC09_L2SP_119038_20220310_20220312_02_T1.tif", 7, "landsat-8-9"),
        ("clip_LC08_L1TP_034030_20190513_20190521_01_T1.tif", 7, "landsat-8-9"),
        ("LE71190382002290EDC00_stack.tif", 6, "landsat-7"),
        ("L71119038_03820021017_MTL.txt", None, "landsat-7"),
        ("L51119038_03819950310.dat", None, "landsat-4-5"),
        ("L5119038_03819950310.dat", None, None),  # 6 digits after the mission: not that pattern
        ("S2A_MSIL1C_20170105T013442_N0204_R031_T53NMJ_20170105T013443.tif", 13, "sentinel-2"),
        ("S2B_MSIL2A_20200310T022541_N0214_R046_T51RUQ_20200310T062310_10m.tif", 4, "sentinel-2"),
        ("T51RUQ_20200310T022541_stack.tif", 10, "sentinel-2"),
        ("20230615_101010_12_2426_3B_AnalyticMS_SR_8b.tif", 8, "planetscope-8"),
        ("20230615_101010_12_2426_3B_AnalyticMS_SR.tif", 4, "planetscope-4"),
        ("20230615_101010_12_2426_3B_AnalyticMS.tif", 3, None),
        ("20230615_101010_12_2426_3B_AnalyticMS_SR_8b.tif", None, "planetscope-8"),
        ("Landsat ETM", 6, "landsat-7"),
        ("Landsat TM", 6, "landsat-4-5"),
        ("Landsat Thematic Mapper", None, "landsat-4-5"),
        ("Landsat-7 Enhanced Thematic Mapper Plus", None, "landsat-7"),
        ("LANDSAT_7", None, "landsat-7"),
        ("LANDSAT_5", None, "landsat-4-5"),
        ("Landsat OLI", None, "landsat-8-9"),
        ("LANDSAT_9", None, "landsat-8-9"),
        ("Landsat MSS", None, None),
        ("Sentinel-2A", None, "sentinel-2"),
        ("PlanetScope", 8, "planetscope-8"),
        ("Unknown", 6, None),
        ("scene.tif", 6, None),
        ("bottom_line.tif", 6, None),
    ],
)
def test_sensor_from_text(text, count, expected):
    assert sensor_from_text(text, count) == expected


def test_landsat_bands_match_sentinel2_by_wavelength():
    s2 = list(SENSORS["sentinel-2"].bands)
    for key in ("landsat-7", "landsat-4-5"):
        landsat = SENSORS[key]
        first_four = [landsat.band(n) for n in ("B1", "B2", "B3", "B4")]
        assert [m.name for m in match_bands(first_four, s2)] == ["B02", "B03", "B04", "B08"]
        swir = match_bands([landsat.band("B5"), landsat.band("B7")], s2)
        assert [m.name for m in swir] == ["B11", "B12"]
        assert match_bands([landsat.band("B6")], s2) == [None]  # thermal: Sentinel-2 has none


def test_match_bands_tolerance_and_missing_wavelengths():
    s2 = list(SENSORS["sentinel-2"].bands)
    assert match_bands([Band("x"), Band("y", 600.0)], s2) == [None, None]  # 600 nm: 40 nm from B03 and B04
    assert match_bands([Band("y", 600.0)], s2, tolerance=0.1)[0].name == "B03"
    etm_from_envi = [Band(f"b{i}", w) for i, w in enumerate([482.5, 565, 660, 825, 1650, 2220], 1)]
    matched = match_bands(etm_from_envi, list(SENSORS["landsat-7"].bands))
    assert [m.name for m in matched] == ["B1", "B2", "B3", "B4", "B5", "B7"]
    # equals: the finest band wins (Sentinel-2 B8A and a made-up 10 m twin at the same wavelength)
    twins = [Band("coarse", 865, 20), Band("fine", 865, 10)]
    assert match_bands([Band("nir", 860)], twins)[0].name == "fine"
