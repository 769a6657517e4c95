"""The tile reader: batches of one tile row in plan order, values and nodata masks as the scene reads them,
buffers reused, the second date aligned; and GDAL's block cache bounded while a run reads, reader threads too."""

import threading

import numpy as np
import pytest
import rasterio.env
from affine import Affine

from rsvision.core.settings import bounded_block_cache
from rsvision.engine import run
from rsvision.engine.reader import TileReader
from rsvision.io import align, open_scene
from rsvision.io.tiles import TilePlan
from rsvision.tasks import DensePredictor


@pytest.fixture
def scene(make_raster):
    data = np.random.default_rng(1).integers(1, 255, (3, 150, 230)).astype("uint16")
    data[:, :64, :64] = 0  # the first tile has no valid pixel
    data[1, 100:, 200:] = 0  # nodata in one band only: still valid pixels
    return open_scene(make_raster("scene.tif", data, nodata=0))


def _every(reader, first_row=0):
    """(row, col, window, values, mask, empty, ends_row) of every tile, copied out of the reused buffers."""
    out = []
    for read in reader.batches(first_row):
        for i, t in enumerate(read.tiles):
            out.append((t.row, t.col, t.window, read.images[i].copy(), read.masks[i].copy(), t.empty, read.ends_row))
    return out


def test_batches_follow_the_plan_with_values_and_masks(scene):
    plan = TilePlan.for_shape(scene.height, scene.width, 64, 16)
    tiles = _every(TileReader(scene, plan, batch=3, workers=2))
    assert [(r, c) for r, c, *_ in tiles] == [(r, c) for r in range(plan.n_rows) for c in range(plan.n_cols)]
    for row, col, window, values, mask, empty, _ in tiles:
        assert window == plan.window(row, col)
        expected = scene.read(window)
        assert values.dtype == np.float32 and np.array_equal(values, expected.data.astype(np.float32))
        assert np.array_equal(mask, np.ma.getmaskarray(expected).all(axis=0))  # nodata in every band
        assert empty == bool(mask.all())
    assert tiles[0][5] and not any(t[5] for t in tiles[1:])


def test_batches_stay_in_one_tile_row_and_reuse_buffers(scene):
    plan = TilePlan.for_shape(scene.height, scene.width, 64, 16)  # 5 tile columns: batches of 2, 2, 1
    reader = TileReader(scene, plan, batch=2, ahead=1)
    sizes, buffers = [], set()
    for read in reader.batches():
        sizes.append((read.tiles[0].row, len(read.tiles), read.ends_row))
        assert len({t.row for t in read.tiles}) == 1
        buffers.add(read.images.__array_interface__["data"][0])
    assert sizes[:3] == [(0, 2, False), (0, 2, False), (0, 1, True)]
    assert len(buffers) == 2  # the batch read ahead and the caller's, in turn


def test_batches_from_a_later_row_and_chosen_bands(scene):
    plan = TilePlan.for_shape(scene.height, scene.width, 64, 16)
    tiles = _every(TileReader(scene, plan, bands=[2, 0], batch=4), first_row=1)
    assert {r for r, *_ in tiles} == set(range(1, plan.n_rows))
    _, _, window, values, *_ = tiles[0]
    assert values.shape[0] == 2 and np.array_equal(values, scene.read(window, bands=[2, 0]).data)


def test_second_date_is_read_on_the_first_grid(make_raster, scene):
    other = make_raster(
        "after.tif", np.full((3, 75, 115), 9, np.uint16), transform=Affine(20, 0, 500000, 0, -20, 4000000)
    )
    second = align(open_scene(other), to=scene)
    plan = TilePlan.for_shape(scene.height, scene.width, 64, 16)
    for read in TileReader(scene, plan, scene2=second, batch=3).batches():
        for i, t in enumerate(read.tiles):
            if t.empty:  # nothing to predict: the second date is not read, and counts as nodata
                assert read.masks2[i].all()
            else:
                assert np.array_equal(read.images2[i], second.read(t.window).data)
                assert np.array_equal(t.nodata, read.masks[i] | read.masks2[i])


def _cache_max():
    return rasterio.env.get_gdal_config("GDAL_CACHEMAX")  # GDALGetCacheMax64, in bytes


def test_block_cache_is_bounded_inside_and_restored_after(monkeypatch):
    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    before = _cache_max()
    seen = []
    with bounded_block_cache(48):
        seen.append(_cache_max())
        worker = threading.Thread(target=lambda: seen.append(_cache_max()))  # one process-wide setting
        worker.start()
        worker.join()
        with bounded_block_cache(16):  # another run at once: the two shares add up; the outer one restores
            seen.append(_cache_max())
        seen.append(_cache_max())
    assert seen == [48 << 20, 48 << 20, 64 << 20, 48 << 20] and _cache_max() == before


def test_a_cache_size_the_user_set_wins(monkeypatch):
    monkeypatch.setenv("GDAL_CACHEMAX", "200")
    before = _cache_max()
    with bounded_block_cache(48):
        assert _cache_max() == before
    monkeypatch.delenv("GDAL_CACHEMAX")
    with rasterio.Env(GDAL_CACHEMAX=100 << 20), bounded_block_cache(48):
        assert _cache_max() == 100 << 20


def test_each_batch_column_is_read_by_the_same_thread_in_every_row(scene):
    """GDAL caches blocks per dataset handle, one per thread: the blocks a tile row shares with the next are
    found again only by the thread that read them."""
    plan = TilePlan.for_shape(scene.height, scene.width, 64, 16)  # 5 tile columns: batch columns 0, 2, 4
    reader, read = TileReader(scene, plan, batch=2, workers=2), TileReader._load
    threads = {}

    def probed(self, row, cols, slot):
        threads.setdefault(cols.start, set()).add((row, threading.current_thread().name))
        return read(self, row, cols, slot)

    TileReader._load = probed
    try:
        list(reader.batches())
    finally:
        TileReader._load = read
    for col, seen in threads.items():
        names = {name for row, name in seen if (row, col) != (0, 0)}  # the first batch: the calling thread
        assert len(names) == 1 and next(iter(names)).startswith("rsvision-read"), (col, seen)
    assert len({next(iter({n for r, n in s if r > 0})) for s in threads.values()}) == 2  # both workers used


def test_run_reads_under_the_bounded_cache(scene, tmp_path, monkeypatch):
    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    before = _cache_max()
    seen, read = [], TileReader._read

    def probed(self, *args):
        seen.append((threading.current_thread().name, _cache_max()))
        return read(self, *args)

    monkeypatch.setattr(TileReader, "_read", probed)
    run(scene, Zeros(), tmp_path / "o.tif", tile=64, overlap=16, batch=2, quiet=True)
    assert {limit for _, limit in seen} == {64 << 20} and _cache_max() == before
    assert any(name.startswith("rsvision-read") for name, _ in seen)  # the reader's worker threads too


class Zeros(DensePredictor):
    num_outputs = 2

    def predict(self, batch):
        return np.zeros((len(batch), 2, *batch.images.shape[2:]), np.float32)
