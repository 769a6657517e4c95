"""Training data for change models: both dates stacked, split by rows."""

import numpy as np
import pytest

from rsvision.train.change import change_pairs, row_part

S2 = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]


class _Pairs:
    """A change dataset of two generated pairs (load_image / load_mask as the real ones)."""

    root = "generated"

    def __init__(self, make):
        self.made = {f"p{i}": make(i, 40, 30) for i in range(2)}
        self.samples = [type("S", (), {"id": k})() for k in self.made]

    def __iter__(self):
        return iter(self.samples)

    def load_image(self, sample, which):
        return self.made[sample.id][which]

    def load_mask(self, sample):
        return self.made[sample.id][2]


def test_pairs_stack_both_dates_and_split_by_rows(change_pair_arrays):
    data = _Pairs(change_pair_arrays)
    top, bottom = change_pairs(data, ["p0", "p1"], [0, 2], (0, 0.75)), change_pairs(data, ["p1"], None, (0.75, 1))
    after = data.made["p0"][1]
    assert top.images[0].shape == (4, 30, 30) and np.array_equal(top.images[0][2:], after[[0, 2], :30])
    assert bottom.images[0].shape == (6, 10, 30) and np.array_equal(bottom.masks[0], data.made["p1"][2][30:])
    assert row_part(40, (0.75, 1.0)) == slice(30, 40)
    with pytest.raises(Exception, match="no sample named"):
        change_pairs(data, ["nope"])
