"""Co-registration: a planted sub-pixel shift between two dates on one grid is measured within 0.1 px and taken out
by reading the second date from there; a pair without structure or too few valid pixels gives no shift; the finest
bands are chosen by their ground sampling distance; a scene without georeference cannot be shifted."""

import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy import ndimage

from rsvision.core.sensors import get_sensor
from rsvision.errors import GridMismatchError
from rsvision.io import open_scene
from rsvision.io.coregister import coregister, estimate_shift, finest_bands

T = Affine(10, 0, 500000, 0, -10, 4000000)
SHIFT = (0.6, -0.4)  # (dx, dy) pixels the second date is read from to lie on the first


def _texture(seed: int, shape=(4, 192, 192)) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, 1, shape)
    return (1000 + 300 * ndimage.gaussian_filter(noise, (0, 2, 2))).astype(np.float32)


def _write(path, data, crs="EPSG:32633"):
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0], dtype="float32")
    with rasterio.open(path, "w", crs=crs, transform=T, **profile) as dst:
        dst.write(data)
    return path


@pytest.fixture(scope="module")
def shifted_pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coreg")
    before = _texture(0)
    # ndimage.shift(a, s)(y) = a(y - s): the second date is the first moved by (dy, dx), read back from (dx, dy) on
    after = ndimage.shift(before, (0, SHIFT[1], SHIFT[0]), order=3, mode="nearest")
    return _write(folder / "before.tif", before), _write(folder / "after.tif", after)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a[:, 8:-8, 8:-8].ravel(), b[:, 8:-8, 8:-8].ravel()
    return float(np.corrcoef(a, b)[0, 1])


def test_a_planted_shift_is_measured_and_taken_out(shifted_pair):
    before, after = (open_scene(p) for p in shifted_pair)
    x, y = before.read().data, after.read().data
    valid = np.ones(x.shape[1:], bool)
    shift = estimate_shift(x, y, valid)
    assert shift is not None and shift.windows == 1
    assert (shift.dx, shift.dy) == pytest.approx(SHIFT, abs=0.1)
    moved, measured = coregister(after, x, y, valid)
    assert measured == shift
    z = moved.read().data
    assert moved.grid == before.grid
    assert _correlation(x, z) > _correlation(x, y) + 0.01
    residual = estimate_shift(x, z, valid)
    assert abs(residual.dx) < 0.1 and abs(residual.dy) < 0.1


def test_windows_agree_and_a_shift_of_nothing_is_nothing():
    x = _texture(1, (3, 256, 256))
    windows = np.stack([x[:, :128, :128], x[:, 128:, 128:]])
    shift = estimate_shift(windows, windows, np.ones((2, 128, 128), bool))
    assert shift.windows == 2 and abs(shift.dx) < 0.05 and abs(shift.dy) < 0.05


def test_no_structure_or_too_few_valid_pixels_give_no_shift():
    flat = np.full((2, 64, 64), 500, np.float32)
    assert estimate_shift(flat, flat + 3, np.ones((64, 64), bool)) is None
    x = _texture(2, (2, 64, 64))
    few = np.zeros((64, 64), bool)
    few[:10] = True
    assert estimate_shift(x, x, few) is None
    assert estimate_shift(x[:, :16, :16], x[:, :16, :16], np.ones((16, 16), bool)) is None


def test_the_finest_bands_measure_the_shift():
    s2 = get_sensor("sentinel2")
    bands = [s2.band(n) for n in ("B01", "B02", "B05", "B04", "B11", "B08")]
    assert finest_bands(bands) == [1, 3, 5]
    assert finest_bands([s2.band("B02").__class__("x")] * 2) == [0, 1]  # sizes unknown: every band


def test_a_scene_without_georeference_cannot_be_shifted(tmp_path):
    path = tmp_path / "plain.png"
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    with pytest.warns(Warning):
        scene = open_scene(path)
    with pytest.raises(GridMismatchError, match="no georeference"):
        scene.shifted(0.5, 0.5)
