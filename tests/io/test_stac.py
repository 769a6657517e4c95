"""STAC input, offline: a static catalogue written here with pystac, pointing at GeoTIFFs written here."""

import datetime as dt
import json
import shutil
import zipfile

import numpy as np
import pystac
import pytest
import rasterio
from affine import Affine
from pystac.extensions.eo import Band, EOExtension
from rasterio.warp import transform_bounds
from shapely.geometry import box, mapping

from rsvision.errors import BandNotFoundError, InputNotFoundError, OutputError, RsvisionError
from rsvision.io import open_scene, open_stac_item, save_items, search_items
from rsvision.io.stac import gdal_path, is_stac_item

CRS = "EPSG:32633"
S2 = "sentinel-2-l2a"
LANDSAT = "landsat-c2-l2"
# Band key, common name, pixel size (m): four 10 m bands at 64 x 64, one 20 m band at 32 x 32
S2_BANDS = [("B02", "blue", 10), ("B03", "green", 10), ("B04", "red", 10), ("B08", "nir", 10), ("B11", "swir16", 20)]


def _write(path, data, x0, y0, res):
    profile = dict(driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=data.dtype, crs=CRS)
    with rasterio.open(path, "w", transform=Affine(res, 0, x0, 0, -res, y0), **profile) as dst:
        dst.write(data, 1)
    with rasterio.open(path) as src:
        return src.bounds


def _footprint(bounds):
    lonlat = transform_bounds(CRS, "EPSG:4326", *bounds)
    return list(lonlat), mapping(box(*lonlat))


def _item(item_id, when, platform, files, bounds, data_folder):
    """An item with one eo band per asset, a thumbnail, a metadata file and a JP2 copy of B04 (never read)."""
    bbox, geometry = _footprint(bounds)
    item = pystac.Item(item_id, geometry, bbox, when, {"platform": platform})
    for key, (name, common, path) in files.items():
        asset = pystac.Asset(str(path), media_type=pystac.MediaType.COG, roles=["data"])
        item.add_asset(key, asset)
        EOExtension.ext(asset, add_if_missing=True).bands = [Band.create(name=name, common_name=common)]
    item.add_asset(
        "thumbnail", pystac.Asset(str(data_folder / "thumb.png"), media_type=pystac.MediaType.PNG, roles=["thumbnail"])
    )
    item.add_asset(
        "metadata", pystac.Asset(str(data_folder / "mtd.xml"), media_type=pystac.MediaType.XML, roles=["metadata"])
    )
    return item


@pytest.fixture(scope="module")
def stac(tmp_path_factory):
    """A catalogue of two Sentinel-2 items (January near 36.1 N, February 1 degree north) and one Landsat item;
    its asset hrefs relative. Returns (catalogue folder, {item id: {band name: array}})."""
    root = tmp_path_factory.mktemp("stac")
    data = root / "data"
    data.mkdir()
    rng = np.random.default_rng(7)
    arrays, items = {}, []
    places = [("S2A_T33_20240105", dt.datetime(2024, 1, 5, 10, tzinfo=dt.UTC), 4_000_000, "sentinel-2a")]
    places.append(("S2B_T33_20240210", dt.datetime(2024, 2, 10, 10, tzinfo=dt.UTC), 4_110_000, "sentinel-2b"))
    for item_id, when, y0, platform in places:
        files, arrays[item_id] = {}, {}
        for i, (name, common, res) in enumerate(S2_BANDS):
            size = 640 // res
            array = rng.integers(100 * (i + 1), 100 * (i + 1) + 90, (size, size)).astype("uint16")
            path = data / f"{item_id}_{i}.tif"  # no band in the name: names come from the item
            bounds = _write(path, array, 500_000, y0, res)
            files[name] = (name, common, path)
            arrays[item_id][name] = array
        item = _item(item_id, when, platform, files, bounds, data)
        jp2 = pystac.Asset(str(data / f"{item_id}_B04.jp2"), media_type=pystac.MediaType.JPEG2000, roles=["data"])
        item.add_asset("B04-jp2", jp2)
        EOExtension.ext(jp2, add_if_missing=True).bands = [Band.create(name="B04", common_name="red")]
        items.append((S2, item))
    # Landsat: asset keys are common names (as Earth Search's), band names in eo
    red = rng.integers(5000, 9000, (16, 16)).astype("uint16")
    bounds = _write(data / "lc08_red.tif", red, 500_000, 4_000_000, 30)
    nir = rng.integers(5000, 9000, (16, 16)).astype("uint16")
    _write(data / "lc08_nir.tif", nir, 500_000, 4_000_000, 30)
    files = {"red": ("B4", "red", data / "lc08_red.tif"), "nir08": ("B5", "nir08", data / "lc08_nir.tif")}
    when = dt.datetime(2024, 1, 6, 9, tzinfo=dt.UTC)
    items.append((LANDSAT, _item("LC08_20240106", when, "landsat-8", files, bounds, data)))
    arrays["LC08_20240106"] = {"B4": red, "B5": nir}

    catalog = pystac.Catalog("test", "offline STAC test catalogue")
    extent = pystac.Extent(pystac.SpatialExtent([[-180, -90, 180, 90]]), pystac.TemporalExtent([[None, None]]))
    collections = {c: pystac.Collection(c, c, extent) for c in (S2, LANDSAT)}
    for c in collections.values():
        catalog.add_child(c)
    for c, item in items:
        collections[c].add_item(item)
    catalog.normalize_hrefs(str(root / "catalog"))
    catalog.make_all_asset_hrefs_relative()
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    return root / "catalog", arrays


def _ids(items):
    return sorted(i.id for i in items)


EAST_AREA = "14.9,35.9,15.2,36.3"  # the January scene only
BOTH = "14.9,35.9,15.2,37.5"


def test_search_filters_by_bbox_datetime_collection(stac):
    catalog, _ = stac
    assert _ids(search_items(catalog, S2, EAST_AREA)) == ["S2A_T33_20240105"]
    assert _ids(search_items(catalog, S2, BOTH)) == ["S2A_T33_20240105", "S2B_T33_20240210"]
    assert _ids(search_items(catalog / "catalog.json", S2, BOTH, "2024-01-01/2024-01-31")) == ["S2A_T33_20240105"]
    assert _ids(search_items(catalog, S2, BOTH, "2024-02-01T00:00:00Z/..")) == ["S2B_T33_20240210"]
    assert _ids(search_items(catalog, S2, BOTH, "../2024-01-05")) == ["S2A_T33_20240105"]  # a date: its whole day
    assert _ids(search_items(catalog, S2, BOTH, "2024-02-10")) == ["S2B_T33_20240210"]
    assert _ids(search_items(catalog, LANDSAT, BOTH)) == ["LC08_20240106"]
    assert _ids(search_items(f"file://{catalog}", None, [14.9, 35.9, 15.2, 36.3])) == [
        "LC08_20240106",
        "S2A_T33_20240105",
    ]
    assert len(search_items(catalog, S2, BOTH, max_items=1)) == 1


def test_bbox_west_of_east_crosses_the_antimeridian(stac):
    catalog, _ = stac  # the January scene lies near 15.0 E, 36.1 N
    assert _ids(search_items(catalog, S2, "14.95,35.9,-179,36.3")) == ["S2A_T33_20240105"]  # 14.95 E east to 179 W
    with pytest.raises(RsvisionError, match="no STAC items"):
        search_items(catalog, S2, "15.3,35.9,14.9,36.3")  # 15.3 E round the world to 14.9 E: misses 15.0 E


def test_search_errors_are_one_line(stac):
    catalog, _ = stac
    with pytest.raises(RsvisionError, match="no STAC items .* widen"):
        search_items(catalog, S2, BOTH, "2023-01-01/2023-12-31")
    with pytest.raises(RsvisionError, match="no STAC items"):
        search_items(catalog, "sentinel-1-grd", BOTH)
    for bad in ("1,2,3", "15,36,15,37", "190,36,191,37", "a,b,c,d", "0,-95,1,1"):
        with pytest.raises(RsvisionError, match="bad bbox"):
            search_items(catalog, S2, bad)
    for bad in ("2024-13-01/..", "2024-02-01/2024-01-01", "yesterday", "..", "a/b/c"):
        with pytest.raises(RsvisionError, match="bad datetime"):
            search_items(catalog, S2, BOTH, bad)
    with pytest.raises(InputNotFoundError, match="no such STAC catalogue"):
        search_items(catalog / "nothing.json", S2, BOTH)
    with pytest.raises(RsvisionError, match="cannot reach the STAC API at http://127.0.0.1:9"):
        search_items("http://127.0.0.1:9/stac", S2, BOTH)  # the discard port: refused at once, offline


def _item_file(catalog, collection, item_id):
    return catalog / collection / item_id / f"{item_id}.json"


def test_open_stac_item_stacks_assets_in_order_on_finest_grid(stac):
    catalog, arrays = stac
    expected = arrays["S2A_T33_20240105"]
    path = _item_file(catalog, S2, "S2A_T33_20240105")
    assert "../" in json.loads(path.read_text())["assets"]["B04"]["href"]  # relative: resolved against the item
    scene = open_stac_item(path, assets=["B08", "B11", "B04"], resampling="nearest")
    assert scene.band_names == ["B08", "B11", "B04"]
    assert scene.shape == (3, 64, 64) and scene.res == (10, 10)
    assert scene.sensor == "sentinel-2"  # from platform sentinel-2a
    assert scene.bands[2].wavelength_nm == pytest.approx(664.6)
    out = scene.read()
    np.testing.assert_array_equal(out[0], expected["B08"])
    np.testing.assert_array_equal(out[2], expected["B04"])
    np.testing.assert_array_equal(out[1], np.repeat(np.repeat(expected["B11"], 2, 0), 2, 1))  # 20 m onto 10 m
    bilinear = open_stac_item(path, assets="B11,B02")
    assert bilinear.shape == (2, 64, 64)
    np.testing.assert_array_equal(bilinear.read(bands=["B02"])[0], expected["B02"])


def test_default_assets_are_the_data_bands_in_sensor_order(stac):
    catalog, _ = stac
    scene = open_stac_item(_item_file(catalog, S2, "S2B_T33_20240210"))
    # thumbnail, metadata and the JP2 copy of B04 left out
    assert scene.band_names == ["B02", "B03", "B04", "B08", "B11"]
    assert all(b.origin == "file" for b in scene.bands)
    assert open_stac_item(_item_file(catalog, S2, "S2B_T33_20240210"), sensor="landsat-8-9").sensor == "landsat-8-9"


def test_common_and_eo_band_names_select_assets(stac):
    catalog, arrays = stac
    scene = open_stac_item(_item_file(catalog, S2, "S2A_T33_20240105"), assets=["nir", "red"])
    assert scene.band_names == ["B08", "B04"]
    np.testing.assert_array_equal(scene.read()[1], arrays["S2A_T33_20240105"]["B04"])
    landsat = open_stac_item(_item_file(catalog, LANDSAT, "LC08_20240106"), assets=["B5", "red"])
    assert landsat.band_names == ["B5", "B4"]  # eo names, whatever the asset keys
    assert landsat.sensor == "landsat-8-9"
    np.testing.assert_array_equal(landsat.read().data, np.stack([arrays["LC08_20240106"][b] for b in ("B5", "B4")]))


def test_missing_asset_names_the_available_ones(stac):
    catalog, _ = stac
    with pytest.raises(BandNotFoundError) as err:
        open_stac_item(_item_file(catalog, S2, "S2A_T33_20240105"), assets=["B04", "B12"])
    message = str(err.value)
    assert "'B12'" in message and "B02 (blue)" in message and "B11 (swir16)" in message and "thumbnail" in message
    with pytest.raises(RsvisionError, match="not a STAC item"):
        open_stac_item(catalog / "catalog.json")


def test_save_items_then_open_scene_round_trip(stac, tmp_path):
    catalog, arrays = stac
    items = search_items(catalog, S2, BOTH)
    saved = tmp_path / "items"
    saved.mkdir()
    paths = save_items(items, saved)
    assert sorted(p.name for p in paths) == ["S2A_T33_20240105.json", "S2B_T33_20240210.json"]
    assert sorted(p.name for p in saved.iterdir()) == sorted(p.name for p in paths)  # no temporary files left
    moved = tmp_path / "elsewhere"
    shutil.copytree(saved, moved)  # self-contained: opens wherever the file is
    path = moved / "S2A_T33_20240105.json"
    assert is_stac_item(path) and not is_stac_item(catalog / "catalog.json")
    scene = open_scene(path, resampling="nearest")
    assert scene.band_names == ["B02", "B03", "B04", "B08", "B11"]
    direct = open_stac_item(_item_file(catalog, S2, "S2A_T33_20240105"), resampling="nearest")
    np.testing.assert_array_equal(scene.read().data, direct.read().data)
    np.testing.assert_array_equal(scene.read(bands=["B03"])[0], arrays["S2A_T33_20240105"]["B03"])
    with pytest.raises(OutputError, match="does not exist"):
        save_items(items, tmp_path / "missing")


def test_raster_extension_scale_and_offset_become_the_scaling(stac, tmp_path):
    catalog, arrays = stac
    saved = save_items(search_items(catalog, S2, EAST_AREA), tmp_path)[0]
    data = json.loads(saved.read_text())
    data["assets"]["B04"]["raster:bands"] = [{"scale": 0.0001, "offset": -0.1, "nodata": 0}]  # STAC 1.0
    data["assets"]["B08"] |= {"raster:scale": 0.0002, "nodata": 0}  # STAC 1.1, on the asset itself
    saved.write_text(json.dumps(data))
    scene = open_stac_item(saved, assets=["B04", "B08"])
    assert scene.scaling.factors == {"B04": (0.0001, -0.1), "B08": (0.0002, 0.0)} and scene.scaling.fill == 0
    expected = arrays["S2A_T33_20240105"]["B04"].astype("float32") * np.float32(0.0001) + np.float32(-0.1)
    np.testing.assert_allclose(scene.read(bands=["B04"], scale="reflectance")[0], expected, rtol=1e-6)
    with pytest.raises(RsvisionError, match="B02"):  # an asset without a rule: refused by name when scaling
        open_stac_item(saved, assets=["B04", "B02"]).read(scale="reflectance")
    assert open_stac_item(_item_file(catalog, S2, "S2A_T33_20240105")).scaling is None


def test_gdal_paths_of_hrefs():
    assert gdal_path("https://x.org/a/B04.tif") == "/vsicurl/https://x.org/a/B04.tif"
    assert gdal_path("http://x.org/B04.tif") == "/vsicurl/http://x.org/B04.tif"
    assert gdal_path("s3://bucket/key/B04.tif") == "/vsis3/bucket/key/B04.tif"
    assert gdal_path("gs://bucket/B04.tif") == "/vsigs/bucket/B04.tif"
    assert gdal_path("file:///data/B04%20a.tif") == "/data/B04 a.tif"
    assert gdal_path("/data/B04.tif") == "/data/B04.tif"
    with pytest.raises(RsvisionError, match="ftp://"):
        gdal_path("ftp://x.org/B04.tif")


def test_gdal_path_with_double_slash_reaches_gdal_unchanged(stac, tmp_path):
    """A Path would collapse /vsizip//abs/... (as it would /vsicurl/https://...) into a relative path."""
    catalog, arrays = stac
    data = catalog.parent / "data"
    archive = tmp_path / "bands.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(data / "lc08_red.tif", "red.tif")
    item = pystac.Item.from_file(str(_item_file(catalog, LANDSAT, "LC08_20240106")))
    item.assets["red"].href = f"/vsizip/{archive}/red.tif"
    scene = open_stac_item(item, assets=["red"])
    assert scene._sources[0].path == f"/vsizip/{archive}/red.tif"
    np.testing.assert_array_equal(scene.read()[0], arrays["LC08_20240106"]["B4"])
