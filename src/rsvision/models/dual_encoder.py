"""The dual encoder: an image tower and a text tower meeting in one L2-normalised space, with CLIP's learned
temperature (:mod:`rsvision.models.language` holds the text towers).

Image tower: a timm backbone's pooled features (EfficientNet-Lite0, started from the AID classifier's backbone)
and a projection (linear, or a one-hidden-layer MLP with dropout). Text tower: MiniLM or a small transformer from
scratch, and a projection of the same kind. Each side is split into a feature step that training may cache
(``image_features``, ``text.featurize``) and the trained step (``embed_image_features``, ``embed_text_features``),
so a run over cached features and inference give the same numbers. With ``tuned_blocks`` > 0 the image feature
step stops before the backbone's last ``tuned_blocks`` stages, which (with its head convolution) belong to the
trained step: training tunes them on cached feature maps. ``forward(images)`` is the image embedding, so the
network serves where features are asked for (``eval probe``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rsvision.errors import WeightsError
from rsvision.models.backbones import build_timm
from rsvision.models.language import MINILM_MODEL, MINILM_PACKAGE, build_text_tower, check_texts, minilm_version

ARCH = "dual_encoder"
INIT_LOGIT_SCALE = math.log(1 / 0.07)  # CLIP's initial temperature
MAX_LOGIT_SCALE = math.log(100.0)  # and its clamp: a larger scale destabilises the softmax


class DualEncoder(nn.Module):
    """Image and text embeddings (``embed_dim`` values, unit length) and the logit scale between them."""

    def __init__(
        self,
        text_tower: str = "minilm",
        embed_dim: int = 256,
        image_arch: str = "efficientnet_lite0",
        in_chans: int = 3,
        projection: str = "linear",
        dropout: float = 0.0,
        tuned_blocks: int = 0,
        **text_kwargs: Any,
    ):
        super().__init__()
        self.image_backbone = build_timm(image_arch, num_classes=0, in_chans=in_chans)
        self.tuned_blocks = tuned_blocks
        if tuned_blocks and not all(hasattr(self.image_backbone, a) for a in ("blocks", "conv_head", "bn2")):
            raise WeightsError(
                f"tuned_blocks needs an EfficientNet-style backbone (blocks, conv_head); not {image_arch}"
            )
        self.image_proj = projection_head(self.image_backbone.num_features, embed_dim, projection, dropout)
        self.text = build_text_tower(text_tower, **text_kwargs)
        self.text_proj = projection_head(self.text.out_dim, embed_dim, projection, dropout)
        self.logit_scale = nn.Parameter(torch.tensor(INIT_LOGIT_SCALE))
        self.text_tower, self.embed_dim = text_tower, embed_dim

    def tuned_image_modules(self) -> list[nn.Module]:
        """The backbone's parts in the trained step: its last ``tuned_blocks`` stages and head convolution."""
        if not self.tuned_blocks:
            return []
        bb = self.image_backbone
        return [*bb.blocks[len(bb.blocks) - self.tuned_blocks :], bb.conv_head, bb.bn2]

    @property
    def scale(self) -> torch.Tensor:
        """exp(logit scale), clamped at 100 as CLIP does."""
        return self.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()

    def image_features(self, x: torch.Tensor) -> torch.Tensor:
        """The frozen step on preprocessed images: (N, F) pooled backbone features, or with ``tuned_blocks`` the
        (N, C, h, w) maps entering the tuned stages."""
        bb = self.image_backbone
        if not self.tuned_blocks:
            return bb(x)
        return bb.blocks[: len(bb.blocks) - self.tuned_blocks](bb.bn1(bb.conv_stem(x)))

    def pooled_features(self, features: torch.Tensor) -> torch.Tensor:
        """(N, F) pooled backbone features from :meth:`image_features`' output."""
        if not self.tuned_blocks:
            return features.float()
        bb = self.image_backbone
        h = features.float()
        for module in self.tuned_image_modules():
            h = module(h)
        return bb.forward_head(h)

    def embed_image_features(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_proj(self.pooled_features(features)), dim=-1)

    def embed_text_features(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_proj(self.text(features).float()), dim=-1)

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed_image_features(self.image_features(x))

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        return self.embed_text_features(self.text.featurize(check_texts(texts)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_image(x)

    def logits(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """(images x texts) scaled cosine similarities."""
        return self.scale * image_emb @ text_emb.T


def projection_head(width: int, embed_dim: int, kind: str, dropout: float) -> nn.Module:
    """``linear`` (CLIP's) or ``mlp``: dropout, a hidden layer of 1,024 with GELU, dropout, the output layer (it
    measured better on RSICD's validation part over the frozen towers' features; docs/language.md)."""
    if kind == "linear":
        return nn.Linear(width, embed_dim)
    if kind == "mlp":
        hidden = 1024
        return nn.Sequential(
            nn.Dropout(dropout), nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, embed_dim)
        )
    raise WeightsError(f"unknown projection {kind!r}: linear or mlp")


def minilm_card_kwargs(tune_last_layer: bool = False) -> dict[str, Any]:
    """The ``architecture_kwargs`` naming the MiniLM text tower by package and version (its weights stay there)."""
    return {
        "text_tower": "minilm",
        "text_model": MINILM_MODEL,
        "text_package": f"{MINILM_PACKAGE}=={minilm_version()}",
        "tune_last_layer": tune_last_layer,
    }


def _check_package(pinned: str | None) -> None:
    """Warn when the installed MiniLM package is not the one the card was trained with (its weights may differ)."""
    if not pinned:
        return
    wanted = pinned.partition("==")[2]
    have = minilm_version()
    if have is not None and wanted and have != wanted:
        warnings.warn(
            f"this model's text tower was trained with {pinned}; {MINILM_PACKAGE} {have} is installed", stacklevel=3
        )


def build_dual_encoder(num_classes: int = 0, in_chans: int = 3, **kwargs: Any) -> DualEncoder:
    """The registry's builder: ``architecture_kwargs`` of a card -> the network (no classes: it embeds)."""
    if num_classes:
        raise WeightsError(f"a dual encoder has no classes (got {num_classes}): its card's task is embedding")
    kwargs = dict(kwargs)
    _check_package(kwargs.pop("text_package", None))
    kwargs.pop("text_model", None)
    return DualEncoder(in_chans=in_chans, **kwargs)


DUAL_ENCODER_BUILDERS = {ARCH: build_dual_encoder}
