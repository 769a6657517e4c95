"""Unsupervised change methods on generated arrays: each finds a planted change; Otsu, the chi-square tail and the
normalisations do what they say; the pair predictor returns (no change, change) scores with the second date's gaps
as no change."""

import numpy as np
import pytest
from rasterio.windows import Window

from rsvision.errors import PredictorError
from rsvision.tasks.base import TileBatch
from rsvision.tasks.change import (
    HistogramMatching,
    RegressionOnNoChange,
    UnsupervisedChange,
    change_method,
    chi2_quantile,
    chi2_sf,
    otsu_threshold,
)


def _pair(seed=0, h=96, w=96):
    """A 4-band (1, C, H, W) pair: shared texture, noise, a gain and offset on the second date, and a planted
    20 x 24 change; the (H, W) truth."""
    rng = np.random.default_rng(seed)
    base = rng.normal(1000, 80, (4, h, w)) + np.linspace(0, 200, w)[None, None]
    after = 1.1 * base + 30 + rng.normal(0, 10, base.shape)
    truth = np.zeros((h, w), bool)
    truth[30:50, 40:64] = True
    after[:, truth] += np.array([500, -400, 600, -300])[:, None]
    return base[None].astype(np.float32), after[None].astype(np.float32), truth


@pytest.mark.parametrize("name", ["cva", "irmad", "pcakmeans"])
def test_each_method_finds_the_planted_change(name):
    x, y, truth = _pair()
    valid = np.ones(truth.shape, bool)[None]
    method = change_method(name)
    method.fit(x, y, valid)
    found = method.score(x, y)[0] > 0.5
    iou = (found & truth).sum() / (found | truth).sum()
    assert iou > 0.8, (name, iou)


def test_otsu_splits_two_modes():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(1, 0.2, 5000), rng.normal(5, 0.3, 500)])
    t = otsu_threshold(values)
    assert 1.5 < t < 4.0
    assert abs(int((values > t).sum()) - 500) <= 3  # the two modes, split in the gap between them


def test_chi_square_tail_and_quantile():
    x = np.array([0.0, 1.0, 4.0, 10.0])
    assert np.allclose(chi2_sf(x, 2), np.exp(-x / 2))  # two degrees of freedom: an exponential tail
    assert chi2_quantile(0.99, 4) == pytest.approx(13.2767, abs=1e-3)


@pytest.mark.parametrize("cls", [HistogramMatching, RegressionOnNoChange])
def test_normalisation_undoes_gain_and_offset(cls):
    x, y, truth = _pair()
    valid = np.ones(truth.shape, bool)[None]
    norm = cls()
    norm.fit(x, y, valid)
    fixed = norm.apply(y)[0][:, ~truth]
    assert np.abs(fixed - x[0][:, ~truth]).mean() < 0.25 * np.abs(y[0][:, ~truth] - x[0][:, ~truth]).mean()


def test_predictor_scores_and_gaps():
    x, y, truth = _pair()
    method = change_method("cva")
    method.fit(x, y, np.ones(truth.shape, bool)[None])
    predictor = UnsupervisedChange(method, tile_size=96)
    gaps = np.zeros((1, 96, 96), bool)
    gaps[0, 30:40] = True
    batch = TileBatch(x.copy(), np.zeros_like(gaps), [Window(0, 0, 96, 96)], images2=y.copy(), masks2=gaps)
    out = predictor.predict(batch)
    assert out.shape == (1, 2, 96, 96)
    assert np.allclose(out.sum(1), 1)
    assert (out[0, 1][gaps[0]] == 0).all()
    assert (out[0].argmax(0).astype(bool) == (truth & ~gaps[0])).mean() > 0.99


def test_unknown_method_is_refused():
    with pytest.raises(PredictorError, match="unknown change method"):
        change_method("magic")
