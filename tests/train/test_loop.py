import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

from rsvision.bench.model_eval import evaluate_classifier
from rsvision.datasets.folder import FolderDataset
from rsvision.errors import RsvisionError
from rsvision.models import Preprocessing, build_model
from rsvision.models.classifier import Classifier
from rsvision.models.weights import save_weights
from rsvision.train import ArrayData, TrainConfig, band_statistics, fit, image_cache, lr_at
from rsvision.train.loop import _checked_resume
from rsvision.train.segmentation import SegTrainConfig

torch.set_num_threads(1)
COLOURS = {"field": (40, 160, 40), "sea": (30, 60, 170), "town": (170, 150, 140)}


@pytest.fixture
def folder(tmp_path):
    """Three classes of 12 noisy 24 x 24 images each (class = dominant colour)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "scenes"
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(12):
            pixels = np.clip(np.array(colour) + rng.normal(0, 25, (24, 24, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name}_{i}.png")
    return root


def setup(folder, tmp_path):
    ds = FolderDataset(folder)
    images = image_cache(ds, 20, tmp_path / "cache" / "c.npy", progress=False)
    labels = np.array([s.targets["label"] for s in ds])
    mean, std = band_statistics(images, 255.0)
    prep = Preprocessing(
        bands=["red", "green", "blue"], scale=255, value_range=(0, 255), mean=mean, std=std, input_size=16
    )
    return ds, ArrayData(images[::2], labels[::2]), ArrayData(images[1::2], labels[1::2]), prep


def new_model():
    torch.manual_seed(0)
    return build_model("resnet18", 3, width=0.125)


CONFIG = TrainConfig(epochs=2, batch_size=6, lr=3e-3, warmup_epochs=0.5, crop_scale=(0.5, 1.0), seed=3)


def test_cache_is_built_once(folder, tmp_path):
    ds = FolderDataset(folder)
    a = image_cache(ds, 20, tmp_path / "c.npy", progress=False)
    assert a.shape == (36, 3, 20, 20) and a.dtype == np.uint8
    stamp = (tmp_path / "c.npy").stat().st_mtime_ns
    b = image_cache(ds, 20, tmp_path / "c.npy", progress=False)
    assert (tmp_path / "c.npy").stat().st_mtime_ns == stamp and np.array_equal(a, b)
    assert json.loads((tmp_path / "c.json").read_text())["ids"][0] == ds[0].id


def test_resume_repeats_the_uninterrupted_run(folder, tmp_path):
    _, train, val, prep = setup(folder, tmp_path)
    full_model = new_model()
    full = fit(full_model, train, val, prep, CONFIG, tmp_path / "full", log=None, progress=False)
    assert len(full.history) == 2 and (tmp_path / "full" / "best.pt").is_file()

    class Stop(Exception):
        pass

    def stop_after_first_epoch(line):
        raise Stop(line)

    with pytest.raises(Stop, match="epoch 1/2"):  # killed after epoch 1's checkpoint was written
        fit(new_model(), train, val, prep, CONFIG, tmp_path / "cut", log=stop_after_first_epoch, progress=False)
    lines = []
    resumed_model = new_model()
    resumed = fit(resumed_model, train, val, prep, CONFIG, tmp_path / "cut", log=lines.append, progress=False)
    assert lines[0].startswith("resuming from") and lines[1].startswith("epoch 2/2")
    for key, value in full_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key
    timing = ("seconds", "images_per_s")
    assert [{k: v for k, v in r.items() if k not in timing} for r in resumed.history] == [
        {k: v for k, v in r.items() if k not in timing} for r in full.history
    ]
    assert resumed.best_epoch == full.best_epoch
    # finished: the same command again trains nothing; other settings are refused
    again = fit(new_model(), train, val, prep, CONFIG, tmp_path / "cut", log=None, progress=False)
    assert again.history == resumed.history
    with pytest.raises(RsvisionError, match="other settings \\(lr"):
        fit(
            new_model(),
            train,
            val,
            prep,
            TrainConfig(**{**CONFIG.__dict__, "lr": 1e-3}),
            tmp_path / "cut",
            log=None,
            progress=False,
        )


def test_training_learns_and_classifier_evaluates(folder, tmp_path):
    ds, train, val, prep = setup(folder, tmp_path)
    model = new_model()
    config = TrainConfig(epochs=20, batch_size=6, lr=0.05, warmup_epochs=1, optimizer="sgd", jitter=0.1, seed=0)
    result = fit(model, train, val, prep, config, tmp_path / "run", log=None, progress=False)
    assert result.history[-1]["val_accuracy"] >= 0.8
    (tmp_path / "w").mkdir()
    record = save_weights(
        model,
        tmp_path / "w",
        "scenes",
        architecture="resnet18",
        architecture_kwargs={"width": 0.125},
        preprocessing=prep,
        classes=list(ds.classes),
        licence="test",
        command="test",
    )
    (folder / "sea" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    scores = evaluate_classifier(Classifier(record), FolderDataset(folder))
    assert scores["n_failed"] == 1 and scores["n_images"] == 36
    assert scores["overall_accuracy"] >= 0.8 and set(scores) >= {"overall_accuracy", "average_accuracy", "kappa"}


def test_lr_schedule():
    assert lr_at(0, 100, 10, 1.0) == pytest.approx(0.1)
    assert lr_at(9, 100, 10, 1.0) == pytest.approx(1.0)
    assert lr_at(10, 100, 10, 1.0) == pytest.approx(1.0)
    assert lr_at(55, 100, 10, 1.0) == pytest.approx(0.5)
    assert lr_at(100, 100, 10, 1.0, final_ratio=0.1) == pytest.approx(0.1)


def test_without_validation_best_is_last(folder, tmp_path):
    _, train, _, prep = setup(folder, tmp_path)
    model = new_model()
    result = fit(model, train, None, prep, CONFIG, tmp_path / "noval", log=None, progress=False)
    best = torch.load(tmp_path / "noval" / "best.pt", weights_only=True)
    assert result.best_epoch == 2 and best["epoch"] == 2
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in best["model"].items())
    assert len((tmp_path / "noval" / "history.jsonl").read_text().splitlines()) == 2


def test_a_setting_added_after_the_checkpoint_is_taken_at_its_default(tmp_path):
    saved = dataclasses.asdict(SegTrainConfig(epochs=2))
    del saved["band_jitter"]  # a checkpoint made before the setting existed
    torch.save({"config": saved, "n_train": 3}, tmp_path / "last.pt")
    assert _checked_resume(tmp_path / "last.pt", SegTrainConfig(epochs=2), 3)["n_train"] == 3
    with pytest.raises(RsvisionError, match="other settings \\(band_jitter"):
        _checked_resume(tmp_path / "last.pt", SegTrainConfig(epochs=2, band_jitter=0.1), 3)
