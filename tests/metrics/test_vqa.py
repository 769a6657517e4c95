import pytest

from rsvision.errors import MetricInputError
from rsvision.metrics.vqa import VQAMetric, normalize_answer


def test_accuracy_overall_and_per_type():
    m = VQAMetric()
    m.update(["Yes", "no ", "3"], ["yes", "yes", 3], ["presence", "presence", "count"])
    m.update(["rural"], ["Urban"], ["Rural/Urban"])
    out = m.compute()
    assert out["accuracy"] == pytest.approx(2 / 4)
    assert out["accuracy_presence"] == pytest.approx(1 / 2)
    assert out["accuracy_count"] == 1.0
    assert out["accuracy_rural_urban"] == 0.0
    assert out["average_accuracy"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert out["per_class"]["presence"] == {"accuracy": 0.5, "correct": 1, "total": 2}


def test_without_types():
    m = VQAMetric()
    m.update(["a  b"], ["A B"])
    assert m.compute() == {"accuracy": 1.0, "per_class": {}}
    assert normalize_answer("  Between 10 and 100 m2 ") == "between 10 and 100 m2"


def test_vqa_errors():
    m = VQAMetric()
    with pytest.raises(MetricInputError, match="2 predicted answers for 1"):
        m.update(["a", "b"], ["a"])
    with pytest.raises(MetricInputError, match="not a single string"):
        m.update("yes", "yes")
    with pytest.raises(MetricInputError, match="before any question"):
        m.compute()
