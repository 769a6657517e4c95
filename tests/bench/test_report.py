"""Metric dicts as JSON: NaN -> null, numpy -> plain numbers, atomic file."""

import json
import math

import numpy as np
import pytest

from rsvision.bench.report import jsonable, metrics_json, write_metrics_json
from rsvision.errors import OutputError


def test_nan_is_null_and_numpy_is_plain():
    result = {
        "map": float("nan"),
        "n": np.int64(3),
        "x": np.float32(0.5),
        "inf": math.inf,
        "per_class": {1: {"ap": np.nan, "ok": np.bool_(True)}},
        "m": np.eye(2, dtype=np.int64),
    }
    assert jsonable(result) == {
        "map": None,
        "n": 3,
        "x": 0.5,
        "inf": None,
        "per_class": {"1": {"ap": None, "ok": True}},
        "m": [[1, 0], [0, 1]],
    }
    assert json.loads(metrics_json(result))["map"] is None


def test_write(tmp_path):
    path = write_metrics_json(tmp_path / "m.json", {"miou": 0.25, "kappa": float("nan")})
    assert json.loads(path.read_text()) == {"miou": 0.25, "kappa": None}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]
    with pytest.raises(OutputError, match="does not exist"):
        write_metrics_json(tmp_path / "no" / "m.json", {})
