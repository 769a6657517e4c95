"""Scene classification task pieces: class colours, tile size from the record, band selection by name, image
folders. (The class map, checked against a brute-force nearest tile, is the engine's: tests/engine/test_classmap.py.)"""

import numpy as np
import pytest
import torch

from rsvision.core.sensors import SENSORS, Band
from rsvision.errors import BandCountError, NormalisationError
from rsvision.models import Preprocessing, Weights
from rsvision.tasks.classification import (
    BandChoice,
    class_colours,
    select_bands,
    tile_size_for,
)

torch.set_num_threads(1)


def test_class_colours_are_distinct():
    colours = class_colours(60)
    assert len(set(colours.values())) == 60 and all(c[3] == 255 for c in colours.values())
    rgb = np.array([c[:3] for c in colours.values()], dtype=float)[:30]  # AID's 30 classes: no two look alike
    gaps = np.sqrt(((rgb[:, None] - rgb[None]) ** 2).sum(-1))[np.triu_indices(30, 1)]
    assert gaps.min() > 40


def _record(**kw):
    prep = Preprocessing(
        bands=["red", "green", "blue"],
        scale=255,
        value_range=(0, 255),
        mean=[0.5] * 3,
        std=[0.2] * 3,
        input_size=kw.pop("input_size", 64),
    )
    return Weights(
        name="t",
        file="t.safetensors",
        sha256="0" * 64,
        architecture="resnet18",
        preprocessing=prep,
        classes=["a", "b"],
        licence="-",
        command="-",
        **kw,
    )


def test_tile_size_follows_the_record():
    assert tile_size_for(_record(), 0.5) == 64  # the record has no GSD
    assert tile_size_for(_record(gsd_m=2.0), None) == 64  # the scene has none
    assert tile_size_for(_record(gsd_m=2.0), 0.5) == 256
    assert tile_size_for(_record(gsd_m=1.0, input_size=100), 3.0) == 33


def test_select_bands_by_name_position_or_given_names():
    record = _record()
    assert select_bands(record, ["blue", "nir", "red", "green"], None, "s") == BandChoice(
        ["red", "green", "blue"], "name"
    )
    assert select_bands(record, ["band1", "band2", "band3"], None, "s") == BandChoice(None, "position")
    assert select_bands(record, ["band1", "band2", "band3"], ["Blue", "Green", "Red"], "s").read == [
        "band3",
        "band2",
        "band1",
    ]
    with pytest.raises(BandCountError, match="2 band names given for 3 bands"):
        select_bands(record, ["band1", "band2", "band3"], ["red", "green"], "s")


def test_select_bands_refuses_without_a_hint_that_fails_again():
    with pytest.raises(
        BandCountError,
        match=r"the scene has band1, band2, none of which carries those names or their "
        r"wavelengths \(if they are in fact red, green, blue, say so with --bands\)",
    ):
        select_bands(_record(), ["band1", "band2"], None, "s")


def test_sentinel2_bands_by_wavelength_become_8bit_true_colour():
    s2 = list(SENSORS["sentinel-2"].bands)
    choice = select_bands(_record(), s2, None, "s", "uint16", "sentinel-2")
    assert choice == BandChoice(["B04", "B03", "B02"], "wavelength", to_8bit=True)
    assert "trained on 8-bit RGB" in choice.describe(_record())
    landsat = list(SENSORS["landsat-8-9"].bands)  # B1 (443 nm, coastal) is not blue; B2 (482 nm) is
    assert select_bands(_record(), landsat, None, "s").read == ["B4", "B3", "B2"]
    with pytest.raises(NormalisationError, match=r"uint16 pixels, but t takes 8-bit values .* gdal_translate -ot Byte"):
        select_bands(_record(), landsat, None, "s", "uint16", "landsat-8-9")
    # 8-bit and float scenes, and models of reflectance, pass unchanged
    assert not select_bands(_record(), ["red", "green", "blue"], None, "s", "uint8").to_8bit
    assert not select_bands(_record(), ["red", "green", "blue"], None, "s", "float32").to_8bit
    unnamed = [Band("x", 560.0), Band("y", 665.0), Band("z", 490.0)]
    assert select_bands(_record(), unnamed, None, "s").read == ["y", "x", "z"]


def test_reflectance_to_8bit_rule():
    from rsvision.core.sensors import reflectance_to_8bit

    dn = np.array([0, 272, 1000, 4000, 28000], dtype=np.uint16)
    assert reflectance_to_8bit(dn).tolist() == [0, 17, 64, 255, 255]  # min(255, round(DN / 10000 x 2.5 x 255))
