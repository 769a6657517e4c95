"""The tile plan: even starts that cover every pixel with at least the overlap asked for."""

import numpy as np
import pytest

from rsvision.engine.plan import TilePlan, spread_starts


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


def test_shared_rows_stay_near_the_overlap():
    # io.tiles would start the last row at 1024, sharing 384 rows with the one at 896
    plan = TilePlan.for_shape(1536, 32768, 512, 64)
    assert plan.row_starts == (0, 341, 683, 1024)
    assert TilePlan.for_shape(32768, 32768, 512, 64).row_starts[-2:] == (31808, 32256)


def test_plan_windows_and_edges():
    plan = TilePlan.for_shape(300, 1000, 256, 32)
    assert (plan.tile_h, plan.tile_w, plan.n_rows, plan.n_cols, len(plan)) == (256, 256, 2, 5, 10)
    w = plan.window(1, 4)
    assert (w.row_off, w.col_off, w.height, w.width) == (44, 744, 256, 256)
    assert plan.inner_edges(0, 0) == (False, False, True, True)
    assert plan.inner_edges(1, 4) == (True, True, False, False)
    assert plan.row_end(0) == 44 and plan.row_end(1) == 300
    with pytest.raises(ValueError, match="overlap in"):
        TilePlan.for_shape(100, 100, 64, 64)
