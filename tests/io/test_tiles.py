import numpy as np
import pytest

from rsvision.io import count_tiles, tiles


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


def test_bad_tile_arguments():
    with pytest.raises(ValueError, match="overlap in"):
        list(tiles((100, 100), 64, 64))
