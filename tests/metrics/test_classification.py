import numpy as np
import pytest

from rsvision.errors import MetricInputError
from rsvision.metrics.classification import ClassificationMetric, ConfusionMatrix


def test_cohen_kappa_textbook_example():
    # Wikipedia "Cohen's kappa", first example: 50 proposals, two readers.
    # yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o = 0.7, p_e = 0.5, kappa = 0.4
    cm = ConfusionMatrix(2)
    true = [0] * 25 + [1] * 25
    pred = [0] * 20 + [1] * 5 + [0] * 10 + [1] * 15
    cm.update(np.array(pred), np.array(true))
    assert cm.matrix.tolist() == [[20, 5], [10, 15]]
    assert cm.overall_accuracy() == pytest.approx(0.7)
    assert cm.kappa() == pytest.approx(0.4)


def test_hand_case_three_classes():
    classes = ["farm", "forest", "port"]
    true = ["farm", "farm", "farm", "forest", "forest", "port"]
    pred = ["farm", "forest", "farm", "forest", "port", "port"]
    m = ClassificationMetric(classes)
    m.update(pred, true)
    out = m.compute()
    assert out["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert out["overall_accuracy"] == pytest.approx(4 / 6)
    # recalls 2/3, 1/2, 1/1
    assert out["average_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    # p_e = (3*2 + 2*2 + 1*2) / 36 = 1/3
    assert out["kappa"] == pytest.approx((4 / 6 - 1 / 3) / (1 - 1 / 3))
    forest = out["per_class"]["forest"]
    assert forest["precision"] == pytest.approx(1 / 2)
    assert forest["recall"] == pytest.approx(1 / 2)
    assert forest["f1"] == pytest.approx(1 / 2)
    assert forest["support"] == 2
    assert out["per_class"]["port"]["precision"] == pytest.approx(1 / 2)
    assert out["per_class"]["port"]["f1"] == pytest.approx(2 / 3)


def test_names_and_indices_agree():
    a, b = ClassificationMetric(["a", "b"]), ClassificationMetric(["a", "b"])
    a.update(["a", "b", "b"], ["a", "a", "b"])
    b.update(np.array([0, 1, 1]), np.array([0, 0, 1]))
    assert a.compute() == b.compute()


def test_absent_class_left_out_of_average_accuracy():
    m = ClassificationMetric(["a", "b", "c"])
    m.update([0, 1, 2], [0, 1, 1])  # "c" never true, predicted once
    out = m.compute()
    assert out["average_accuracy"] == pytest.approx((1 + 0.5) / 2)
    assert out["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_perfect_single_class_kappa_is_one():
    m = ClassificationMetric(["a", "b"])
    m.update([1, 1], [1, 1])
    assert m.compute()["kappa"] == 1.0


def test_streaming_equals_one_shot():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 7, 1000)
    pred = np.where(rng.random(1000) < 0.6, true, rng.integers(0, 7, 1000))
    one = ClassificationMetric([f"c{i}" for i in range(7)])
    one.update(pred, true)
    streamed = ClassificationMetric([f"c{i}" for i in range(7)])
    for lo in range(0, 1000, 137):
        streamed.update(pred[lo : lo + 137], true[lo : lo + 137])
    assert streamed.compute() == one.compute()


def test_bad_input_errors():
    m = ClassificationMetric(["a", "b"])
    with pytest.raises(MetricInputError, match="unknown class 'z'"):
        m.update(["z"], ["a"])
    with pytest.raises(MetricInputError, match="shape"):
        m.update([0, 1], [0])
    with pytest.raises(MetricInputError, match="outside"):
        m.update([2], [0])
    with pytest.raises(MetricInputError, match="before any sample"):
        m.compute()
