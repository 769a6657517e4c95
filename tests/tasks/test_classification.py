"""Scene classification task pieces: nearest-tile rasterisation (brute force), tile size from the record, band
selection by name, image folders."""

import json

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine

from rsvision.engine.plan import TilePlan, spread_starts
from rsvision.errors import BandCountError
from rsvision.io import Grid
from rsvision.models import Preprocessing, Weights
from rsvision.tasks.classification import (
    cell_edges,
    class_colours,
    is_image_folder,
    select_bands,
    tile_size_for,
    write_class_map,
)

torch.set_num_threads(1)


def _owner(starts, tile, n):
    centres = np.asarray(starts) + tile / 2
    d = np.abs((np.arange(n) + 0.5)[:, None] - centres[None])
    return np.array([np.flatnonzero(row == row.min())[-1] for row in d])  # ties to the later tile


@pytest.mark.parametrize(("length", "tile", "overlap"), [(100, 100, 0), (101, 32, 0), (1000, 96, 0), (517, 64, 20),
                                                          (300, 7, 3)])
def test_cell_edges_give_each_pixel_its_nearest_tile(length, tile, overlap):
    starts = spread_starts(length, tile, overlap)
    edges = cell_edges(starts, min(tile, length), length)
    owner = np.searchsorted(edges, np.arange(length), side="right") - 1
    assert np.array_equal(owner, _owner(starts, min(tile, length), length))
    for i, s in enumerate(starts):  # every tile owns only pixels it covers
        assert s <= edges[i] and edges[i + 1] <= s + tile


def test_write_class_map(tmp_path):
    plan = TilePlan.for_shape(70, 130, 32, 0)
    ids = np.arange(plan.n_rows * plan.n_cols).reshape(plan.n_rows, plan.n_cols) % 5
    rows, cols = np.meshgrid(np.arange(plan.n_rows), np.arange(plan.n_cols), indexing="ij")
    keep = np.ones_like(ids, bool)
    keep[1, 2] = False  # a skipped (nodata) tile
    grid = Grid(rasterio.crs.CRS.from_epsg(32633), Affine(2, 0, 1000, 0, -2, 5000), 130, 70)
    classes = [f"c{i}" for i in range(5)]
    out = write_class_map(tmp_path / "m.tif", grid, plan, np.asarray(plan.row_starts)[rows[keep]],
                          np.asarray(plan.col_starts)[cols[keep]], ids[keep], classes, max_rows=7)
    oy, ox = _owner(plan.row_starts, 32, 70), _owner(plan.col_starts, 32, 130)
    expected = np.where(keep[oy][:, ox], ids[oy][:, ox], 255)
    with rasterio.open(out) as ds:
        assert np.array_equal(ds.read(1), expected)
        assert ds.transform == grid.transform and ds.crs == grid.crs and ds.nodata == 255
        assert json.loads(ds.tags()["classes"]) == classes and ds.descriptions == ("class",)


def test_class_colours_are_distinct():
    colours = class_colours(60)
    assert len(set(colours.values())) == 60 and all(c[3] == 255 for c in colours.values())


def _record(**kw):
    prep = Preprocessing(bands=["red", "green", "blue"], scale=255, value_range=(0, 255), mean=[0.5] * 3,
                         std=[0.2] * 3, input_size=kw.pop("input_size", 64))
    return Weights(name="t", file="t.safetensors", sha256="0" * 64, architecture="resnet18", preprocessing=prep,
                   classes=["a", "b"], licence="-", command="-", **kw)


def test_tile_size_follows_the_record():
    assert tile_size_for(_record(), 0.5) == 64  # the record has no GSD
    assert tile_size_for(_record(gsd_m=2.0), None) == 64  # the scene has none
    assert tile_size_for(_record(gsd_m=2.0), 0.5) == 256
    assert tile_size_for(_record(gsd_m=1.0, input_size=100), 3.0) == 33


def test_select_bands():
    record = _record()
    assert select_bands(record, ["blue", "nir", "red", "green"], None, "s") == (["red", "green", "blue"],) * 2
    assert select_bands(record, ["band1", "band2", "band3"], None, "s") == (None, None)
    assert select_bands(record, ["band1", "band2", "band3"], ["Blue", "Green", "Red"], "s") == (
        ["band3", "band2", "band1"], ["red", "green", "blue"])
    message = r"takes bands red, green, blue; the scene has band1, band2 \(name its bands with --bands\)"
    with pytest.raises(BandCountError, match=message):
        select_bands(record, ["band1", "band2"], None, "s")
    with pytest.raises(BandCountError, match="2 band names given for 3 bands"):
        select_bands(record, ["band1", "band2", "band3"], ["red", "green"], "s")


def test_image_folder_or_band_folder(tmp_path):
    bands = tmp_path / "bands"
    bands.mkdir()
    for b in ("B02", "B03"):
        (bands / f"T31_{b}.tif").write_bytes(b"")
    images = tmp_path / "images"
    (images / "cls").mkdir(parents=True)
    (images / "cls" / "x.png").write_bytes(b"")
    assert not is_image_folder(bands) and is_image_folder(images)
    (images / "a_B02.tif").write_bytes(b"")  # a band-like name does not make a folder of classes a scene
    assert is_image_folder(images)
