"""Sinks on their own: a dense sink writes strips and resumes from its staging file, a vector sink checks the first
record and keeps features in memory or writes them, a sink group feeds and checkpoints several sinks."""

import numpy as np
import pyogrio.raw
import pytest
import rasterio
from affine import Affine

from rsvision.engine.checkpoint import Checkpoint
from rsvision.engine.dense import StripMerger
from rsvision.engine.reader import Tile
from rsvision.engine.sinks import DenseSink, SinkGroup, VectorSink
from rsvision.engine.vectors import RecordCollector, check_record
from rsvision.errors import OutputError, PredictorError
from rsvision.io import Grid, RasterWriter
from rsvision.io.tiles import TilePlan

GRID = Grid(rasterio.crs.CRS.from_epsg(32633), Affine(10, 0, 500000, 0, -10, 4000000), 90, 70)
PLAN = TilePlan.for_shape(70, 90, 40, 10)


def _tile(row, col):
    return Tile(row, col, PLAN.window(row, col), np.zeros((PLAN.tile_h, PLAN.tile_w), bool))


def _scores(row, col):
    """Two classes: class 1 wherever the tile's column is odd, with full confidence."""
    s = np.zeros((2, PLAN.tile_h, PLAN.tile_w), np.float32)
    s[col % 2] = 1
    return s


def _dense_sink(path, staging=None):
    writer = RasterWriter(path, GRID, 1, "uint8", 255, staging=staging)
    return DenseSink(StripMerger(PLAN, 2, "classes", "uint8", 255), writer, staging)


def _feed(sink, rows):
    for r in rows:
        sink.begin_row(r)
        for c in range(PLAN.n_cols):
            sink.add(_tile(r, c), _scores(r, c))
        sink.end_row(r)


def test_dense_sink_resumes_from_its_staging_file(tmp_path):
    whole = _dense_sink(tmp_path / "whole.tif")
    assert whole.open(resume=False)
    _feed(whole, range(PLAN.n_rows))
    assert whole.finish() == tmp_path / "whole.tif"

    out = tmp_path / "o.tif"
    ckpt = Checkpoint(out, "f")
    ckpt.start()
    first = _dense_sink(out, ckpt.staging_for(out))
    first.open(resume=False)
    _feed(first, [0])
    arrays = first.checkpoint()  # flushed to the staging file, and the carried rows returned
    first.suspend()
    assert not out.exists() and ckpt.staging_for(out).exists()
    again = _dense_sink(out, ckpt.staging_for(out))
    assert again.open(resume=True)
    again.restore(arrays)
    _feed(again, range(1, PLAN.n_rows))
    again.finish()
    with rasterio.open(out) as a, rasterio.open(tmp_path / "whole.tif") as b:
        assert np.array_equal(a.read(), b.read())


def test_dense_sink_without_staging_cannot_resume(tmp_path):
    out = tmp_path / "o.tif"
    ckpt = Checkpoint(out, "f")
    assert not _dense_sink(out, ckpt.staging_for(out)).open(resume=True)  # nothing staged: start over
    assert not _dense_sink(out).open(resume=True)
    ckpt.start()
    ckpt.staging_for(out).write_bytes(b"not a tiff")  # what a kill might leave
    assert not _dense_sink(out, ckpt.staging_for(out)).open(resume=True)
    sink = _dense_sink(out, ckpt.staging_for(out))
    assert sink.open(resume=False)
    sink.abort()
    assert not out.exists()


def test_vector_sink_checks_the_first_record_and_writes_at_the_end(tmp_path):
    records = RecordCollector(PLAN)
    out = tmp_path / "t.geojson"
    sink = VectorSink(
        records,
        out,
        GRID.crs,
        lambda: records.features(GRID.transform),
        check=lambda record: check_record(record, "GeoJSON", out),
    )
    with pytest.raises(OutputError, match=r"column 'e' holds a vector per tile; write it to a \.parquet"):
        sink.add(_tile(0, 0), {"e": np.zeros(3)})
    sink.add(_tile(0, 0), {"tag": "a"})  # a record that passes: no more checks
    sink.add(_tile(0, 1), None)  # a skipped tile gives no record
    sink.end_row(0)
    assert sink.finish() == out and len(sink.result[0]) == 1
    meta, _, geoms, _ = pyogrio.raw.read(out)
    assert len(geoms) == 1 and list(meta["fields"]) == ["row_off", "col_off", "tag"]


def test_check_record():
    check_record({"score": np.float64(0.5), "e": np.zeros(4)}, "Parquet", "t.parquet")
    check_record({"e": np.zeros(4)}, None, None)  # in memory: anything of one value or one vector per tile
    with pytest.raises(PredictorError, match=r"column 'm' has shape \(2, 2\) per tile"):
        check_record({"m": np.zeros((2, 2))}, "Parquet", "t.parquet")


class Recorder:
    """A sink that logs every call; ``resumable`` says whether it can reopen."""

    result = None

    def __init__(self, name, log, resumable=True):
        self.name, self.log, self.resumable = name, log, resumable

    def open(self, resume):
        self.log.append((self.name, "open", resume))
        return self.resumable or not resume

    def begin_row(self, row):
        self.log.append((self.name, "begin", row))

    def add(self, tile, output):
        self.log.append((self.name, "add", output))

    def end_row(self, row):
        self.log.append((self.name, "end", row))

    def checkpoint(self):
        return {"x": np.array(self.name)}

    def restore(self, arrays):
        self.log.append((self.name, "restore", str(arrays["x"])))

    def finish(self):
        return None if self.name == "memory" else self.name

    def abort(self):
        self.log.append((self.name, "abort"))

    def suspend(self):
        self.log.append((self.name, "suspend"))


def test_sink_group_feeds_checkpoints_and_restores_each_sink():
    log = []
    group = SinkGroup([Recorder("a", log), Recorder("memory", log)])
    group.begin_row(0)
    group.add(_tile(0, 0), 7)
    group.end_row(0)
    assert log == [
        ("a", "begin", 0),
        ("memory", "begin", 0),
        ("a", "add", 7),
        ("memory", "add", 7),
        ("a", "end", 0),
        ("memory", "end", 0),
    ]
    arrays = group.checkpoint()
    assert sorted(arrays) == ["0_x", "1_x"]
    log.clear()
    group.restore(arrays)
    assert log == [("a", "restore", "a"), ("memory", "restore", "memory")]
    assert group.finish() == ["a"]  # sinks kept in memory publish no file


def test_sink_group_starts_over_when_one_sink_cannot_resume():
    log = []
    group = SinkGroup([Recorder("a", log), Recorder("b", log, resumable=False)])
    assert not group.open(resume=True)
    assert log == [("a", "open", True), ("b", "open", True), ("a", "suspend")]  # the reopened one is closed again
