"""The folder-classifier recipe's helpers and its training run (tiny, fast)."""

import numpy as np
import pytest
import torch
from PIL import Image

from rsvision.datasets.folder import FolderDataset
from rsvision.errors import BandCountError, RsvisionError
from rsvision.models import resolve_weights
from rsvision.train.classifier import default_bands, train_folder_classifier, value_scale

torch.set_num_threads(1)


def test_default_bands():
    assert default_bands(3) == ["red", "green", "blue"]
    assert len(default_bands(13)) == 13
    with pytest.raises(BandCountError, match="4 bands"):
        default_bands(4)


def test_value_scale_by_dtype():
    assert value_scale(np.zeros(3, np.uint8)) == (255.0, (0.0, 255.0))
    assert value_scale(np.zeros(3, np.uint16)) == (10000.0, (0.0, 65535.0))
    scale, (lo, hi) = value_scale(np.array([0.2, 0.6], np.float32))
    assert scale == 1.0 and lo == pytest.approx(-0.8) and hi == pytest.approx(1.6)  # widened by a span of at least 1


def test_trains_writes_a_card_and_refuses_a_wrong_name(tmp_path):
    rng = np.random.default_rng(0)
    for name, colour in {"field": (40, 160, 40), "sea": (30, 60, 170)}.items():
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(8):
            pixels = np.clip(np.array(colour) + rng.normal(0, 20, (20, 20, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / name / f"{i}.png")
    dataset = FolderDataset(tmp_path / "data")
    with pytest.raises(RsvisionError, match="NAME.safetensors"):
        train_folder_classifier(dataset, tmp_path / "w.pt", epochs=1, progress=False, log=lambda _: None)
    record = train_folder_classifier(
        dataset,
        tmp_path / "tiny.safetensors",
        arch="resnet18",
        arch_kwargs={"width": 0.125},
        epochs=2,
        size=16,
        batch=8,
        val_fraction=0.25,
        progress=False,
        log=lambda _: None,
    )
    card = resolve_weights(record.weights_path)
    assert card.classes == ["field", "sea"] and card.preprocessing.bands == ["red", "green", "blue"]
    assert card.metrics and 0.0 <= card.metrics[0].values["overall_accuracy"] <= 1.0
