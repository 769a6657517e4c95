"""`eval preprocessing`: the card's own variant scores as plain eval does, every variant is scored, the summary says
which is best; a study preprocessing normalises as it says."""

import numpy as np
import pytest
import torch

from rsvision.bench import evaluate_model
from rsvision.bench.preprocessing import (
    FACTORS,
    NORMALISATIONS,
    RESAMPLINGS,
    StudyPreprocessing,
    preprocessing_study,
    rescaled,
    study_model,
)
from rsvision.datasets import FolderDataset
from rsvision.errors import EvaluationError

torch.set_num_threads(1)


@pytest.fixture
def data(colour_folder):
    return colour_folder(3)


def test_classification_study(data, tmp_path, tiny_classifier):
    (tmp_path / "w").mkdir()
    weights = tiny_classifier(tmp_path / "w")
    result = preprocessing_study("classification", study_model("classification", str(weights)), FolderDataset(data))
    clean = evaluate_model("classification", data, weights)["overall_accuracy"]
    assert result["card"]["score"] == clean == result["input_size"]["1.0"] == result["resampling"]["bilinear"]
    assert list(result["input_size"]) == [str(f) for f in FACTORS]
    assert list(result["resampling"]) == list(RESAMPLINGS) and list(result["normalisation"]) == list(NORMALISATIONS)
    assert result["input_sizes"] == {"0.5": 16, "0.75": 24, "1.0": 32, "1.5": 48, "2.0": 64}
    scores = [v for g in ("input_size", "resampling", "normalisation") for v in result[g].values()]
    assert result["best"]["score"] == max(scores)
    assert result["card_is_best"] == (max(scores) <= clean)
    assert result["max_abs_change"] == pytest.approx(max(abs(v - clean) for v in scores))
    with pytest.raises(EvaluationError, match="classification or segmentation"):
        preprocessing_study("detection", None, FolderDataset(data))


def test_study_normalisations():
    base = dict(bands=["a", "b"], scale=10.0, value_range=(0, 100), mean=[0.5, 0.5], std=[0.1, 0.2], input_size=8)
    x = torch.arange(2 * 2 * 4 * 4, dtype=torch.float32).reshape(2, 2, 4, 4)
    card = StudyPreprocessing(**base)
    assert torch.allclose(card.normalise(x), (x / 10 - 0.5) / torch.tensor([0.1, 0.2]).view(1, 2, 1, 1))
    assert torch.allclose(StudyPreprocessing(**base, normalisation="none").normalise(x), x / 10)
    own = StudyPreprocessing(**base, normalisation="per_image").normalise(x)
    assert torch.allclose(own.mean(dim=(2, 3)), torch.zeros(2, 2), atol=1e-5)
    assert torch.allclose(own.std(dim=(2, 3)), torch.ones(2, 2), atol=1e-5)
    stats = StudyPreprocessing(**base, normalisation="dataset", dataset_mean=[1.0, 2.0], dataset_std=[2.0, 4.0])
    assert torch.allclose(stats.normalise(x)[:, 1], (x[:, 1] / 10 - 2.0) / 4.0)
    near = StudyPreprocessing(**base, resampling="nearest").resize(x)
    assert near.shape == (2, 2, 8, 8) and torch.equal(near[:, :, ::2, ::2], x)


def test_rescaled_images_and_masks_keep_their_alignment(data):
    dataset = FolderDataset(data)
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 5:15] = 2
    dataset.load_mask = lambda sample: mask
    half = rescaled(dataset, 0.5, "area")
    image, small = half.load_image(dataset[0]), half.load_mask(dataset[0])
    assert image.shape == (3, 20, 20) and image.dtype == np.uint8 and small.shape == (20, 20)
    assert (small == 2).sum() == 50 and small[5:15, 3:7].all()
    assert rescaled(dataset, 1.0, "area") is dataset
