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
    with pytest.raises(EvaluationError, match="captioning cannot be scored on 'folder' data"):
        evaluate_model("captioning", root, weights)


def _voc_folder(root, boxes_per_image):
    """Pascal VOC images (PNG) with ``Tree`` boxes, written by :func:`write_voc`."""
    from rsvision.datasets.voc import write_voc

    root.mkdir()
    for i, boxes in enumerate(boxes_per_image):
        Image.fromarray(np.full((64, 80, 3), 90 + 20 * i, np.uint8)).save(root / f"im{i}.png")
        write_voc(root / f"im{i}.xml", f"im{i}.png", (80, 64), boxes, ["Tree"] * len(boxes))
    return root


def test_eval_detection_runs_the_model_and_matches_classes_by_name(tmp_path, monkeypatch):
    from rsvision.geometry import Detections
    from rsvision.models import Preprocessing, build_model, save_weights
    from rsvision.tasks.detection import Detector

    truth = [np.array([[4.0, 5, 30, 40], [40, 10, 70, 50]]), np.array([[10.0, 10, 20, 30]])]
    root = _voc_folder(tmp_path / "voc", truth)
    prep = Preprocessing(bands=["red", "green", "blue"], scale=255.0, value_range=(0, 255), mean=[0.4] * 3,
                         std=[0.2] * 3, input_size=64)  # fmt: skip
    net = build_model("retinanet", 1, backbone="resnet18", channels=32)
    card = save_weights(net, tmp_path, "trees", task="detection", architecture="retinanet",
                        architecture_kwargs={"backbone": "resnet18", "channels": 32}, preprocessing=prep,
                        classes=["tree"], licence="test", command="test")  # fmt: skip
    seen = []

    def found(self, batch):  # the truth itself, with one false box of low score: AP50 stays 1
        boxes = truth[len(seen)]
        seen.append(batch.images.shape)
        extra = np.array([[60.0, 50, 64, 60]])
        return [Detections(np.zeros(len(boxes) + 1), [0.9] * len(boxes) + [0.1], np.vstack([boxes, extra]))]

    monkeypatch.setattr(Detector, "predict", found)
    result = evaluate_model("detection", root, card.weights_path, format="voc")
    assert seen == [(1, 3, 64, 80)] * 2  # whole images
    assert result["map50"] == pytest.approx(1.0) and result["per_class"]["Tree"]["num_gt"] == 3
    assert result["n_images"] == 2 and set(result) >= {"map", "map75", "map50_voc07"}
