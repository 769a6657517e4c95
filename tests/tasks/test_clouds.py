"""The cloud masker: s2cloudless's clouds on bands found by name in any order, shadows only where dark, not water,
darker than their surroundings and near a cloud; tiled equals untiled when tiles overlap by twice its margin."""

import numpy as np
import pytest
from rasterio.windows import Window

from rsvision.errors import BandCountError
from rsvision.tasks.base import TileBatch
from rsvision.tasks.clouds import MODEL_BANDS, CloudMasker, sentinel2_positions

S2 = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]


def _tile(h=160, w=160):
    """Sentinel-2 digital numbers (13 bands in file order) of vegetation, with a bright cloud at the top left, a
    dark patch just below it (a shadow), a dark patch far from it and a water patch next to it."""
    veg = dict(zip(S2, [1200, 900, 800, 600, 1000, 2200, 2600, 2800, 2900, 1000, 20, 1800, 900], strict=True))
    image = np.stack([np.full((h, w), veg[b], np.float32) for b in S2])
    image += np.random.default_rng(0).normal(0, 15, image.shape).astype(np.float32)
    image[:, 10:40, 10:40] = 5500  # cloud: bright in every band, cirrus included
    image[S2.index("B10"), 10:40, 10:40] = 300
    image[:, 45:60, 10:40] *= 0.3  # in the cloud's shadow
    image[:, 120:150, 120:150] *= 0.3  # as dark, but 80+ pixels from any cloud
    image[S2.index("B03"), 45:60, 45:70] = 900  # water: green brighter than NIR, dark NIR
    image[S2.index("B08"), 45:60, 45:70] = 300
    return image


def _predict(masker, image):
    picked = image[masker.bands][None]
    batch = TileBatch(picked, np.zeros((1, *picked.shape[2:]), bool), [Window(0, 0, *picked.shape[:1:-1])])
    return masker.predict(batch)[0].argmax(0)


def test_clouds_shadows_and_what_is_neither():
    classes = _predict(CloudMasker(S2), _tile())
    assert (classes[15:35, 15:35] == 1).all()  # cloud
    assert (classes[48:57, 15:35] == 2).mean() > 0.9  # its shadow
    assert (classes[125:145, 125:145] == 0).all()  # dark but far from any cloud
    assert (classes[48:57, 50:65] != 2).all()  # water near a cloud is not shadow
    assert (classes[80:110, 80:110] == 0).all()  # vegetation


def test_bands_are_found_by_name_in_any_order():
    image = _tile()
    order = np.random.default_rng(1).permutation(len(S2))
    shuffled = CloudMasker([S2[i].lower() for i in order])
    assert np.array_equal(_predict(shuffled, image[order]), _predict(CloudMasker(S2), image))


def test_positions_accept_short_names_and_name_what_is_missing():
    assert sentinel2_positions(["B2", "B1"], ["B01", "B02"]) == [1, 0]
    with pytest.raises(BandCountError, match=r"needs the Sentinel-2 bands B01,B02.*has red,green,blue"):
        sentinel2_positions(["red", "green", "blue"], MODEL_BANDS, "rgb.tif")


def test_tiled_equals_untiled_with_twice_the_margin():
    image = _tile(200, 200)
    masker = CloudMasker(S2)
    whole = _predict(masker, image)
    step, size = 100, 100 + 2 * masker.margin  # a tile's centre 100 px, with the margin's context each side
    for top in range(0, 200, step):
        for left in range(0, 200, step):
            t0, l0 = max(0, top - masker.margin), max(0, left - masker.margin)
            part = _predict(masker, image[:, t0 : t0 + size, l0 : l0 + size])
            centre = part[top - t0 : top - t0 + step, left - l0 : left - l0 + step]
            assert np.array_equal(centre, whole[top : top + step, left : left + step])
