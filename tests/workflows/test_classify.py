"""`classify_scene`: one engine pass writes the class map (strip by strip) and, on request, the tile vectors; the map
matches the records by nearest tile centre; a killed run resumes."""

import functools

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import torch

import rsvision.workflows.classify as classify_module
from rsvision.engine import run
from rsvision.io.tiles import spread_starts
from rsvision.models import Classifier, Weights
from rsvision.tasks.classification import TileClassifier
from rsvision.workflows.classify import classify_scene

torch.set_num_threads(1)


@pytest.fixture
def classifier(tiny_classifier, tmp_path):
    return Classifier(Weights.load(tiny_classifier(tmp_path)))


@pytest.fixture
def scene(make_raster):
    data = np.random.default_rng(7).integers(1, 255, (3, 100, 150)).astype("uint8")
    data[:, :40, :40] = 0  # nodata: the first tile is skipped
    return make_raster("scene.tif", data, nodata=0)


def _owner(starts, tile, n):
    centres = np.asarray(starts) + tile / 2
    d = np.abs((np.arange(n) + 0.5)[:, None] - centres[None])
    return np.array([np.flatnonzero(row == row.min())[-1] for row in d])  # ties to the later tile


def _class_map_from(cols, shape, tile):
    """Brute force: every pixel takes the class of the tile whose centre is nearest (255 where none was)."""
    starts_y, starts_x = spread_starts(shape[0], tile, 0), spread_starts(shape[1], tile, 0)
    ids = np.full((len(starts_y), len(starts_x)), 255)
    for r, c, k in zip(cols["row_off"], cols["col_off"], cols["class_id"]):
        ids[starts_y.index(r), starts_x.index(c)] = k
    oy, ox = _owner(starts_y, tile, shape[0]), _owner(starts_x, tile, shape[1])
    return ids[oy][:, ox]


def test_one_pass_writes_the_class_map_and_the_tiles(classifier, scene, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(classify_module, "run", lambda *a, **k: calls.append(a[2]) or run(*a, **k))
    out, vec = tmp_path / "classes.tif", tmp_path / "tiles.gpkg"
    result = classify_scene(scene, classifier, out, vector=vec, tile=32, threads=1, quiet=True)
    assert len(calls) == 1 and (result.class_map, result.vector) == (out, vec)
    meta, _, _, fields = pyogrio.raw.read(vec)
    cols = dict(zip(meta["fields"], fields))
    assert len(cols["class_id"]) == result.tiles - result.skipped and result.skipped == 1
    assert sum(result.counts.values()) == result.tiles - result.skipped
    with rasterio.open(out) as ds:
        got = ds.read(1)
        assert ds.nodata == 255 and ds.descriptions == ("class",) and ds.colormap(1)[255][3] == 0
    expected = _class_map_from(cols, (100, 150), 32)
    assert np.array_equal(got, expected)


def test_class_map_alone_still_counts_the_classes(classifier, scene, tmp_path):
    with_vector = classify_scene(
        scene, classifier, tmp_path / "a.tif", vector=tmp_path / "a.parquet", tile=32, threads=1, quiet=True
    )
    alone = classify_scene(scene, classifier, tmp_path / "b.tif", tile=32, threads=1, quiet=True)
    assert alone.vector is None and alone.counts == with_vector.counts
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        assert np.array_equal(a.read(), b.read())


def test_killed_class_map_resumes(classifier, scene, tmp_path, monkeypatch):
    monkeypatch.setattr(classify_module, "run", functools.partial(run, checkpoint_seconds=0))
    predict, calls = TileClassifier.predict, []

    def stop_in_the_second_tile_row(self, batch):  # batches of 2, 2 and 1 tiles per row of 5
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return predict(self, batch)

    out = tmp_path / "classes.tif"
    with monkeypatch.context() as patch:
        patch.setattr(TileClassifier, "predict", stop_in_the_second_tile_row)
        with pytest.raises(KeyboardInterrupt):
            classify_scene(scene, classifier, out, tile=32, batch=2, threads=1, quiet=True)
    assert not out.exists() and (tmp_path / ".classes.tif.resume" / "state.json").exists()
    resumed = classify_scene(scene, classifier, out, tile=32, batch=2, threads=1, quiet=True)
    assert "resumed at tile" in resumed.summary
    fresh = classify_scene(scene, classifier, tmp_path / "fresh.tif", tile=32, batch=2, threads=1, quiet=True)
    assert resumed.counts == fresh.counts
    with rasterio.open(out) as a, rasterio.open(fresh.class_map) as b:
        assert np.array_equal(a.read(), b.read())
