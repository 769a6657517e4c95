"""`run_on_blocks`: a scene split into blocks of tile rows over Dask workers gives the single run's outputs, bit for
bit (dense scores, class maps, probabilities), and the same boxes and tile records; a job killed part-way redoes
only the blocks not done."""

import numpy as np
import pytest
import rasterio
from affine import Affine
from dask.distributed import Client, LocalCluster

from rsvision.engine import ClassMap, Probabilities, run
from rsvision.engine.blocks import run_on_blocks, split_rows, warm_up_row
from rsvision.geometry import Detections
from rsvision.io import open_scene
from rsvision.io.tiles import TilePlan
from rsvision.tasks import BoxPredictor, ChangePredictor, DensePredictor, TilePredictor


class Smooth(DensePredictor):
    """Scores that differ from tile to tile over the same pixel, so the blend of overlapping tiles shows."""

    num_outputs = 3

    def __init__(self, output="scores"):
        self.output = output

    def predict(self, batch):
        images = batch.images.astype(np.float32)
        offsets = np.array([w.col_off * 0.37 + w.row_off * 0.11 for w in batch.windows], np.float32)
        scores = [images[:, i % images.shape[1]] / 255 + (i + 1) * np.sin(offsets)[:, None, None] for i in range(3)]
        return np.stack(scores, axis=1)


class Bright(BoxPredictor):
    """A box around each tile's brightest 12 x 12 square: tiles sharing it find it twice, cut or whole."""

    class_names = ("bright", "dark")

    def predict(self, batch):
        out = []
        for image in batch.images.astype(np.float32).mean(axis=1):
            sums = np.lib.stride_tricks.sliding_window_view(image, (12, 12)).sum(axis=(2, 3))
            y, x = np.unravel_index(np.argmax(sums), sums.shape)
            boxes = np.array([[x, y, x + 12, y + 12], [x + 3, y + 2, x + 17, y + 15]], np.float64)
            out.append(Detections(labels=np.array([0, 1]), scores=np.array([0.9, 0.5]), boxes=boxes))
        return out


class Mean(TilePredictor):
    def predict(self, batch):
        mean = batch.images.mean(axis=(1, 2, 3))
        return {"class_id": (mean > 127).astype(np.int64), "mean": mean.astype(np.float32)}


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cluster, Client(cluster) as c:
        yield c


@pytest.fixture
def scene(make_raster):
    rng = np.random.default_rng(3)
    return make_raster("scene.tif", rng.integers(0, 255, (3, 347, 290)).astype("uint8"))


def _pixels(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.profile, ds.tags(), ds.overviews(1)


@pytest.mark.parametrize(("output", "overlap", "blocks"), [("scores", 24, 3), ("classes", 40, 7), ("scores", 0, 2)])
def test_dense_blocks_equal_the_single_run(scene, tmp_path, client, output, overlap, blocks):
    single = run(scene, Smooth(output), tmp_path / "single.tif", tile=64, overlap=overlap, quiet=True)
    result = run_on_blocks(
        scene, Smooth(output), tmp_path / "blocks.tif", client=client, blocks=blocks, tile=64, overlap=overlap
    )
    a, b = _pixels(single.output), _pixels(result.output)
    assert np.array_equal(a[0], b[0], equal_nan=True)
    assert str(a[1]) == str(b[1]) and a[2] == b[2] and a[3] == b[3]  # str: a NaN nodata is not equal to itself
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocks.tif", "scene.tif", "single.tif"]  # nothing left


def test_probabilities_beside_the_class_map_equal_the_single_run(scene, tmp_path, client):
    outs = {k: [tmp_path / f"{k}.tif", Probabilities(tmp_path / f"{k}_p.tif")] for k in ("single", "blocks")}
    run(scene, Smooth("classes"), outs["single"], tile=64, overlap=24, quiet=True)
    run_on_blocks(scene, Smooth("classes"), outs["blocks"], client=client, blocks=4, tile=64, overlap=24)
    for name in ("", "_p"):
        assert np.array_equal(_pixels(tmp_path / f"single{name}.tif")[0], _pixels(tmp_path / f"blocks{name}.tif")[0])


def test_boxes_from_blocks_are_the_single_runs(scene, tmp_path, client):
    single = run(scene, Bright(), None, tile=64, overlap=20, quiet=True)
    blocks = run_on_blocks(scene, Bright(), None, client=client, blocks=5, tile=64, overlap=20)
    (g1, c1), (g2, c2) = single.features, blocks.features
    assert len(g1) == len(g2) > 0
    assert [g.wkt for g in g1] == [g.wkt for g in g2]
    assert all(np.array_equal(c1[k], c2[k]) for k in c1)


def test_tile_records_and_class_map_from_blocks(scene, tmp_path, client):
    def outputs(name):
        return [ClassMap(tmp_path / f"{name}.tif", ["dark", "bright"]), tmp_path / f"{name}.gpkg"]

    single = run(scene, Mean(), outputs("single"), tile=50, overlap=0, quiet=True)
    blocks = run_on_blocks(scene, Mean(), outputs("blocks"), client=client, blocks=3, tile=50, overlap=0)
    assert np.array_equal(_pixels(single.outputs[0])[0], _pixels(blocks.outputs[0])[0])
    assert np.array_equal(single.features[1]["mean"], blocks.features[1]["mean"])
    assert (tmp_path / "blocks.gpkg").is_file()


FAIL_AT_ROW = []  # the scene row whose tiles fail; a global, so the predictor's fingerprint stays the same


class FailsOnRow(Smooth):
    def predict(self, batch):
        if any(w.row_off in FAIL_AT_ROW for w in batch.windows):
            raise RuntimeError("worker lost")
        return super().predict(batch)


def test_a_failed_job_run_again_redoes_only_the_missing_blocks(scene, tmp_path, client):
    plan = TilePlan.for_shape(347, 290, 64, 24)
    assert plan.n_rows == 9  # blocks of tile rows 0-1, 2-3, 4-6, 7-8; the last warms up on row 6
    bad_row = plan.row_starts[5]
    out = tmp_path / "out.tif"
    FAIL_AT_ROW.append(bad_row)
    with pytest.raises(RuntimeError, match="worker lost"):
        run_on_blocks(scene, FailsOnRow(), out, client=client, blocks=4, tile=64, overlap=24, retries=0)
    FAIL_AT_ROW.clear()
    assert not out.exists()
    folder = tmp_path / ".out.tif.blocks"
    assert len(list(folder.glob("done-*.pkl"))) == 3  # the block holding row 5 failed; the other three are kept
    assert not list(folder.glob("block-*"))  # the failed attempt's open parts closed and removed, not left to GC
    result = run_on_blocks(scene, FailsOnRow(), out, client=client, blocks=4, tile=64, overlap=24)
    assert result.resumed_at == len(plan) - 3 * plan.n_cols  # tile rows 4-6 (the third block) run again
    assert "3 done before" in result.summary
    single = run(scene, Smooth("scores"), tmp_path / "single.tif", tile=64, overlap=24, quiet=True)
    assert np.array_equal(_pixels(out)[0], _pixels(single.output)[0], equal_nan=True)
    assert not folder.exists()


def test_another_job_in_the_folder_is_cleared(scene, tmp_path, client):
    out = tmp_path / "out.tif"
    folder = tmp_path / ".out.tif.blocks"
    folder.mkdir()
    (folder / "fingerprint.txt").write_text("another job")
    (folder / "done-000000.pkl").write_bytes(b"stale")
    result = run_on_blocks(scene, Smooth(), out, client=client, blocks=2, tile=64, overlap=24)
    assert result.resumed_at == 0 and out.is_file()


def test_split_rows_and_warm_up():
    assert split_rows(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert split_rows(2, 8) == [(0, 1), (1, 2)]
    plan = TilePlan.for_shape(1000, 100, 100, 60)  # tiles 40 apart: three tile rows reach tile row 5's first rows
    assert warm_up_row(plan, 0) == 0
    assert warm_up_row(plan, 5) == 3


class Difference(ChangePredictor):
    """The two dates' first bands, differenced and smoothed by the blend: scores, not classes."""

    num_outputs = 1
    output = "scores"

    def predict(self, batch):
        return (batch.images[:, :1] - batch.images2[:, :1]).astype(np.float32)


def test_change_pairs_on_two_grids_from_blocks(make_raster, tmp_path, client):
    rng = np.random.default_rng(4)
    before = make_raster("before.tif", rng.integers(0, 255, (2, 300, 360)).astype("uint8"))
    after = make_raster(
        "after.tif",
        rng.integers(0, 255, (2, 120, 100)).astype("uint8"),
        transform=Affine(20, 0, 501005, 0, -20, 3999000),
        nodata=0,
    )
    second = open_scene(after, resampling="nearest")
    single = run(before, Difference(), tmp_path / "single.tif", scene2=second, tile=64, overlap=20, quiet=True)
    blocks = run_on_blocks(
        before, Difference(), tmp_path / "blocks.tif", scene2=second, client=client, blocks=3, tile=64, overlap=20
    )
    assert single.skipped == blocks.skipped > 0
    assert np.array_equal(_pixels(single.output)[0], _pixels(blocks.output)[0], equal_nan=True)
