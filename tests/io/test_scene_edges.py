"""Windows past a scene's edges (boundless reads), folders that are not band stacks, empty files."""

import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image
from rasterio.windows import Window

from rsvision import samples
from rsvision.errors import NoBandFilesError, UnreadableRasterError
from rsvision.io import open_scene

# Even sizes, windows and offsets: halving maps every intersection onto whole output pixels, as rasterio's
# boundless read (a VRT of the window) then resamples the same source pixels into the same output pixels.
H, W = 38, 54
WINDOWS = {
    "inside": (2, 2, 20, 16),
    "left": (-6, 4, 20, 16),
    "right": (W - 10, 4, 20, 16),
    "top": (8, -6, 20, 16),
    "bottom": (8, H - 10, 20, 16),
    "top-left": (-6, -4, 20, 16),
    "top-right": (W - 10, -4, 20, 16),
    "bottom-left": (-6, H - 10, 20, 16),
    "bottom-right": (W - 10, H - 10, 20, 16),
    "around": (-4, -6, W + 10, H + 12),
    "outside-right": (W + 4, 2, 20, 16),
    "outside-above-left": (-30, -20, 20, 16),
}
DTYPES = [
    ("uint8", None),
    ("uint8", 0),
    ("uint16", None),
    ("uint16", 65535),
    ("int16", None),
    ("int16", -9999),
    ("float32", None),
    ("float32", np.nan),
]
TRANSFORM = Affine(10, 0, 500000, 0, -10, 4000000)
# rasterio's own boundless read (the reference) still multiplies affines with `*`
BOUNDLESS_WARNING = "ignore:Use `@` matmul instead of `*`:PendingDeprecationWarning"


def _data(count, height, width, dtype, nodata, seed):
    data = np.random.default_rng(seed).integers(1, 200, (count, height, width)).astype(dtype)
    if nodata is not None:
        data[:, 2:6, : width // 8] = nodata  # nodata inside the scene, at the left edge
    return data


def _write(path, data, nodata, transform=TRANSFORM):
    count, height, width = data.shape
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=count,
        dtype=data.dtype,
        crs="EPSG:32633",
        transform=transform,
        nodata=nodata,
        photometric="MINISBLACK",
    ) as dst:
        dst.write(data)
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """(dtype, nodata, kind) -> (scene path, {resampling: reference GeoTIFF for rasterio's boundless read}),
    built once. ``stack`` is a folder of x_B02/x_B03/x_B04 with B03 at half resolution (read through a
    WarpedVRT); its reference is the scene read whole (in bounds) and written out on the scene grid."""
    root = tmp_path_factory.mktemp("edges")
    made = {}
    for dtype, nodata in DTYPES:
        key = f"{dtype}_{nodata}"
        for count in (1, 3):
            path = _write(root / f"file{count}_{key}.tif", _data(count, H, W, dtype, nodata, count), nodata)
            made[dtype, str(nodata), f"file{count}"] = (path, {"bilinear": path, "nearest": path})
        folder = root / f"stack_{key}"
        folder.mkdir()
        for i, name in enumerate(("B02", "B03", "B04")):
            half = name == "B03"
            data = _data(1, H // 2 if half else H, W // 2 if half else W, dtype, nodata, 10 + i)
            transform = TRANSFORM @ Affine.scale(2) if half else TRANSFORM
            _write(folder / f"x_{name}.tif", data, nodata, transform)
        references = {}
        for rs in ("bilinear", "nearest"):
            with open_scene(folder, resampling=rs) as scene:
                assert scene._sources[1].warp and scene.shape == (3, H, W)
                references[rs] = _write(root / f"stack_{key}_{rs}.tif", scene.read().data, nodata)
        made[dtype, str(nodata), "stack"] = (folder, references)
    return made


def _fill(nodata):
    return 0 if nodata is None else nodata


@pytest.mark.filterwarnings(BOUNDLESS_WARNING)
@pytest.mark.parametrize("mode", ["plain", "half", "out", "out-half"])
@pytest.mark.parametrize("where", sorted(WINDOWS))
@pytest.mark.parametrize("kind", ["file1", "file3", "stack"])
@pytest.mark.parametrize("dtype,nodata", DTYPES)
def test_read_past_the_edge_matches_rasterio_boundless(sources, dtype, nodata, kind, where, mode):
    path, references = sources[dtype, str(nodata), kind]
    window = Window(*WINDOWS[where])
    # Halving a warped band: GDAL may warp straight to the coarser grid, where the materialised reference is
    # resampled from the fine one; nearest gives the same source pixels both ways (bilinear differs, in bounds too).
    rs = "nearest" if kind == "stack" and "half" in mode else "bilinear"
    scene, reference = open_scene(path, resampling=rs), references[rs]
    shape = (scene.count, int(window.height), int(window.width))
    if "half" in mode:
        shape = (shape[0], shape[1] // 2, shape[2] // 2)
    out = np.full(shape, -7.0, np.float32) if "out" in mode else None  # stale values, as the engine reuses one
    with rasterio.open(reference) as ds:  # GDAL resamples straight into the float buffer, hence out_dtype
        expected = ds.read(
            window=window,
            boundless=True,
            masked=True,
            out_shape=shape,
            resampling=scene.resampling,
            out_dtype=out.dtype if out is not None else None,
        )
    got = scene.read(window, out_shape=shape[1:] if "half" in mode else None, out=out)
    assert got.shape == shape and got.dtype == (np.float32 if out is not None else np.dtype(dtype))
    if out is not None:
        assert np.shares_memory(got.data, out)
    np.testing.assert_array_equal(np.ma.getmaskarray(got), np.ma.getmaskarray(expected))
    # rasterio's boundless VRT has the file's dtype, so it rounds resampled integers before they reach the float
    # buffer; GDAL resampling straight into it (as an in-bounds read does) keeps the fraction
    np.testing.assert_allclose(got.data, expected.data, rtol=0, atol=0.5 if mode == "out-half" else 0)
    if where.startswith("outside"):
        assert np.ma.getmaskarray(got).all()
        np.testing.assert_array_equal(got.data, np.full(shape, _fill(nodata), got.dtype))


def test_window_of_the_report(tmp_path):
    """A 785 x 799 scene read at Window(780, 790, 100, 100): the 5 x 9 corner, not a stretched one."""
    data = _data(1, 799, 785, "uint16", None, 3)
    scene = open_scene(_write(tmp_path / "odd.tif", data, None))
    got = scene.read(Window(780, 790, 100, 100))
    assert got.shape == (1, 100, 100)
    np.testing.assert_array_equal(got.data[:, :9, :5], data[:, 790:, 780:])
    mask = np.ma.getmaskarray(got)
    assert not mask[:, :9, :5].any() and mask.sum() == 100 * 100 - 9 * 5
    assert (got.data[mask] == 0).all()


def test_nodata_fill_fits_the_out_buffer(tmp_path):
    """Outside pixels hold nodata converted as GDAL converts: clamped to an integer buffer, NaN there becomes 0."""
    scene = open_scene(_write(tmp_path / "f.tif", _data(1, 8, 8, "float32", np.nan, 0), np.nan))
    out = np.full((1, 4, 4), 9, np.uint8)
    got = scene.read(Window(6, 6, 4, 4), out=out)
    assert (out[0, 2:, :] == 0).all() and (out[0, :, 2:] == 0).all() and np.ma.getmaskarray(got)[0, 2:, :].all()
    scene = open_scene(_write(tmp_path / "i.tif", _data(1, 8, 8, "int16", -9999, 0), -9999))
    got = scene.read(Window(-2, 0, 4, 4), out=np.full((1, 4, 4), 9, np.uint8))
    assert (got.data[0, :, :2] == 0).all() and np.ma.getmaskarray(got)[0, :, :2].all()


# folders that are not band stacks ----------------------------------------------------------------------------------


def test_folder_of_photos_is_not_a_band_stack(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (16, 16, 3)).astype("uint8")
    for i in range(4):
        Image.fromarray(rgb).save(tmp_path / f"airport_{i}.jpg")
    Image.fromarray(rgb).save(tmp_path / "harbour.png")
    with pytest.raises(NoBandFilesError) as err:
        open_scene(tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert f"{tmp_path} is a folder of 5 images, not band files of one scene" in message
    assert f"`rsvision classify {tmp_path} -o OUT.csv` classifies such folders one image at a time" in message
    assert "open one image, or name band files like ..._B02.tif" in message


def test_folder_mixing_band_files_and_other_rasters(tmp_path, make_raster):
    make_raster("x_B02.tif", np.zeros((8, 8), "uint16"))
    make_raster("x_B03.tif", np.zeros((8, 8), "uint16"))
    make_raster("x_TCI.tif", np.zeros((3, 8, 8), "uint8"))  # as beside a Sentinel-2 product's band files
    with pytest.warns(UserWarning, match=r"1 raster\(s\) whose names declare no band \(such as x_TCI\.tif\) are left"):
        scene = open_scene(tmp_path)
    assert scene.band_names == ["B02", "B03"]


def test_explicit_list_stacks_whatever_it_is_given(tmp_path, make_raster):
    files = [make_raster(f"{name}.tif", np.full((8, 8), i, "uint16")) for i, name in enumerate(("a", "b"))]
    scene = open_scene(files)
    assert scene.band_names == ["a", "b"]
    assert scene.read().data[:, 0, 0].tolist() == [0, 1]


def test_oscd_city_folder_names_its_two_dates(tmp_path, make_raster):
    city = tmp_path / "abudhabi"
    for date in ("imgs_1", "imgs_2"):
        (city / date).mkdir(parents=True)
        make_raster(f"abudhabi/{date}/T40QBM_B02.tif", np.zeros((8, 8), "uint16"))
    (city / "dates.txt").write_text("date_1: 20160120\n")
    with pytest.raises(NoBandFilesError) as err:
        open_scene(city)
    message = str(err.value)
    assert "\n" not in message
    assert f"open {city / 'imgs_1'} (before) or {city / 'imgs_2'} (after)" in message
    assert open_scene(city / "imgs_1").band_names == ["B02"]


def test_real_photo_and_city_folders(shared):
    airport = shared("AID", "Airport")
    count = sum(1 for p in airport.iterdir() if p.suffix.lower() in {".jpg", ".png", ".tif"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NoBandFilesError, match=f"is a folder of {count} images, not band files"):
            open_scene(airport)
    city = shared("oscd", "images", "abudhabi")
    with pytest.raises(NoBandFilesError, match=r"imgs_1 \(before\) or .*imgs_2 \(after\)"):
        open_scene(city)


def test_bundled_oscd_sample_folder():
    city = samples.oscd_bercy_before.parent
    with pytest.raises(NoBandFilesError, match=r"imgs_1 \(before\) or .*imgs_2 \(after\)"):
        open_scene(city)


# empty files -----------------------------------------------------------------------------------------------------


def test_empty_file(tmp_path, make_raster):
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    with pytest.raises(UnreadableRasterError, match=r"empty\.tif as a raster: the file is empty \(0 bytes\)"):
        open_scene(empty)
    folder = tmp_path / "stack"
    folder.mkdir()
    make_raster("stack/x_B02.tif", np.zeros((8, 8), "uint16"))
    (folder / "x_B03.tif").write_bytes(b"")
    with pytest.raises(UnreadableRasterError, match=r"x_B03\.tif as a raster: the file is empty \(0 bytes\)"):
        open_scene(folder)
