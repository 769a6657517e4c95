"""The learned VQA baseline, in RSVQA's shape (Lobry et al. 2020): image features and question features, each
projected to one width, fused by their elementwise product, and an MLP over the answers seen in training.

The image side is a registry backbone (the AID classifier's EfficientNet-Lite0, frozen: its pooled features are what
training caches); a question about change reads the before date too, as the difference of the two dates' features.
The question side is a sentence embedding (frozen all-MiniLM-L6-v2, the dual encoder's text tower).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from rsvision.errors import WeightsError
from rsvision.models.backbones import build_timm

ARCH = "vqa_fusion"
MINILM_DIM = 384  # all-MiniLM-L6-v2's sentence embedding


class VqaFusion(nn.Module):
    """Answers (``answers``, the classes) of a (question, image[, before]) triple."""

    def __init__(
        self,
        answers: Sequence[str],
        image_arch: str = "efficientnet_lite0",
        in_chans: int = 3,
        question_dim: int = MINILM_DIM,
        width: int = 512,
        dropout: float = 0.3,
    ):
        super().__init__()
        self.answers = list(answers)
        self.image_backbone = build_timm(image_arch, num_classes=0, in_chans=in_chans)
        features = self.image_backbone.num_features
        self.image_proj = nn.Sequential(nn.Linear(2 * features, width), nn.Tanh())
        self.question_proj = nn.Sequential(nn.Linear(question_dim, width), nn.Tanh())
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(width, width), nn.ReLU(), nn.Dropout(dropout), nn.Linear(width, len(answers))
        )

    def image_features(self, x: torch.Tensor, before: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 2F): the pooled features of ``x`` and their difference from ``before``'s (zeros without one)."""
        after = self.image_backbone(x)
        change = after - self.image_backbone(before) if before is not None else torch.zeros_like(after)
        return torch.cat([after, change], dim=1)

    def fuse(self, image_features: torch.Tensor, question_features: torch.Tensor) -> torch.Tensor:
        """(B, answers) logits of cached image features and question embeddings."""
        return self.head(self.image_proj(image_features) * self.question_proj(question_features))


def build_vqa(num_classes: int = 0, in_chans: int = 3, **kwargs: Any) -> VqaFusion:
    answers = kwargs.pop("answers", None)
    if not answers or (num_classes and num_classes != len(answers)):
        raise WeightsError("a VQA card lists its answers (architecture_kwargs.answers), one per class")
    kwargs.pop("question_encoder", None)
    return VqaFusion(answers, in_chans=in_chans, **kwargs)


VQA_BUILDERS = {ARCH: build_vqa}
