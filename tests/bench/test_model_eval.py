"""Running a model on a dataset: classes matched by name, metrics equal to scoring the classifier's own
predictions by hand, unusable images counted and listed, unknown classes refused."""

import numpy as np
import pytest
import torch
from PIL import Image

from rsvision.bench import evaluate_model
from rsvision.datasets import FolderDataset
from rsvision.errors import EvaluationError
from rsvision.models import Classifier

torch.set_num_threads(1)


@pytest.fixture
def weights(tmp_path, tiny_classifier):
    (tmp_path / "w").mkdir()
    return tiny_classifier(tmp_path / "w")


def _folder(root, classes, n=5):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (24 + i, 30, 3)).astype(np.uint8)).save(root / c / f"{i}.png")
    return root


def test_metrics_of_the_model_classes_by_name(weights, tmp_path):
    root = _folder(tmp_path / "data", ["red", "blue"])  # a subset of the model's classes, in another order
    (root / "red" / "broken.png").write_bytes(b"\x89PNG broken")
    result = evaluate_model("classification", root, weights)
    data = FolderDataset(root)
    clf = Classifier(weights)
    good = [s for s in data if s.image.name != "broken.png"]
    probs = clf.predict_proba([data.load_image(s) for s in good])
    truth = np.array([clf.classes.index(data.classes[s.targets["label"]]) for s in good])
    pred = probs.argmax(1)
    assert result["overall_accuracy"] == pytest.approx(np.mean(pred == truth))
    recalls = [np.mean(pred[truth == c] == c) for c in set(truth.tolist())]
    assert result["average_accuracy"] == pytest.approx(np.mean(recalls))
    # scored over the dataset's classes (blue, red); a prediction of the model's third class is '(other)'
    other = int(np.isin(pred, [clf.classes.index(c) for c in data.classes], invert=True).sum())
    assert result["other_class_predictions"] == other
    assert np.array(result["confusion_matrix"]).shape == ((3, 3) if other else (2, 2))
    assert list(result["per_class"])[:2] == list(data.classes)
    assert result["n_images"] == 10 and result["n_failed"] == 1
    (failed,) = result["failed"]
    assert failed["sample"] == "red/broken.png" and "cannot read" in failed["reason"]
    assert "top5_accuracy" not in result  # 2 classes: it would be 1 by construction


def test_unknown_classes_and_tasks(weights, tmp_path):
    root = _folder(tmp_path / "data", ["red", "ocean"])
    with pytest.raises(EvaluationError, match="classes unknown to model tiny: ocean"):
        evaluate_model("classification", root, weights)
    with pytest.raises(EvaluationError, match="eval detection: no model of this task is built in yet"):
        evaluate_model("detection", root, weights)
