"""Zero-shot classification: a dual encoder and a list of class names make a classifier with no training.

Each class's text embedding is the normalised mean over a small prompt ensemble (CLIP's recipe: one phrasing
alone is noisier than several), and an image's logits are the model's logit scale times its cosine similarity to
each class. The result is an ordinary :class:`~rsvision.models.classifier.Classifier` with an in-memory card, so the
folder-to-CSV path, ``eval classification`` and the engine's tile classifier
(:class:`rsvision.tasks.classification.TileClassifier`) take it unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rsvision.errors import RsvisionError
from rsvision.models.classifier import Classifier
from rsvision.models.embedder import Embedder
from rsvision.models.weights import Task, Weights

PROMPTS = (
    "an aerial photo of a {}.",
    "a satellite image of {}.",
    "a remote sensing image of a {}.",
    "{} seen from above.",
)


class ZeroShotHead(nn.Module):
    """Images -> (N, K) logits: ``scale`` x cosine similarity of the image embedding to each class embedding."""

    def __init__(self, encoder: nn.Module, class_embeddings: torch.Tensor, scale: float):
        super().__init__()
        self.encoder = encoder
        self.register_buffer("class_embeddings", F.normalize(class_embeddings.float(), dim=-1))
        self.scale = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.encoder.encode_image(x) @ self.class_embeddings.T


def class_embeddings(embedder: Embedder, phrases: Sequence[str], prompts: Sequence[str] = PROMPTS) -> torch.Tensor:
    """(K, D) unit vectors: each phrase's embedding under every prompt, averaged, then normalised again."""
    if not prompts:
        raise RsvisionError("zero-shot classification needs at least one prompt ('an aerial photo of a {}.')")
    texts = [p.format(c) for c in phrases for p in prompts]
    emb = torch.from_numpy(embedder.embed_texts(texts)).reshape(len(phrases), len(prompts), -1)
    return F.normalize(emb.mean(1), dim=-1)


def zero_shot_card(
    embedder: Embedder, labels: Sequence[str], phrases: Sequence[str], prompts: Sequence[str]
) -> Weights:
    """A classification card for the dual encoder's classifier over ``labels``: the encoder's preprocessing, and a
    sha256 of the encoder's file digest, classes and prompts, so an engine run resumed with other classes or
    prompts starts afresh instead of mixing two classifiers' tiles."""
    source = embedder.weights
    key = json.dumps([source.sha256 if source else embedder.name, list(labels), list(phrases), list(prompts)])
    return Weights(
        name=f"{embedder.name} (zero-shot)",
        file=source.file if source else embedder.name,
        sha256=hashlib.sha256(key.encode()).hexdigest(),
        task=Task.CLASSIFICATION,
        architecture=f"zero-shot:{source.architecture if source else 'dual_encoder'}",
        preprocessing=embedder.preprocessing,
        gsd_m=source.gsd_m if source else None,
        classes=list(labels),
        licence=source.licence if source else "-",
        command=source.command if source else "-",
        notes={"class_texts": dict(zip(labels, phrases)), "prompts": list(prompts)},
    )


def zero_shot_classifier(
    embedder: Embedder,
    labels: Sequence[str],
    phrases: Sequence[str] | None = None,
    prompts: Sequence[str] = PROMPTS,
    bands: Sequence[str] | None = None,
) -> Classifier:
    """A classifier over ``labels`` (the names it reports) from the dual encoder, each class described by its
    phrase (``phrases``, default the labels themselves: ``eval`` reports folder names but prompts with their
    words). ``bands`` names the bands of the images it will be given, as :class:`Classifier` takes them."""
    phrases = list(labels) if phrases is None else list(phrases)
    if len(phrases) != len(labels):
        raise RsvisionError(f"{len(labels)} class labels but {len(phrases)} class texts")
    head = ZeroShotHead(embedder.module, class_embeddings(embedder, phrases, prompts), embedder.scale)
    card = zero_shot_card(embedder, labels, phrases, prompts)
    return Classifier(card, bands, module=head, device=embedder.device)
