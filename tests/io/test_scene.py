import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image
from rasterio.windows import Window

from rsvision import samples
from rsvision.core.sensors import SENTINEL2_ORDER
from rsvision.errors import (
    BandCountError,
    BandNotFoundError,
    GridMismatchError,
    InputNotFoundError,
    NoBandFilesError,
    NotGeoreferencedWarning,
    UnreadableRasterError,
)
from rsvision.io import open_scene

CRSS = {
    "utm": ("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4000000)),
    "lonlat": ("EPSG:4326", Affine(0.0001, 0, 12.5, 0, -0.0001, 41.9)),
    "polar": ("EPSG:3413", Affine(50, 0, -200000, 0, -50, -2000000)),
}


@pytest.mark.parametrize("crs_key", sorted(CRSS))
@pytest.mark.parametrize("dtype,nodata", [("uint8", 0), ("uint16", 65535), ("int16", -9999), ("float32", np.nan)])
def test_geotiff_roundtrip_crs_dtype_nodata(make_raster, crs_key, dtype, nodata):
    crs, transform = CRSS[crs_key]
    rng = np.random.default_rng(0)
    data = rng.integers(1, 120, size=(4, 37, 53)).astype(dtype)
    data[:, 5:9, 7:11] = nodata
    # photometric: GDAL would declare a 4-band uint8 file RGB + alpha (tested below)
    path = make_raster(
        f"s_{crs_key}_{dtype}.tif", data, crs=crs, transform=transform, nodata=nodata, photometric="MINISBLACK"
    )
    scene = open_scene(path)
    assert scene.crs == rasterio.crs.CRS.from_user_input(crs)
    assert scene.transform == transform
    assert (scene.count, scene.height, scene.width) == (4, 37, 53)
    assert scene.dtype == dtype
    out = scene.read()
    assert out.dtype == np.dtype(dtype)
    mask = np.ma.getmaskarray(out)
    assert mask[:, 5:9, 7:11].all() and mask.sum() == 4 * 4 * 4  # nodata comes back as the mask
    np.testing.assert_array_equal(out.data[~mask], data[~mask])
    window = Window(3, 2, 20, 10)
    part = scene.read(window, bands=[scene.band_names[1], 0])
    np.testing.assert_array_equal(part.data, data[[1, 0], 2:12, 3:23])


def test_read_out_shape_resamples(make_raster):
    data = np.arange(64 * 64, dtype="float32").reshape(64, 64)
    scene = open_scene(make_raster("a.tif", data))
    small = scene.read(out_shape=(16, 16), resampling="average")
    assert small.shape == (1, 16, 16)
    assert small.data[0, 0, 0] == pytest.approx(data[:4, :4].mean())


def test_read_into_a_buffer_of_another_dtype(make_raster):
    data = np.arange(3 * 40 * 50, dtype="uint16").reshape(3, 40, 50)
    data[:, 0, 0] = 0
    scene = open_scene(make_raster("b.tif", data, nodata=0))
    out = np.full((2, 10, 20), -1.0, np.float32)
    got = scene.read(Window(5, 3, 20, 10), bands=[2, 0], out=out)
    assert np.shares_memory(got.data, out)
    np.testing.assert_array_equal(out, data[[2, 0], 3:13, 5:25].astype(np.float32))
    with pytest.raises(ValueError, match="out has shape"):
        scene.read(Window(0, 0, 20, 10), out=out)


def test_band_names_and_sensor_override(make_raster):
    data = np.ones((4, 8, 8), dtype="uint8")
    scene = open_scene(make_raster("naip.tif", data, photometric="MINISBLACK"))
    assert scene.sensor == "naip" and scene.band_names == ["red", "green", "blue", "nir"]
    named = open_scene(make_raster("x.tif", data.astype("uint16")), band_names=["a", "b", "c", "d"])
    assert named.band_names == ["a", "b", "c", "d"]
    with pytest.raises(BandCountError, match="has 4 bands but sensor 'rgb' has 3"):
        open_scene(make_raster("y.tif", data, photometric="MINISBLACK"), sensor="rgb")


def test_declared_alpha_band_is_the_mask(make_raster):
    data = np.full((4, 6, 6), 9, dtype="uint8")
    data[3, :, :2] = 0  # transparent columns
    scene = open_scene(make_raster("rgba.tif", data))  # GDAL declares 4-band uint8 as RGB + alpha
    assert scene.count == 3 and scene.sensor == "rgb"
    mask = np.ma.getmaskarray(scene.read())
    assert mask[:, :, :2].all() and not mask[:, :, 2:].any()


def _write_s2_band(folder, name, res, value_fn, size_10m=60, crs="EPSG:32631"):
    n = size_10m * 10 // res
    rows, cols = np.mgrid[0:n, 0:n]
    data = value_fn(rows, cols).astype("uint16")
    transform = Affine(res, 0, 600000, 0, -res, 5400000)
    with rasterio.open(
        folder / f"T31UDQ_20170829T105019_{name}.tif",
        "w",
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype="uint16",
        crs=crs,
        transform=transform,
    ) as dst:
        dst.write(data[None])


@pytest.fixture
def s2_folder(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    res = {"B01": 60, "B09": 60, "B10": 60, "B05": 20, "B06": 20, "B07": 20, "B8A": 20, "B11": 20, "B12": 20}
    for i, name in enumerate(sorted(SENTINEL2_ORDER)):  # written alphabetically: B8A after B12
        _write_s2_band(folder, name, res.get(name, 10), lambda r, c, i=i: 100 * i + r // 6 * 0 + 0 * c + 1000)
    return folder


def test_sentinel2_folder_stacks_on_finest_grid(s2_folder):
    scene = open_scene(s2_folder)
    assert scene.sensor == "sentinel-2"
    assert scene.band_names == SENTINEL2_ORDER  # canonical order, B8A after B08
    assert (scene.width, scene.height) == (60, 60) and scene.res == (10, 10)
    b05 = scene.bands[scene.band_index("B05")]
    assert b05.wavelength_nm == pytest.approx(704.1) and b05.gsd_m == 20
    out = scene.read()
    assert out.shape == (13, 60, 60) and not np.ma.getmaskarray(out).any()
    # each file is constant, so any resampling must give the file's value everywhere
    alphabetical = sorted(SENTINEL2_ORDER)
    for name in SENTINEL2_ORDER:
        assert (out.data[scene.band_index(name)] == 1000 + 100 * alphabetical.index(name)).all()


def test_sentinel2_grid_named_and_nearest(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    _write_s2_band(folder, "B02", 10, lambda r, c: r * 60 + c)
    _write_s2_band(folder, "B05", 20, lambda r, c: r * 30 + c)
    coarse = open_scene(folder, grid="B05", resampling="nearest")
    assert (coarse.width, coarse.height) == (30, 30)
    fine = open_scene(folder, resampling="nearest")
    b05 = fine.read(bands=["B05"]).data[0]
    # nearest: 10 m pixel (r, c) lies in 20 m pixel (r // 2, c // 2)
    r, c = np.mgrid[0:60, 0:60]
    np.testing.assert_array_equal(b05, (r // 2) * 30 + c // 2)


def test_list_of_band_files(s2_folder):
    files = sorted(s2_folder.glob("*_B0[234].tif"))
    scene = open_scene(files)
    assert scene.band_names == ["B02", "B03", "B04"]


def test_jpeg_png_without_georeference_warn(tmp_path):
    rgb = (np.random.default_rng(1).integers(0, 255, (20, 30, 3))).astype("uint8")
    for name in ("a.png", "a.jpg"):
        Image.fromarray(rgb).save(tmp_path / name)
        with pytest.warns(NotGeoreferencedWarning, match="pixel coordinates"):
            scene = open_scene(tmp_path / name)
        assert scene.crs is None and scene.transform == Affine.identity()
        assert scene.shape == (3, 20, 30) and scene.sensor == "rgb"
    rgba = np.dstack([rgb, np.full((20, 30), 255, "uint8")])
    rgba[:2, :2, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "b.png")
    with pytest.warns(NotGeoreferencedWarning):
        scene = open_scene(tmp_path / "b.png")
    out = scene.read()
    assert scene.count == 3 and np.ma.getmaskarray(out)[:, :2, :2].all() and np.ma.getmaskarray(out).sum() == 12


# bad input -------------------------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(InputNotFoundError, match=r"no such file or folder: .*nope\.tif"):
        open_scene(tmp_path / "nope.tif")


def test_not_a_raster_and_truncated(tmp_path, make_raster):
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"this is not a tiff")
    with pytest.raises(UnreadableRasterError, match=r"cannot read .*junk\.tif as a raster"):
        open_scene(junk)
    data = np.random.default_rng(0).integers(0, 60000, (1, 512, 512)).astype("uint16")
    path = make_raster("full.tif", data, tiled=True, blockxsize=128, blockysize=128)
    blob = path.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(UnreadableRasterError, match=r"cut\.tif .*(truncated|corrupt|as a raster)"):
        open_scene(cut).read()


def test_folder_without_band_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(NoBandFilesError, match="holds no raster band files"):
        open_scene(tmp_path)


def test_band_files_of_different_sizes_without_georeference(tmp_path, make_raster):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make_raster("x_B02.tif", np.zeros((10, 10), "uint16"), crs=None)
        make_raster("x_B05.tif", np.zeros((5, 5), "uint16"), crs=None)
    with pytest.raises(GridMismatchError, match="different sizes .* no georeference"):
        open_scene(tmp_path)


def test_band_not_found(make_raster):
    scene = open_scene(make_raster("a.tif", np.zeros((2, 4, 4), "uint16")))
    with pytest.raises(BandNotFoundError, match="has no band 'B08'; it has: band1, band2"):
        scene.read(bands=["B08"])


# real files ------------------------------------------------------------------------------------------------------


def test_every_oscd_city_opens_on_its_10m_grid(shared):
    root = shared("oscd")
    cities = (root / "images" / "train.txt").read_text().strip().split(",")
    assert len(cities) == 10
    for city in cities:
        for date in ("imgs_1", "imgs_2"):
            scene = open_scene(root / "images" / city / date)
            assert scene.count == 13 and scene.band_names == SENTINEL2_ORDER
            assert scene.crs.to_epsg() == 4326 and scene.sensor == "sentinel-2"
            b02 = rasterio.open(next((root / "images" / city / date).glob("*_B02.tif")))
            assert (scene.width, scene.height) == (b02.width, b02.height)  # the 10 m grid
        with pytest.warns(NotGeoreferencedWarning):
            label = open_scene(root / "labels" / city / "cm" / f"{city}-cm.tif")
        before = open_scene(root / "images" / city / "imgs_1")
        assert (label.width, label.height) == (before.width, before.height)  # pixel-aligned with the older date
        assert set(np.unique(label.read().data)) <= {1, 2}


def test_bundled_samples_open():
    before, after = open_scene(samples.oscd_bercy_before), open_scene(samples.oscd_bercy_after)
    assert before.count == after.count == 13
    with pytest.warns(NotGeoreferencedWarning):
        aerial = open_scene(samples.dubai_aerial)
    assert aerial.shape == (3, 2061, 1817)


def test_dubai_and_neon_open_without_georeference(shared):
    images = sorted(shared("dubai_segmentation").glob("Tile */images/*.jpg"))
    neon = sorted(shared("neon_trees").glob("*.jpg"))
    assert len(images) == 63 and len(neon) == 2
    for path in images[::9] + neon:
        with pytest.warns(NotGeoreferencedWarning):
            scene = open_scene(path)
        assert scene.crs is None and scene.count == 3
        assert scene.read(Window(0, 0, 8, 8)).shape == (3, 8, 8)


def test_block_cache_bytes_counts_the_blocks_a_span_of_rows_crosses(make_raster, s2_folder):
    data = np.zeros((3, 1000, 1300), "uint16")
    scene = open_scene(make_raster("tiled.tif", data, tiled=True, blockxsize=256, blockysize=256))
    row_of_blocks = 6 * 256 * 256 * 2  # 6 block columns (1,300 px) of 256 x 256 uint16
    assert scene.block_cache_bytes(512) == 3 * 3 * row_of_blocks  # 512 rows cross 3 block rows, 3 bands
    assert scene.block_cache_bytes(1) == 3 * row_of_blocks
    assert scene.block_cache_bytes(512, bands=[0]) == 3 * row_of_blocks
    assert scene.block_cache_bytes(5000) == 3 * 4 * row_of_blocks  # never more than the file's 4 block rows
    folder = open_scene(s2_folder)  # 60 px at 10 m, 30 at 20 m: each file one strip (a block of the whole file)
    b02, b05 = folder.block_cache_bytes(6, bands=["B02"]), folder.block_cache_bytes(6, bands=["B05"])
    assert (b02, b05) == (60 * 60 * 2, 30 * 30 * 2)


def test_select_bands_reorders_and_subsets(make_raster):
    data = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    scene = open_scene(make_raster("s.tif", data), band_names=["red", "green", "blue"])
    picked = scene.select_bands(["blue", 0])
    assert picked.band_names == ["blue", "red"] and picked.grid == scene.grid
    assert np.array_equal(picked.read().data, data[[2, 0]])
