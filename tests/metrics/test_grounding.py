import numpy as np
import pytest

from rsvision.errors import MetricInputError
from rsvision.metrics.grounding import GroundingMetric, paired_box_iou


def test_paired_iou_hand_cases():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 0, 0]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]])
    assert paired_box_iou(a, b) == pytest.approx([1.0, 50 / 150, 0.0, 0.0])


def test_grounding_metric():
    m = GroundingMetric()
    m.update([[0, 0, 10, 10], [0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10]])  # IoU 1, 1/3
    m.update([0, 0, 10, 10], [0, 0, 10, 8])  # IoU 0.8, a single box
    out = m.compute()
    assert out["acc_at_0.5"] == pytest.approx(2 / 3)
    assert out["acc_at_0.8"] == pytest.approx(2 / 3)
    assert out["acc_at_0.9"] == pytest.approx(1 / 3)
    assert out["miou"] == pytest.approx((1 + 1 / 3 + 0.8) / 3)
    assert out["cum_iou"] == pytest.approx((100 + 50 + 80) / (100 + 150 + 100))


def test_grounding_errors():
    m = GroundingMetric()
    with pytest.raises(MetricInputError, match="x2 < x1"):
        m.update([[10, 0, 0, 10]], [[0, 0, 1, 1]])
    with pytest.raises(MetricInputError, match="2 predicted boxes for 1"):
        m.update(np.zeros((2, 4)), np.zeros((1, 4)))
    with pytest.raises(MetricInputError, match=r"\(N, 4\)"):
        m.update(np.zeros((2, 5)), np.zeros((2, 5)))
    with pytest.raises(MetricInputError, match="before any box"):
        m.compute()
