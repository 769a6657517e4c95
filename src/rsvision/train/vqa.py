"""Training the learned VQA baseline on cached features: the frozen backbone's image features (with the before date's
difference) and frozen MiniLM question embeddings; only the fusion and the answer MLP learn. The epoch with the best
validation accuracy is kept."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from rsvision.models.vqa import VqaFusion


@dataclass(frozen=True)
class VqaConfig:
    epochs: int = 40
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0


@dataclass
class VqaResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val_accuracy: float = -1.0
    seconds: float = 0.0


@dataclass(frozen=True)
class VqaFeatures:
    """Question ``q`` asks about image row ``image_row[q]`` of ``images``; ``labels[q]`` indexes the answers."""

    images: torch.Tensor
    questions: torch.Tensor
    image_row: np.ndarray
    labels: torch.Tensor


def fit_vqa(
    model: VqaFusion, train: VqaFeatures, val: VqaFeatures, config: VqaConfig, log: Callable[[str], None] = print
) -> VqaResult:
    torch.manual_seed(config.seed)
    params = [p for n, p in model.named_parameters() if not n.startswith("image_backbone.")]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    result, best = VqaResult(), None
    gen = torch.Generator().manual_seed(config.seed)
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(train.labels), generator=gen)
        losses = []
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size]
            logits = model.fuse(train.images[train.image_row[idx]], train.questions[idx])
            loss = F.cross_entropy(logits, train.labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        accuracy = vqa_accuracy(model, val)
        if accuracy > result.best_val_accuracy:
            result.best_epoch, result.best_val_accuracy = epoch, accuracy
            best = {k: v.clone() for k, v in model.state_dict().items()}
        result.seconds += time.perf_counter() - t0
        result.history.append({"epoch": epoch, "loss": round(float(np.mean(losses)), 4), "val_accuracy": accuracy})
        log(f"epoch {epoch} loss {np.mean(losses):.4f} val accuracy {accuracy:.4f}")
    model.load_state_dict(best)
    return result


@torch.no_grad()
def vqa_accuracy(model: VqaFusion, data: VqaFeatures) -> float:
    model.eval()
    logits = model.fuse(data.images[data.image_row], data.questions)
    return round(float((logits.argmax(1) == data.labels).float().mean()), 4)
