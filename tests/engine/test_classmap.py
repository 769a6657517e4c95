"""Class maps from tile records, written during the run: nearest tile centre (checked by brute force), strips written
as tile rows end, nodata for skipped tiles, colours and tags, resume after an interruption."""

import json

import numpy as np
import pytest
import rasterio
from affine import Affine

from rsvision.engine import ClassMap, run
from rsvision.engine.classmap import ClassMapSink, cell_edges
from rsvision.engine.reader import Tile
from rsvision.errors import PredictorError
from rsvision.io import Grid
from rsvision.io.tiles import TilePlan, spread_starts
from rsvision.tasks import TilePredictor


def _owner(starts, tile, n):
    """Brute force: the tile whose centre is nearest to each pixel centre along one axis (ties to the later)."""
    centres = np.asarray(starts) + tile / 2
    d = np.abs((np.arange(n) + 0.5)[:, None] - centres[None])
    return np.array([np.flatnonzero(row == row.min())[-1] for row in d])


def _nearest_tile_map(plan, ids, keep, nodata=255):
    oy, ox = _owner(plan.row_starts, plan.tile_h, plan.height), _owner(plan.col_starts, plan.tile_w, plan.width)
    return np.where(keep[oy][:, ox], ids[oy][:, ox], nodata)


@pytest.mark.parametrize(
    ("length", "tile", "overlap"), [(100, 100, 0), (101, 32, 0), (1000, 96, 0), (517, 64, 20), (300, 7, 3)]
)
def test_cell_edges_give_each_pixel_its_nearest_tile(length, tile, overlap):
    starts = spread_starts(length, tile, overlap)
    edges = cell_edges(starts, min(tile, length), length)
    owner = np.searchsorted(edges, np.arange(length), side="right") - 1
    assert np.array_equal(owner, _owner(starts, min(tile, length), length))
    for i, s in enumerate(starts):  # every tile owns only pixels it covers: its strip is final when its row is
        assert s <= edges[i] and edges[i + 1] <= s + tile


def test_sink_writes_each_strip_as_its_tile_row_ends(tmp_path):
    plan = TilePlan.for_shape(70, 130, 32, 0)
    ids = np.arange(len(plan)).reshape(plan.n_rows, plan.n_cols) % 5
    keep = np.ones_like(ids, bool)
    keep[1, 2] = False  # a skipped (nodata) tile
    grid = Grid(rasterio.crs.CRS.from_epsg(32633), Affine(2, 0, 1000, 0, -2, 5000), 130, 70)
    classes = [f"c{i}" for i in range(5)]
    colours = {i: (10 * i, 20, 30, 255) for i in range(5)}
    out = tmp_path / "m.tif"
    sink = ClassMapSink(ClassMap(out, classes, colours), grid, plan, max_rows=7)
    assert sink.open(resume=False)
    written, write = [], sink.writer.write
    sink.writer.write = lambda array, window: written.append((window.row_off, window.height)) or write(array, window)
    edges = cell_edges(plan.row_starts, plan.tile_h, plan.height)
    for r in range(plan.n_rows):
        sink.begin_row(r)
        for c in range(plan.n_cols):
            record = {"class_id": np.int32(ids[r, c]), "score": 0.5} if keep[r, c] else None
            sink.add(Tile(r, c, plan.window(r, c), np.zeros((32, 32), bool)), record)
        written.clear()
        sink.end_row(r)  # the strip of the row's cells, written now, in pieces of at most 7 rows
        assert written[0][0] == edges[r] and sum(h for _, h in written) == edges[r + 1] - edges[r]
        assert max(h for _, h in written) <= 7
    assert sink.finish() == out
    with rasterio.open(out) as ds:
        assert np.array_equal(ds.read(1), _nearest_tile_map(plan, ids, keep))
        assert ds.transform == grid.transform and ds.crs == grid.crs and ds.nodata == 255
        assert json.loads(ds.tags()["classes"]) == classes and ds.descriptions == ("class",)
        assert ds.colormap(1)[3] == (30, 20, 30, 255) and ds.colormap(1)[255][3] == 0


def test_sink_refuses_records_without_a_valid_class_id(tmp_path):
    plan = TilePlan.for_shape(40, 40, 20, 0)
    grid = Grid(None, Affine.identity(), 40, 40)
    sink = ClassMapSink(ClassMap(tmp_path / "m.tif", ["a", "b"]), grid, plan)
    tile = Tile(0, 0, plan.window(0, 0), np.zeros((20, 20), bool))
    with pytest.raises(PredictorError, match="needs a 'class_id' column in the tile records; they have score"):
        sink.add(tile, {"score": 0.3})
    with pytest.raises(PredictorError, match=r"one class id in \[0, 2\) per tile, got 2"):
        sink.add(tile, {"class_id": 2})
    with pytest.raises(PredictorError, match="one class id"):
        sink.add(tile, {"class_id": 0.5})


class Quadrant(TilePredictor):
    """Class from where the tile lies (0-3 by quadrant of its centre); optionally stops at a chosen call."""

    def __init__(self, height, width, stop_at=None):
        self.height, self.width, self.stop_at, self.calls = height, width, stop_at, 0

    def predict(self, batch):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        ids = [
            2 * (w.row_off + w.height / 2 > self.height / 2) + (w.col_off + w.width / 2 > self.width / 2)
            for w in batch.windows
        ]
        return {"class_id": np.asarray(ids, np.int32), "score": np.full(len(ids), 0.9)}

    def fingerprint(self):
        return "quadrant"


@pytest.fixture
def scene(make_raster):
    data = np.random.default_rng(0).integers(1, 255, (3, 230, 310)).astype("uint8")
    data[:, :60, :90] = 0  # a nodata corner: its tiles are skipped and come out as nodata
    return make_raster("scene.tif", data, nodata=0)


def _expected(plan, predictor, records):
    ids = np.zeros((plan.n_rows, plan.n_cols), np.int64)
    keep = np.zeros_like(ids, bool)
    for r, c, k in zip(records["row_off"], records["col_off"], records["class_id"]):
        i, j = plan.row_starts.index(r), plan.col_starts.index(c)
        ids[i, j], keep[i, j] = k, True
    return _nearest_tile_map(plan, ids, keep)


def test_run_writes_the_class_map_and_the_tiles_in_one_pass(scene, tmp_path):
    predictor = Quadrant(230, 310)
    destinations = [ClassMap(tmp_path / "classes.tif", ["nw", "ne", "sw", "se"]), tmp_path / "tiles.gpkg"]
    result = run(scene, predictor, destinations, tile=48, overlap=8, batch=4, quiet=True)
    plan = TilePlan.for_shape(230, 310, 48, 8)
    assert result.outputs == [tmp_path / "classes.tif", tmp_path / "tiles.gpkg"] and result.output == result.outputs[0]
    assert (tmp_path / "tiles.gpkg").exists() and result.skipped > 0
    _, records = result.features  # the records come back too
    assert len(records["class_id"]) == result.tiles - result.skipped
    with rasterio.open(tmp_path / "classes.tif") as ds:
        got = ds.read(1)
    assert np.array_equal(got, _expected(plan, predictor, records))
    assert (got[:20, :20] == 255).all() and set(np.unique(got)) == {0, 1, 2, 3, 255}


def test_class_map_alone_and_refused_destinations(scene, tmp_path):
    result = run(scene, Quadrant(230, 310), ClassMap(tmp_path / "c.tif", list("abcd")), tile=64, overlap=8, quiet=True)
    assert result.outputs == [tmp_path / "c.tif"] and result.features is not None
    from rsvision.errors import OutputError

    with pytest.raises(OutputError, match="one class map per run"):
        run(
            scene,
            Quadrant(230, 310),
            [ClassMap(tmp_path / "a.tif", "ab"), ClassMap(tmp_path / "b.tif", "ab")],
            quiet=True,
        )
    with pytest.raises(OutputError, match=r"unknown vector format '\.tif'"):
        run(scene, Quadrant(230, 310), tmp_path / "plain.tif", quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.tif", "scene.tif"]  # nothing else left behind


def test_interrupted_class_map_resumes_with_the_same_raster(scene, tmp_path):
    options = {"tile": 48, "overlap": 8, "batch": 2, "checkpoint_seconds": 0, "quiet": True}
    classes = ["nw", "ne", "sw", "se"]
    out, vec = tmp_path / "o.tif", tmp_path / "o.gpkg"
    with pytest.raises(KeyboardInterrupt):
        run(scene, Quadrant(230, 310, stop_at=9), [ClassMap(out, classes), vec], **options)
    assert not out.exists() and not vec.exists() and (tmp_path / ".o.tif.resume" / "state.json").exists()
    resumed = run(scene, Quadrant(230, 310), [ClassMap(out, classes), vec], **options)
    assert 0 < resumed.resumed_at < resumed.tiles
    fresh = run(scene, Quadrant(230, 310), [ClassMap(tmp_path / "f.tif", classes), tmp_path / "f.gpkg"], **options)
    with rasterio.open(out) as a, rasterio.open(fresh.output) as b:
        assert np.array_equal(a.read(), b.read())
    assert {k: list(v) for k, v in resumed.features[1].items()} == {k: list(v) for k, v in fresh.features[1].items()}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # sidecar and staging gone
