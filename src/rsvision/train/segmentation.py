"""Training encoder-decoders on image / mask pairs: random square crops under a random flip or quarter turn (the
same for image and mask) with colour jitter, cross-entropy that skips unlabeled pixels, AdamW with warm-up and
cosine decay, validation mIoU on whole held-out images after each epoch, the best epoch kept.

Resumable: after every epoch the model, optimiser, history and best state go to ``work/last.pt``; a run started
again with the same settings continues from there and repeats the uninterrupted run (each epoch draws its crops
from a generator seeded by ``(seed, epoch)``, and the learning rate is a function of the step).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rsvision.errors import RsvisionError
from rsvision.metrics.segmentation import SegmentationMetric
from rsvision.models.preprocess import Preprocessing
from rsvision.models.tta import d4_transform
from rsvision.train.augment import colour_jitter
from rsvision.train.loop import _progress, _save, lr_at

STRIDE = 32


@dataclass
class SegTrainConfig:
    """Settings of one run; a checkpoint resumes only under the same values."""

    epochs: int = 30
    steps: int = 60  # batches per epoch
    batch_size: int = 8
    crop: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    jitter: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.steps < 1 or self.batch_size < 1 or self.crop % STRIDE:
            raise RsvisionError(f"epochs, steps and batch_size must be >= 1 and crop a multiple of {STRIDE}")


@dataclass
class MaskPairs:
    """Images ``(C, H, W)`` (raw values) and their label masks ``(H, W)`` (int64; ``ignore_index`` unlabeled)."""

    images: list[np.ndarray]
    masks: list[np.ndarray]
    ignore_index: int | None = None
    ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for image, mask in zip(self.images, self.masks):
            if image.shape[1:] != mask.shape:
                raise RsvisionError(f"an image of {image.shape[1:]} pixels has a mask of {mask.shape}")

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class SegTrainResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_miou: float = -1.0
    seconds: float = 0.0


def sample_batch(
    pairs: MaskPairs, config: SegTrainConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random crops (images drawn in proportion to their pixels; an image smaller than the crop is
    padded, with ignored labels), each under one random D4 element: raw ``(B, C, S, S)`` float and ``(B, S, S)``
    long labels."""
    s = config.crop
    sizes = torch.tensor([m.size for m in pairs.masks], dtype=torch.float64)
    picks = torch.multinomial(sizes / sizes.sum(), config.batch_size, replacement=True, generator=generator)
    ignore = -100 if pairs.ignore_index is None else pairs.ignore_index
    xs, ys = [], []
    for i in picks.tolist():
        image, mask = pairs.images[i], pairs.masks[i]
        h, w = mask.shape
        y0 = int(torch.randint(0, max(1, h - s + 1), (1,), generator=generator))
        x0 = int(torch.randint(0, max(1, w - s + 1), (1,), generator=generator))
        x = torch.zeros((image.shape[0], s, s), dtype=torch.float32)
        y = torch.full((s, s), ignore, dtype=torch.long)
        part = image[:, y0 : y0 + s, x0 : x0 + s]
        x[:, : part.shape[1], : part.shape[2]] = torch.from_numpy(np.ascontiguousarray(part, dtype=np.float32))
        y[: part.shape[1], : part.shape[2]] = torch.from_numpy(mask[y0 : y0 + s, x0 : x0 + s].astype(np.int64))
        k = int(torch.randint(0, 8, (1,), generator=generator))
        xs.append(d4_transform(x, k))
        ys.append(d4_transform(y[None], k)[0])
    return torch.stack(xs), torch.stack(ys)


@torch.inference_mode()
def predict_mask(model: nn.Module, prep: Preprocessing, image: np.ndarray) -> np.ndarray:
    """Class ids ``(H, W)`` of one whole image (padded to the encoder's stride by reflection)."""
    x = prep.normalise(torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None])
    h, w = x.shape[-2:]
    x = F.pad(x, (0, -w % STRIDE, 0, -h % STRIDE), mode="reflect")
    return model(x)[0, :, :h, :w].argmax(0).numpy()


def evaluate_pairs(model: nn.Module, prep: Preprocessing, pairs: MaskPairs, classes: Sequence[str]) -> dict:
    """``miou``, ``overall_accuracy`` and per-class figures of the model on every pair, whole images."""
    model.eval()
    n = max(len(classes), (pairs.ignore_index or 0) + 1)
    names = list(classes) + [f"ignored{i}" for i in range(len(classes), n)]
    metric = SegmentationMetric(n, pairs.ignore_index, names)
    for image, mask in zip(pairs.images, pairs.masks):
        metric.update(predict_mask(model, prep, image), mask)
    return metric.compute()


def _augment(raw: torch.Tensor, prep: Preprocessing, config: SegTrainConfig, gen: torch.Generator) -> torch.Tensor:
    vmax = prep.value_range[1]
    return prep.normalise(colour_jitter(raw.clamp(0, vmax), config.jitter, gen, vmax=vmax))


def fit_segmenter(
    model: nn.Module,
    prep: Preprocessing,
    train: MaskPairs,
    val: MaskPairs,
    classes: Sequence[str],
    config: SegTrainConfig,
    work: Path,
    progress: bool = True,
) -> SegTrainResult:
    """Train ``model`` (in place; it ends holding the best epoch's weights) and return the history. ``work`` is
    an existing folder for the checkpoint."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]  # no decay on biases and norms
    plain = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": plain, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=config.lr)
    total, warmup = config.epochs * config.steps, round(config.warmup_epochs * config.steps)
    result, start, best_state = SegTrainResult(), 0, None
    ckpt = work / "last.pt"
    if ckpt.exists():
        saved = torch.load(ckpt, map_location="cpu", weights_only=False)
        if saved["config"] != asdict(config):
            raise RsvisionError(f"{ckpt} was made with other settings; use another --work folder or remove it")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        start, best_state = saved["epoch"] + 1, saved["best_state"]
        result = SegTrainResult(saved["history"], saved["best_epoch"], saved["best_miou"], saved["seconds"])
    ignore = -100 if train.ignore_index is None else train.ignore_index
    for epoch in range(start, config.epochs):
        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        model.train()
        losses = []
        with _progress(progress, f"epoch {epoch + 1}/{config.epochs}", config.steps) as advance:
            for step in range(config.steps):
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(epoch * config.steps + step, total, warmup, config.lr)
                raw, y = sample_batch(train, config, gen)
                loss = F.cross_entropy(model(_augment(raw, prep, config, gen)), y, ignore_index=ignore)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                advance(losses[-1])
        scores = evaluate_pairs(model, prep, val, classes)
        result.seconds += time.perf_counter() - t0
        row = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)),
            "val_miou": scores["miou"],
            "val_overall_accuracy": scores["overall_accuracy"],
            "seconds": round(time.perf_counter() - t0, 1),
        }
        result.history.append(row)
        if scores["miou"] > result.best_miou:
            result.best_epoch, result.best_miou = epoch + 1, scores["miou"]
            best_state = copy.deepcopy(model.state_dict())
        if progress:
            print(
                f"epoch {epoch + 1}/{config.epochs}: loss {row['loss']:.4f}, val mIoU {row['val_miou']:.4f}, "
                f"OA {row['val_overall_accuracy']:.4f} ({row['seconds']} s)",
                flush=True,
            )
        _save(
            {
                "config": asdict(config),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch,
                "history": result.history,
                "best_state": best_state,
                "best_epoch": result.best_epoch,
                "best_miou": result.best_miou,
                "seconds": result.seconds,
            },
            ckpt,
        )
    if best_state is not None:
        model.load_state_dict(best_state)
    return result
