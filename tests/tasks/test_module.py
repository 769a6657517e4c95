"""ModulePredictor: any torch module as a dense predictor, normalising per band and applying its activation."""

import numpy as np
import pytest
import torch

from rsvision.errors import PredictorError
from rsvision.tasks import ModulePredictor, TileBatch


def test_module_predictor_normalises_and_softmaxes():
    conv = torch.nn.Conv2d(2, 3, 1)
    predictor = ModulePredictor(conv, 3, mean=[10, 20], std=[2, 4])
    images = np.random.default_rng(0).uniform(0, 50, (2, 2, 8, 9)).astype(np.float32)
    out = predictor.predict(TileBatch(images.copy(), np.zeros((2, 8, 9), bool), []))
    assert out.shape == (2, 3, 8, 9) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1, atol=1e-6)
    x = (torch.from_numpy(images) - torch.tensor([10.0, 20])[:, None, None]) / torch.tensor([2.0, 4])[:, None, None]
    with torch.no_grad():
        np.testing.assert_allclose(out, torch.softmax(conv(x), 1).numpy(), atol=1e-6)
    with pytest.raises(PredictorError, match="activation"):
        ModulePredictor(conv, 3, activation="relu")


def test_module_predictor_sigmoid_and_channels_first():
    conv = torch.nn.Conv2d(1, 2, 1)
    predictor = ModulePredictor(conv, 2, activation="sigmoid", output="scores", channels_last=False)
    images = np.random.default_rng(1).normal(size=(3, 1, 5, 4)).astype(np.float32)
    out = predictor.predict(TileBatch(images.copy(), np.zeros((3, 5, 4), bool), []))
    with torch.no_grad():
        np.testing.assert_allclose(out, torch.sigmoid(conv(torch.from_numpy(images))).numpy(), atol=1e-6)
