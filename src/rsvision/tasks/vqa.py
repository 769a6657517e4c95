"""The learned VQA baseline as a task: questions about 8-bit RGB images (and a before date for change) answered by a
:class:`~rsvision.models.vqa.VqaFusion` with the frozen MiniLM sentence embedding of each question."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rsvision.models.language import MiniLMTextTower
from rsvision.models.preprocess import Preprocessing
from rsvision.models.resolve import resolve_model
from rsvision.models.vqa import VqaFusion
from rsvision.models.weights import Task


class LearnedVqa:
    """``answer(images, questions, befores)``: one answer (of the card's answers) per question."""

    def __init__(self, module: VqaFusion, preprocessing: Preprocessing, name: str = "vqa", device: str = "cpu"):
        self.module, self.preprocessing, self.name, self.device = module.eval().to(device), preprocessing, name, device
        self.text = MiniLMTextTower()

    @torch.no_grad()
    def image_features(self, images: Sequence[np.ndarray], befores: Sequence[np.ndarray | None]) -> torch.Tensor:
        """(B, 2F) features of (3, H, W) uint8 images, with the difference from their before dates' (or zeros)."""
        x = torch.cat([self.preprocessing(im, where=f"image {i}") for i, im in enumerate(images)]).to(self.device)
        out = self.module.image_features(x)
        dated = [i for i, b in enumerate(befores) if b is not None]
        if dated:
            y = torch.cat([self.preprocessing(befores[i], where=f"before {i}") for i in dated]).to(self.device)
            out[dated, out.shape[1] // 2 :] = out[dated, : out.shape[1] // 2] - self.module.image_backbone(y)
        return out

    def question_features(self, questions: Sequence[str]) -> torch.Tensor:
        return self.text.featurize(list(questions)).to(self.device)

    @torch.no_grad()
    def answer_features(self, image_features: torch.Tensor, question_features: torch.Tensor) -> list[str]:
        logits = self.module.fuse(image_features, question_features)
        return [self.module.answers[i] for i in logits.argmax(1).tolist()]

    def answer(
        self, images: Sequence[np.ndarray], questions: Sequence[str], befores: Sequence[np.ndarray | None]
    ) -> list[str]:
        return self.answer_features(self.image_features(images, befores), self.question_features(questions))


def load_vqa(model: str, needed_by: str = "eval vqa", device: str = "cpu") -> LearnedVqa:
    loaded = resolve_model(model, Task.VQA, needed_by)
    return LearnedVqa(loaded.module, loaded.weights.preprocessing, loaded.weights.name, device)
