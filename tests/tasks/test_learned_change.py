"""The learned change predictor: D4 test-time views average each view's map turned back onto the pair's pixels."""

import numpy as np
import pytest
from rasterio.windows import Window

from rsvision.models.tta import d4_inverse, d4_transform
from rsvision.tasks.base import TileBatch


def _predictor(path, tta):
    from rsvision.models.resolve import resolve_model
    from rsvision.tasks.classification import BandChoice
    from rsvision.tasks.learned_change import LearnedChange

    loaded = resolve_model(str(path), "change", "test")
    return LearnedChange(loaded.weights, loaded.module, [0, 1, 2], BandChoice(None, "position"), tta=tta)


def _batch(before, after):
    h, w = before.shape[-2:]
    x, y = before[None].astype(np.float32), after[None].astype(np.float32)
    none = np.zeros((1, h, w), bool)
    return TileBatch(x, none, [Window(0, 0, w, h)], images2=y, masks2=none)


@pytest.mark.parametrize("shape", [(64, 64), (48, 80)])
def test_tta_is_the_mean_of_the_eight_views_turned_back(tiny_change_model, change_pair_arrays, shape):
    """A non-square pair too: the network takes its quarter-turned W x H views."""
    import torch

    before, after, truth = change_pair_arrays(3, *shape)
    plain = _predictor(tiny_change_model, tta=False)
    views = []
    for k in range(8):
        turned = [d4_transform(torch.from_numpy(d.copy()), k).numpy() for d in (before, after)]
        p = plain.predict(_batch(*turned))
        views.append(d4_inverse(torch.from_numpy(p), k).numpy())
    expected = np.mean(views, 0)
    averaged = _predictor(tiny_change_model, tta=True).predict(_batch(before, after))
    assert np.allclose(averaged, expected, atol=1e-5)
    assert not np.allclose(averaged, plain.predict(_batch(before, after)), atol=1e-3)  # the views do differ
    found = averaged[0].argmax(0).astype(bool)
    assert (found & truth.astype(bool)).sum() / (found | truth.astype(bool)).sum() > 0.5
