"""Dense outputs: tiled equals untiled (no seams), nodata tiles skipped, classes and scores written as a COG."""

import numpy as np
import pytest
import rasterio
import torch

from rsvision.engine import run
from rsvision.engine.dense import StripMerger
from rsvision.errors import PredictorError
from rsvision.io.tiles import TilePlan
from rsvision.tasks import DensePredictor


def field(x, y):
    """Three smooth functions of absolute pixel position (pixel centres)."""
    return np.stack([np.sin(x / 37.0), np.cos(y / 53.0) * np.sin(x / 91.0), np.sin((x + 2 * y) / 71.0)])


class PositionPredictor(DensePredictor):
    """Scores that depend only on where each pixel lies in the scene, found from the tile windows."""

    num_outputs = 3

    def __init__(self, output="scores"):
        self.output = output
        self.seen = []

    def predict(self, batch):
        out = []
        for w, m in zip(batch.windows, batch.masks):
            assert not m.all(), "an all-nodata tile reached the predictor"
            self.seen.append((w.row_off, w.col_off))
            y, x = np.mgrid[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] + 0.5
            out.append(field(x, y))
        return np.stack(out).astype(np.float32)


def untiled(height, width):
    y, x = np.mgrid[0:height, 0:width] + 0.5
    return field(x, y).astype(np.float32)


@pytest.fixture
def scene_of(make_raster):
    def make(height, width, nodata=None, data=None):
        rng = np.random.default_rng(height * 7 + width)
        array = data if data is not None else rng.integers(1, 255, (2, height, width)).astype("uint8")
        return make_raster(f"scene_{height}x{width}.tif", array, nodata=nodata)

    return make


@pytest.mark.parametrize("shape", [(700, 900), (333, 1000), (513, 257), (100, 90)])
@pytest.mark.parametrize("tile,overlap", [(256, 48), (128, 100), (200, 0), (512, 64)])
def test_tiled_equals_untiled(scene_of, tmp_path, shape, tile, overlap):
    out = tmp_path / "scores.tif"
    result = run(scene_of(*shape), PositionPredictor(), out, tile=tile, overlap=overlap, batch=3, quiet=True)
    with rasterio.open(out) as ds:
        got = ds.read()
        assert ds.count == 3 and ds.dtypes[0] == "float32"
    np.testing.assert_allclose(got, untiled(*shape), atol=2e-6, rtol=0)
    assert result.tiles == TilePlan.for_shape(*shape, tile, overlap).__len__() and result.skipped == 0


def test_class_map_is_argmax_of_blend(scene_of, tmp_path):
    shape = (600, 650)
    out = tmp_path / "classes.tif"
    run(scene_of(*shape), PositionPredictor("classes"), out, tile=160, overlap=40, batch=4, quiet=True)
    ref = untiled(*shape)
    with rasterio.open(out) as ds:
        got = ds.read(1)
        assert ds.dtypes[0] == "uint8" and ds.nodata == 255
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    top2 = np.sort(ref, axis=0)
    clear = top2[-1] - top2[-2] > 1e-4  # away from ties the blended argmax is the true one
    assert np.array_equal(got[clear], ref.argmax(0)[clear])


def test_nodata_tiles_skipped_and_pixels_masked(scene_of, tmp_path):
    h, w = 520, 600
    data = np.full((2, h, w), 9, np.uint8)
    data[:, :300, :260] = 0  # holds whole tiles of 128 at stride 96: (0,0), (0,96), (96,0), ...
    data[:, 400:410, 500:503] = 0  # a few nodata pixels inside valid tiles
    data[0, 450, 450] = 0  # one band only: still a valid pixel
    predictor = PositionPredictor()
    out = tmp_path / "nodata.tif"
    result = run(scene_of(h, w, nodata=0, data=data), predictor, out, tile=128, overlap=32, batch=5, quiet=True)
    plan = TilePlan.for_shape(h, w, 128, 32)
    empty = [(r, c) for r in plan.row_starts for c in plan.col_starts if r + 128 <= 300 and c + 128 <= 260]
    assert result.skipped == len(empty) > 0
    assert len(predictor.seen) == len(plan) - len(empty) and not set(empty) & set(predictor.seen)
    with rasterio.open(out) as ds:
        got = ds.read(masked=True)
    masked = (data == 0).all(axis=0)
    assert np.array_equal(got.mask[0], masked)
    np.testing.assert_allclose(got.data[:, ~masked], untiled(h, w)[:, ~masked], atol=2e-6)


def test_georeference_and_descriptions(scene_of, tmp_path):
    path = scene_of(200, 300)
    predictor = PositionPredictor("classes")
    predictor.class_names = ["water", "field", "town"]
    out = run(path, predictor, tmp_path / "c.tif", tile=128, overlap=16, quiet=True).output
    with rasterio.open(path) as src, rasterio.open(out) as ds:
        assert ds.crs == src.crs and ds.transform == src.transform and ds.shape == src.shape
        assert ds.tags()["classes"] == '["water", "field", "town"]'


def test_wrong_output_shape_is_a_clear_error(scene_of, tmp_path):
    class Wrong(PositionPredictor):
        def predict(self, batch):
            return super().predict(batch)[:, :2]

    with pytest.raises(PredictorError, match=r"returned shape \(\d+, 2, 64, 64\); expected"):
        run(scene_of(100, 100), Wrong(), tmp_path / "x.tif", tile=64, overlap=8, quiet=True)
    assert not (tmp_path / "x.tif").exists()


def test_merger_memory_is_the_carry_only():
    plan = TilePlan.for_shape(1000, 3000, 256, 64)
    merger = StripMerger(plan, 4, "classes", "uint8", 255)
    scores = np.ones((4, 256, 256), np.float32)
    zone = merger._zone
    assert zone.shape == (4, 256, 256)  # the zone window is one tile, allocated once
    for row in range(plan.n_rows):
        merger.begin_row(row)
        for col in range(plan.n_cols):
            merger.add(col, scores.copy(), np.zeros((256, 256), bool))
            assert merger._zone is zone
            held = sum(b.shape[2] for b in merger.carry.values()) + sum(b.shape[2] for b in merger._new.values())
            assert held <= 3000 + 2 * 256  # incoming and outgoing carry blocks: about one width in all
        r, strip = merger.end_row()
        assert r == plan.row_starts[row] and strip.shape == (1, plan.row_end(row) - r, 3000)
        expected_carry = 0 if row + 1 == plan.n_rows else plan.row_starts[row] + 256 - plan.row_end(row)
        state = merger.state()
        assert int(state["carry_rows"]) == expected_carry
        if expected_carry:
            assert sum(state[f"carry_{j}"].shape[2] for j in range(plan.n_cols)) == 3000


@pytest.mark.parametrize("k", [1, 2, 6, 8, 9, 12])
@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_argmax_first_maximum_on_ties(k, dtype):
    from rsvision.engine.dense import _argmax_into, _ArgmaxScratch

    rng = np.random.default_rng(k)
    scratch = _ArgmaxScratch(k, 64, 80)
    for h, w in [(50, 70), (3, 5), (64, 80)]:
        scores = rng.integers(0, 3, (k, h, w)).astype(np.float32)  # many ties
        strip = np.zeros((70, 100), dtype)
        out = strip[5 : 5 + h, 10 : 10 + w]  # a strided view, as in a strip
        _argmax_into(torch.from_numpy(scores), out, scratch)
        assert np.array_equal(out, scores.argmax(axis=0))
        assert not strip[:5].any() and not strip[:, :10].any()  # nothing written outside the view


def test_outputs_that_are_views_of_the_reused_read_buffers(scene_of, tmp_path):
    class Identity(DensePredictor):
        """Returns its input batch itself: the engine reads the next tiles into the same buffers, so it must copy."""

        num_outputs, output = 2, "scores"

        def predict(self, batch):
            return batch.images

    data = np.random.default_rng(3).integers(1, 255, (2, 300, 410)).astype("uint8")
    out = tmp_path / "same.tif"
    run(scene_of(300, 410, data=data), Identity(), out, tile=128, overlap=32, batch=3, quiet=True)
    with rasterio.open(out) as ds:
        np.testing.assert_allclose(ds.read(), data.astype(np.float32), rtol=1e-6)


class Softmax(PositionPredictor):
    """The position field as probabilities (softmax over the three outputs)."""

    def predict(self, batch):
        scores = super().predict(batch) * 4
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def test_probabilities_in_percent_beside_the_class_map(scene_of, tmp_path):
    from rsvision.engine import Probabilities

    data = np.random.default_rng(3).integers(1, 255, (2, 420, 500)).astype("uint8")
    data[:, :100, :120] = 0  # nodata
    scene = scene_of(420, 500, nodata=0, data=data)
    options = {"tile": 128, "overlap": 32, "batch": 3, "quiet": True}
    run(scene, Softmax("scores"), tmp_path / "scores.tif", **options)
    run(scene, Softmax("classes"), tmp_path / "alone.tif", **options)
    result = run(scene, Softmax("classes"), [tmp_path / "c.tif", Probabilities(tmp_path / "p.tif")], **options)
    assert result.outputs == [tmp_path / "c.tif", tmp_path / "p.tif"]
    with rasterio.open(tmp_path / "scores.tif") as s, rasterio.open(tmp_path / "p.tif") as p:
        scores, percent = s.read(), p.read()
        assert p.dtypes[0] == "uint8" and p.nodata == 255 and p.count == 3 and p.tags()["units"] == "percent"
    missing = np.isnan(scores[0])
    assert missing[:100, :120].all() and (percent[:, missing] == 255).all()
    np.testing.assert_array_equal(percent[:, ~missing], np.rint(scores[:, ~missing] * 100).astype(np.uint8))
    with rasterio.open(tmp_path / "c.tif") as c, rasterio.open(tmp_path / "alone.tif") as a:
        classes, alone = c.read(1), a.read(1)
    assert (classes[missing] == 255).all()
    assert np.array_equal(classes, alone)  # the same map as a run writing the class map alone
    only = run(scene, Softmax("classes"), [Probabilities(tmp_path / "only.tif")], **options)
    assert only.outputs == [tmp_path / "only.tif"] and not (tmp_path / "c2.tif").exists()
