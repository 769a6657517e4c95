import numpy as np
import pytest
import rasterio

from rsvision.errors import BandCountError
from rsvision.io import open_scene
from rsvision.io.rgb import read_rgb8, rgb_positions


def write(path, data, descriptions=None):
    count, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=count, dtype=data.dtype) as ds:
        ds.write(data)
        for i, d in enumerate(descriptions or [], start=1):
            ds.set_band_description(i, d)
    return path


def test_named_bands_in_any_order(tmp_path):
    data = np.stack([np.full((8, 8), v, np.uint8) for v in (30, 20, 10)])  # blue, green, red
    scene = open_scene(write(tmp_path / "bgr.tif", data, ["blue", "green", "red"]))
    assert rgb_positions(scene) == [2, 1, 0]
    assert read_rgb8(scene, 4)[:, 0, 0].tolist() == [10, 20, 30]


def test_sentinel2_by_wavelength_made_true_colour(tmp_path):
    names = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
    data = np.stack([np.full((8, 8), 100 * (i + 1), np.uint16) for i in range(13)])
    scene = open_scene(write(tmp_path / "s2.tif", data, names))
    assert rgb_positions(scene) == [3, 2, 1]  # B04, B03, B02
    rgb = read_rgb8(scene, 8)
    assert rgb.dtype == np.uint8 and rgb[:, 0, 0].tolist() == [round(400 * 2.5 * 255 / 1e4), 19, 13]


def test_unnamed_bands_take_the_first_three_and_too_few_are_refused(tmp_path):
    with pytest.warns(Warning):
        scene = open_scene(write(tmp_path / "plain.tif", np.zeros((4, 8, 8), np.uint8)))
    assert rgb_positions(scene) == [0, 1, 2]
    with pytest.warns(Warning):
        one = open_scene(write(tmp_path / "one.tif", np.zeros((1, 8, 8), np.uint8)))
    with pytest.raises(BandCountError, match="no red, green and blue"):
        rgb_positions(one)
