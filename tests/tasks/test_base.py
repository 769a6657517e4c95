"""The predictor protocol: output kinds, dtypes, nodata and fingerprints."""

import math

import numpy as np
import pytest
import torch

from rsvision.errors import PredictorError
from rsvision.tasks import BoxPredictor, ChangePredictor, DensePredictor, Detections, ModulePredictor, TilePredictor


class Scores(DensePredictor):
    def __init__(self, k, output="classes", scale=1.0):
        self.num_outputs, self.output, self.scale = k, output, scale

    def predict(self, batch):
        return np.zeros((len(batch), self.num_outputs, *batch.images.shape[2:]), np.float32)


def test_dense_output_types():
    assert (Scores(6).output_dtype, Scores(6).nodata, Scores(6).output_count) == ("uint8", 255.0, 1)
    assert Scores(300).output_dtype == "uint16" and Scores(300).nodata == 65535.0
    s = Scores(4, "scores")
    assert s.output_dtype == "float32" and math.isnan(s.nodata) and s.output_count == 4
    with pytest.raises(PredictorError, match="output must be"):
        Scores(3, "probabilities").check()


def test_kinds():
    assert Scores(2).kind == "dense" and not Scores(2).pairs
    assert ChangePredictor.pairs and ChangePredictor.kind == "dense"
    assert BoxPredictor.kind == "boxes" and TilePredictor.kind == "tiles"
    assert Detections.empty(rotated=True).rboxes.shape == (0, 5)


def test_fingerprint_follows_settings_and_weights():
    assert Scores(3).fingerprint() == Scores(3).fingerprint()
    assert Scores(3).fingerprint() != Scores(3, scale=2.0).fingerprint()
    torch.manual_seed(0)
    a = ModulePredictor(torch.nn.Conv2d(3, 2, 1), 2, mean=[0, 0, 0])
    b = ModulePredictor(torch.nn.Conv2d(3, 2, 1), 2, mean=[0, 0, 0])  # other random weights
    assert a.fingerprint() != b.fingerprint()
    b.module.load_state_dict(a.module.state_dict())
    assert a.fingerprint() == b.fingerprint()
