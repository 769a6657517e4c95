"""Publishing a finished run: the card's test metrics are exactly what the one evaluator (bench.model_eval, behind
`rsvision eval -m`) computes for the written file, with and without TTA; confusion matrix, speed and notes."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from rsvision.bench.model_eval import evaluate_classifier, evaluate_model
from rsvision.datasets import FolderDataset
from rsvision.models import Classifier, Preprocessing, Weights, build_model
from rsvision.train.loop import TrainConfig, TrainResult
from rsvision.train.publish import publish_classifier

torch.set_num_threads(1)

MODEL_CLASSES = ["red", "green", "blue"]  # the model's order differs from the folder's sorted names
PREP = Preprocessing(
    bands=["red", "green", "blue"], scale=255, value_range=(0, 255), mean=[0.3] * 3, std=[0.3] * 3, input_size=32
)


@pytest.fixture
def run(tmp_path):
    """A tiny 'finished run': a work folder with best.pt, and a test folder (one unreadable file)."""
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    images, labels = [], []
    for k, c in enumerate(MODEL_CLASSES):
        (data / c).mkdir(parents=True)
        for i in range(6):
            a = rng.integers(0, 120, (36, 40, 3)).astype(np.uint8)
            a[..., k] += 60
            Image.fromarray(a).save(data / c / f"{i}.png")
            images.append(a.transpose(2, 0, 1))
            labels.append(k)
    (data / "red" / "broken.png").write_bytes(b"\x89PNG broken")
    work = tmp_path / "work"
    work.mkdir()
    torch.save({"model": _briefly_trained(PREP(np.stack(images)), torch.tensor(labels)).state_dict()}, work / "best.pt")
    (tmp_path / "out").mkdir()
    return work, data, tmp_path / "out"


def _briefly_trained(x, y, steps=20):
    """A tiny network a few steps into training: its predictions differ between images (an untrained one gives
    every image the same class, which any evaluator scores alike)."""
    torch.manual_seed(0)
    model = build_model("resnet18", num_classes=3, width=0.125)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model


def _publish(work, data, out, lines):
    result = TrainResult(
        history=[{"seconds": 3.0, "val_accuracy": 0.5}, {"seconds": 3.0, "val_accuracy": 0.75}],
        best_epoch=2,
        best_val_accuracy=0.75,
    )
    return publish_classifier(
        name="tiny",
        arch="resnet18",
        arch_kwargs={"width": 0.125},
        classes=MODEL_CLASSES,
        prep=PREP,
        work_dir=work,
        out_dir=out,
        data=str(data),
        test_split="all",
        result=result,
        config=TrainConfig(epochs=2, batch_size=4),
        command="python -m rsvision.train.recipes tiny",
        train_seconds=6.0,
        dataset_name="colours",
        licence="-",
        threads=1,
        log=lines.append,
        started=0.0,
        speed_seconds=0.2,
    )


def test_card_metrics_are_what_eval_computes(run):
    work, data, out = run
    lines = []
    path = _publish(work, data, out, lines)
    record = Weights.load(path)
    record.verify()
    by_split = {m.split: m.values for m in record.metrics}
    for split, tta in (("all", False), ("all (D4 TTA)", True)):
        expected = evaluate_model("classification", data, path, split="all", tta=tta)
        assert by_split[split] == {k: expected[k] for k in ("overall_accuracy", "average_accuracy", "kappa")}
        assert expected["n_images"] == 18 and expected["n_failed"] == 1
    # the same numbers from the evaluator called on an opened classifier and dataset
    direct = evaluate_classifier(Classifier(path), FolderDataset(data))
    assert by_split["all"]["kappa"] == direct["kappa"]
    assert 0 < by_split["all"]["kappa"] < 1  # informative scores: some right, some wrong
    assert by_split["all"] != by_split["all (D4 TTA)"]  # TTA was run, not copied
    assert record.classes == MODEL_CLASSES and (out / "tiny_confusion.png").is_file()
    assert record.notes["confusion_matrix_png"] == "tiny_confusion.png" and record.notes["images_per_s_cpu"] > 0
    assert record.notes["validation_curve"] == [0.5, 0.75] and record.notes["best_epoch"] == 2
    assert any(line.startswith("all: OA ") and "(18 images, 1 failed" in line for line in lines)


def test_the_shipped_file_is_what_was_scored(run):
    """The metrics are measured on the float16 file that ships, not on the float32 network in memory."""
    work, data, out = run
    path = _publish(work, data, out, [])
    card = json.loads(path.with_suffix(".json").read_text())
    state = torch.load(work / "best.pt", weights_only=True)["model"]
    assert Classifier(path).model.conv1.weight.dtype == torch.float32
    assert not torch.equal(Classifier(path).model.conv1.weight, state["conv1.weight"])  # rounded through float16
    assert (
        card["metrics"][0]["values"]["overall_accuracy"]
        == evaluate_model("classification", data, path, split="all")["overall_accuracy"]
    )
