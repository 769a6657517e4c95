"""The learned VQA baseline learns answers that depend on both the image and the question, from cached features."""

import numpy as np
import torch

from rsvision.core.settings import torch_threads
from rsvision.models.vqa import VqaFusion
from rsvision.train.vqa import VqaConfig, VqaFeatures, fit_vqa, vqa_accuracy


def features(n_images: int, seed: int) -> VqaFeatures:
    """Images are 'water' or 'dry' (a feature's sign); questions ask 'is there water?' or 'is it dry?'."""
    rng = np.random.default_rng(seed)
    wet = rng.integers(0, 2, n_images)
    images = torch.tensor(rng.normal(0, 0.01, (n_images, 2 * 1280)), dtype=torch.float32)
    images[:, 0] = torch.tensor(np.where(wet, 1.0, -1.0))
    asks_water = rng.integers(0, 2, 4 * n_images)
    questions = torch.zeros(4 * n_images, 384)
    questions[:, 0] = torch.tensor(np.where(asks_water, 1.0, -1.0))
    rows = rng.integers(0, n_images, 4 * n_images)
    labels = torch.tensor((asks_water == wet[rows]).astype(np.int64))  # 1: "yes"
    return VqaFeatures(images, questions, rows, labels)


def test_fit_learns_image_and_question_together():
    with torch_threads(1):
        torch.manual_seed(0)
        model = VqaFusion(["no", "yes"], width=32, dropout=0.0)
        train, val = features(128, 0), features(32, 1)
        result = fit_vqa(model, train, val, VqaConfig(epochs=30, batch_size=64, lr=3e-3), log=lambda _: None)
    assert result.best_val_accuracy > 0.95  # neither side alone does better than chance (0.5)
    assert vqa_accuracy(model, val) == result.best_val_accuracy
    assert len(result.history) == 30
