"""The one tiler: even starts that cover every pixel with at least the overlap asked for, as `tiles()` windows and
as the engine's plan."""

import numpy as np
import pytest

from rsvision.io import count_tiles, tiles
from rsvision.io.tiles import TilePlan, spread_starts


@pytest.mark.parametrize("shape", [(1000, 777), (512, 512), (513, 1025), (100, 60), (3000, 257)])
@pytest.mark.parametrize("size,overlap", [(256, 0), (256, 32), (512, 64), (128, 100)])
def test_tiles_cover_every_pixel_with_full_size(shape, size, overlap):
    covered = np.zeros(shape, dtype=np.int32)
    windows = list(tiles(shape, size, overlap))
    assert len(windows) == count_tiles(shape, size, overlap)
    for w in windows:
        assert w.width == min(size, shape[1]) and w.height == min(size, shape[0])
        assert w.col_off >= 0 and w.row_off >= 0
        assert w.col_off + w.width <= shape[1] and w.row_off + w.height <= shape[0]
        covered[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] += 1
    assert covered.min() >= 1
    assert windows == list(tiles(shape, size, overlap))  # stable order
    keys = [(w.row_off, w.col_off) for w in windows]
    assert keys == sorted(keys)  # row by row, left to right


def test_tiles_are_the_engines_plan(make_raster):
    from rsvision.io import open_scene

    scene = open_scene(make_raster("s.tif", np.zeros((1, 300, 1000), np.uint8)))
    plan = TilePlan.for_shape(300, 1000, 256, 32)
    assert list(tiles(scene, size=256, overlap=32)) == [plan.window(r, c) for r in range(2) for c in range(5)]
    assert count_tiles(scene, 256, 32) == len(plan) == 10
    # evenly spread: shifting only the last tile flush with the edge gave 0, 224, 448, 672, 744 (the last two
    # sharing 184 pixels); every step is now 186 or 187 pixels
    assert [int(w.col_off) for w in tiles((256, 1000), 256, 32)] == [0, 186, 372, 558, 744]
    assert [int(w.col_off) for w in tiles((256, 1100), 256, 32)] == [0, 211, 422, 633, 844]


def test_bad_tile_arguments():
    with pytest.raises(ValueError, match="overlap in"):
        list(tiles((100, 100), 64, 64))
    with pytest.raises(ValueError, match="tile size must be positive"):
        count_tiles((100, 100), 0)


@pytest.mark.parametrize("size,overlap", [(256, 48), (128, 100), (512, 64), (200, 0)])
def test_starts_cover_with_the_overlap(size, overlap):
    for length in range(1, 3000, 7):
        starts = np.array(spread_starts(length, size, overlap))
        tile = min(size, length)
        covered = np.zeros(length, int)
        for s in starts:
            covered[s : s + tile] += 1
        assert covered.min() >= 1 and starts[0] == 0 and starts[-1] + tile == length
        steps = np.diff(starts)
        assert (steps > 0).all() and (steps <= size - overlap).all()  # never less overlap than asked
        if len(steps):  # evenly spread: steps differ by at most one pixel
            assert steps.max() - steps.min() <= 1
        old_count = len(range(0, length - size, size - overlap)) + 1 if length > size else 1
        assert len(starts) == old_count  # as many tiles as shifting the last one flush with the edge gave


def test_shared_rows_stay_near_the_overlap():
    # shifting only the last tile row flush with the edge would start it at 1024, sharing 384 rows with the one
    # at 896
    plan = TilePlan.for_shape(1536, 32768, 512, 64)
    assert plan.row_starts == (0, 341, 683, 1024)
    assert TilePlan.for_shape(32768, 32768, 512, 64).row_starts[-2:] == (31808, 32256)


def test_plan_windows_and_edges():
    plan = TilePlan.for_shape(300, 1000, 256, 32)
    assert (plan.tile_h, plan.tile_w, plan.n_rows, plan.n_cols, len(plan)) == (256, 256, 2, 5, 10)
    w = plan.window(1, 4)
    assert (w.row_off, w.col_off, w.height, w.width) == (44, 744, 256, 256)
    assert list(plan.windows())[-1] == w
    assert plan.inner_edges(0, 0) == (False, False, True, True)
    assert plan.inner_edges(1, 4) == (True, True, False, False)
    assert plan.row_end(0) == 44 and plan.row_end(1) == 300
    with pytest.raises(ValueError, match="overlap in"):
        TilePlan.for_shape(100, 100, 64, 64)
