"""Output kinds: chosen from the predictor's kind, a new one plugged in without touching `run`, checks of outputs and
destinations before any tile is read."""

import numpy as np
import pytest

from rsvision.engine import OutputKind, run
from rsvision.engine.outputs import OUTPUT_KINDS, BoxOutput, DenseOutput, TileRecordOutput, output_kind_for
from rsvision.errors import OutputError, PredictorError
from rsvision.tasks import BoxPredictor, DensePredictor, Predictor, TileBatch, TilePredictor


class Embedder(Predictor):
    """A predictor of a kind the engine does not ship: one vector per tile, to be pooled over the scene."""

    kind = "pooled"

    def predict(self, batch):
        return batch.images.mean(axis=(2, 3))  # (B, C)


class Pooled(OutputKind):
    """The toy kind: the mean of the tile vectors over the scene, kept in memory."""

    kind = "pooled"

    def split(self, outputs, batch, plan):
        return list(np.asarray(outputs).copy())

    def sinks(self, destinations, scene, plan, checkpoint):
        if destinations:
            raise OutputError("pooled vectors stay in memory")
        return [MeanSink()]


class MeanSink:
    result = None

    def __init__(self):
        self.vectors = []

    def open(self, resume):
        return True

    def begin_row(self, row):
        pass

    def add(self, tile, output):
        if output is not None:
            self.vectors.append(output)

    def end_row(self, row):
        pass

    def checkpoint(self):
        return {}

    def restore(self, arrays):
        pass

    def finish(self):
        self.result = ([], {"mean": np.mean(self.vectors, axis=0)})

    def abort(self):
        pass

    def suspend(self):
        pass


def test_a_new_output_kind_plugs_in_without_editing_run(make_raster, monkeypatch, tmp_path):
    monkeypatch.setitem(OUTPUT_KINDS, "pooled", Pooled)
    data = np.stack([np.full((90, 120), v, np.uint8) for v in (10, 20, 30)])
    result = run(make_raster("s.tif", data), Embedder(), tile=32, overlap=0, quiet=True)
    assert result.kind == "pooled" and result.output is None
    np.testing.assert_allclose(result.features[1]["mean"], [10, 20, 30])
    with pytest.raises(OutputError, match="stay in memory"):
        run(make_raster("s.tif", data), Embedder(), tmp_path / "out.gpkg", quiet=True)
    assert not (tmp_path / "out.gpkg").exists() and not (tmp_path / ".out.gpkg.resume").exists()


def test_kinds_are_chosen_from_the_predictor():
    class Dense(DensePredictor):
        num_outputs = 2

        def predict(self, batch): ...

    class Boxes(BoxPredictor):
        def predict(self, batch): ...

    class Records(TilePredictor):
        def predict(self, batch): ...

    assert isinstance(output_kind_for(Dense()), DenseOutput)
    assert isinstance(output_kind_for(Boxes()), BoxOutput)
    assert isinstance(output_kind_for(Records()), TileRecordOutput)
    with pytest.raises(PredictorError, match=r"Embedder.kind is 'pooled'; the engine knows boxes, dense, tiles"):
        output_kind_for(Embedder())


def _batch(n, size=8):
    return TileBatch(np.zeros((n, 3, size, size), np.float32), np.zeros((n, size, size), bool), [])


def test_split_checks_what_each_kind_promises():
    from rsvision.io.tiles import TilePlan

    plan = TilePlan.for_shape(8, 16, 8, 0)

    class Dense(DensePredictor):
        num_outputs = 2

        def predict(self, batch): ...

    dense = output_kind_for(Dense())
    assert len(dense.split(np.zeros((2, 2, 8, 8), np.float32), _batch(2), plan)) == 2
    with pytest.raises(PredictorError, match=r"returned shape \(2, 3, 8, 8\); expected \(2, 2, 8, 8\)"):
        dense.split(np.zeros((2, 3, 8, 8), np.float32), _batch(2), plan)
    records = TileRecordOutput(Embedder())
    batch = _batch(2)
    split = records.split({"v": batch.images[:, 0, 0], "tag": np.array(["a", "b"])}, batch, plan)
    assert [r["tag"] for r in split] == ["a", "b"]
    assert not np.shares_memory(split[0]["v"], batch.images)  # kept to the end: not a view of reused buffers
    with pytest.raises(PredictorError, match=r"a dict of columns with one entry per tile \(2\)"):
        records.split({"v": np.zeros(3)}, batch, plan)
    with pytest.raises(PredictorError, match=r"one Detections per tile \(2\), got 1 items"):
        BoxOutput(Embedder()).split([None], batch, plan)
