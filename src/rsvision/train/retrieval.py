"""Contrastive training of a dual encoder (:mod:`rsvision.models.dual_encoder`): symmetric InfoNCE over
image-caption pairs, one caption drawn per image per epoch, the epoch chosen by validation mean recall.

On two CPU cores the frozen parts dominate: the image backbone and the frozen MiniLM are run once per run over
every image and caption (:func:`cached_array`, in the work folder) and training fits the projections (and a
scratch text tower, and the backbone's last ``tuned_blocks`` stages) on those features. The price: no image
augmentation, since a cached feature is of one view; with tuned stages the cached maps can be rotated and flipped
(``d4``), which stands in for rotating the image.
``work/last.pt`` is written every epoch and resumed from (same settings); ``best.pt`` holds the best epoch.
Determinism as :mod:`rsvision.train.loop`: each epoch seeds its own generator from ``(seed, epoch)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rsvision.core.progress import progress_bar
from rsvision.datasets.base import Dataset
from rsvision.errors import RsvisionError
from rsvision.metrics.retrieval import retrieval_recall
from rsvision.models.dual_encoder import DualEncoder
from rsvision.models.preprocess import Preprocessing
from rsvision.train.augment import random_d4
from rsvision.train.loop import _checked_resume, _save, decay_groups, lr_at, make_optimizer


@dataclass
class RetrievalConfig:
    """Settings of one run; a checkpoint resumes only under the same values."""

    epochs: int = 30
    batch_size: int = 256
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.05
    momentum: float = 0.9
    warmup_epochs: float = 1.0
    final_lr_ratio: float = 0.0
    seed: int = 0
    tuned_lr_ratio: float = 0.1  # the tuned backbone stages' learning rate, as a share of ``lr``
    d4: bool = False  # cached feature maps under a random rotation/flip each (``tuned_blocks`` > 0)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise RsvisionError("epochs must be >= 1 and batch_size >= 2")


@dataclass
class PairFeatures:
    """``images`` (N, F) backbone features; ``texts`` (T, ...) text-tower features of every caption, ``owner`` (T,)
    the image of each, in image order (captions of image 0 first)."""

    images: torch.Tensor
    texts: torch.Tensor
    owner: np.ndarray

    def __post_init__(self) -> None:
        self.owner = np.asarray(self.owner, dtype=np.int64)
        if len(self.texts) != len(self.owner) or np.any(np.diff(self.owner) < 0):
            raise RsvisionError("text features need one owning image each, in image order")
        counts = np.bincount(self.owner, minlength=len(self.images))
        if len(counts) != len(self.images) or counts.min(initial=1) == 0:
            raise RsvisionError("every image needs at least one caption")
        self.starts, self.counts = np.concatenate([[0], np.cumsum(counts)[:-1]]), counts

    def __len__(self) -> int:
        return len(self.images)

    def draw_captions(self, gen: torch.Generator) -> np.ndarray:
        """One caption index per image, uniformly among its captions."""
        u = torch.rand(len(self), generator=gen, dtype=torch.float64).numpy()
        return self.starts + np.minimum((u * self.counts).astype(np.int64), self.counts - 1)

    def subset(self, image_indices: Sequence[int]) -> PairFeatures:
        """The images at ``image_indices`` (sorted) with all their captions."""
        keep = np.sort(np.asarray(image_indices, dtype=np.int64))
        rows = np.concatenate([np.arange(s, s + c) for s, c in zip(self.starts[keep], self.counts[keep])])
        owner = np.repeat(np.arange(len(keep)), self.counts[keep])
        return PairFeatures(self.images[keep], self.texts[rows], owner)


@dataclass
class RetrievalResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val_mean_recall: float = float("nan")
    seconds: float = 0.0


def split_images(n: int, fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(train, validation)`` image indices, sorted: a seeded ``fraction`` of images for validation, so all the
    captions of an image fall on the same side."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(n * fraction)) if n > 1 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


# ----------------------------------------------------------------------------- feature caches
def fingerprint(*parts: object) -> str:
    """A short digest of what a cache was made from (sample ids, weights, settings)."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def cached_array(path: str | os.PathLike, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()`` stored at ``path`` (.npy) with ``key`` in a sidecar .json; reused while the key matches."""
    path = Path(path)
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file() and json.loads(meta.read_text()).get("key") == key:
        return np.load(path)
    array = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.npy")
    np.save(tmp, array)
    os.replace(tmp, path)
    meta.write_text(json.dumps({"key": key, "shape": list(array.shape)}))
    return array


@torch.no_grad()
def images_through(
    fn: Callable[[torch.Tensor], torch.Tensor],
    dataset: Dataset,
    prep: Preprocessing,
    batch_size: int = 64,
    progress: bool = False,
    title: str = "image features",
) -> torch.Tensor:
    """``fn`` of every image of the dataset, preprocessed as the card says, in batches, concatenated."""
    out = []
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task(f"{title} of {len(dataset)} images", total=len(dataset))
        for start in range(0, len(dataset), batch_size):
            samples = dataset.samples[start : start + batch_size]
            out.append(fn(torch.cat([prep(dataset.load_image(s), where=str(s.image)) for s in samples])))
            bar.advance(task, len(samples))
    return torch.cat(out)


def extract_image_features(
    model: DualEncoder, dataset: Dataset, prep: Preprocessing, batch_size: int = 64, progress: bool = False
) -> np.ndarray:
    """(N, F) float32 pooled backbone features of the dataset's images, preprocessed as the card says; with tuned
    stages, the (N, C, h, w) maps entering them, as float16 (half the memory; the tuned stages compute in float32)."""
    model.eval()

    def features(x: torch.Tensor) -> torch.Tensor:
        f = model.image_features(x)
        return f.half() if f.ndim == 4 else f.float()

    return images_through(features, dataset, prep, batch_size, progress).numpy()


def extract_text_features(model: DualEncoder, captions: Sequence[str], batch_size: int = 512) -> np.ndarray:
    """Text-tower features of every caption (sentence embeddings, or token ids), in caption order."""
    parts = [model.text.featurize(captions[s : s + batch_size]) for s in range(0, len(captions), batch_size)]
    return torch.cat(parts).numpy()


# ----------------------------------------------------------------------------- training
def symmetric_infonce(logits: torch.Tensor) -> torch.Tensor:
    """CLIP's loss: cross-entropy of images over texts and of texts over images, pair i matching i."""
    target = torch.arange(len(logits))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


@torch.no_grad()
def evaluate_features(model: DualEncoder, data: PairFeatures, batch_size: int = 1024) -> dict[str, float]:
    """R@1/5/10 both ways and mean recall over all the captions of ``data``'s images."""
    was = model.training
    model.eval()
    img = torch.cat(
        [model.embed_image_features(data.images[s : s + batch_size]) for s in range(0, len(data), batch_size)]
    )
    txt = torch.cat(
        [model.embed_text_features(data.texts[s : s + batch_size]) for s in range(0, len(data.texts), batch_size)]
    )
    model.train(was)
    return retrieval_recall(img.numpy(), txt.numpy(), data.owner)


def trainable_state(model: DualEncoder) -> dict[str, torch.Tensor]:
    """The state without the frozen part of the image backbone (training never changes it; checkpoints stay
    small): its tuned stages are kept."""
    tuned = tuple(f"image_backbone.{name}." for name in tuned_module_names(model))
    return {k: v for k, v in model.state_dict().items() if not k.startswith("image_backbone.") or k.startswith(tuned)}


def tuned_module_names(model: DualEncoder) -> list[str]:
    modules = {id(m) for m in model.tuned_image_modules()}
    return [name for name, m in model.image_backbone.named_modules() if id(m) in modules]


def retrieval_optimizer(model: DualEncoder, config: RetrievalConfig) -> torch.optim.Optimizer:
    """:func:`make_optimizer` over the projections, logit scale and a scratch text tower, then the tuned backbone
    stages' groups with ``lr_ratio`` ``config.tuned_lr_ratio``; the rest of the backbone frozen."""
    model.image_backbone.requires_grad_(False)
    tuned = [p for m in model.tuned_image_modules() for p in m.parameters()]
    for p in tuned:
        p.requires_grad_(True)
    groups = decay_groups(tuned, config.weight_decay, lr_ratio=config.tuned_lr_ratio)
    return make_optimizer(model, config, [g for g in groups if g["params"]])


def fit_retrieval(
    model: DualEncoder,
    train: PairFeatures,
    val: PairFeatures | None,
    config: RetrievalConfig,
    out_dir: str | os.PathLike,
    *,
    log: Callable[[str], None] | None = print,
    progress: bool = True,
) -> RetrievalResult:
    """Train ``model``'s projections, logit scale, (scratch) text tower and tuned backbone stages on cached
    features, validating each epoch; resumes from ``out_dir/last.pt``. The rest of the image backbone is frozen
    (its output is cached)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    optimizer = retrieval_optimizer(model, config)
    steps = len(train) // config.batch_size
    if steps < 1:
        raise RsvisionError(f"{len(train)} training images are fewer than one batch of {config.batch_size}")
    total, warmup = steps * config.epochs, round(config.warmup_epochs * steps)
    result, start = RetrievalResult(), 0
    if (out / "last.pt").is_file():
        state = _checked_resume(out / "last.pt", config, len(train))
        model.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        start = state["epoch"]
        result = RetrievalResult(state["history"], state["best_epoch"], state["best_val_mean_recall"], state["seconds"])
        if log and start < config.epochs:
            log(f"resuming from {out / 'last.pt'} after epoch {start}/{config.epochs}")
    for epoch in range(start, config.epochs):
        row = _train_epoch(model, optimizer, train, config, epoch, steps, total, warmup, progress)
        result.seconds += row["seconds"]
        if val is not None and len(val):
            row.update({f"val_{k}": v for k, v in evaluate_features(model, val).items()})
        score = row.get("val_mean_recall")
        if score is None or not (score <= result.best_val_mean_recall):  # nan (first epoch) or better
            result.best_epoch, result.best_val_mean_recall = epoch + 1, score if score is not None else float("nan")
            _save({"model": trainable_state(model), "epoch": epoch + 1}, out / "best.pt")
        result.history.append(row)
        _save(_checkpoint(model, optimizer, epoch, result, config, len(train)), out / "last.pt")
        (out / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in result.history))
        if log:
            log(_line(row, config.epochs))
    return result


def load_best(model: DualEncoder, out_dir: str | os.PathLike) -> DualEncoder:
    """``model`` with the best epoch's trained tensors (``out_dir/best.pt``), in eval mode."""
    state = torch.load(Path(out_dir) / "best.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"], strict=False)
    return model.eval()


def _checkpoint(model, optimizer, epoch: int, result: RetrievalResult, config: RetrievalConfig, n_train: int) -> dict:
    return {
        "model": trainable_state(model),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch + 1,
        "history": result.history,
        "best_epoch": result.best_epoch,
        "best_val_mean_recall": result.best_val_mean_recall,
        "seconds": result.seconds,
        "config": asdict(config),
        "n_train": n_train,
    }


def _line(row: dict, epochs: int) -> str:
    parts = [f"epoch {row['epoch']}/{epochs}", f"lr {row['lr']:.2e}", f"loss {row['loss']:.4f}"]
    parts.append(f"scale {row['logit_scale']:.1f}")
    if "val_mean_recall" in row:
        parts += [
            f"val R@1 i2t {row['val_i2t_r1']:.4f} t2i {row['val_t2i_r1']:.4f}",
            f"mR {row['val_mean_recall']:.4f}",
        ]
    parts.append(f"{row['seconds']:.0f}s")
    return "  ".join(parts)


def _train_epoch(
    model, optimizer, train: PairFeatures, config, epoch: int, steps: int, total: int, warmup: int, progress
):
    gen = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    torch.manual_seed(config.seed * 1_000_003 + epoch)  # dropout of a scratch text tower
    order = torch.randperm(len(train), generator=gen)[: steps * config.batch_size].numpy()
    caption = train.draw_captions(gen)
    model.train()
    t0, loss_sum, lr = time.perf_counter(), 0.0, config.lr
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task(f"epoch {epoch + 1}/{config.epochs}", total=steps)
        for i in range(steps):
            idx = order[i * config.batch_size : (i + 1) * config.batch_size]
            lr = lr_at(epoch * steps + i, total, warmup, config.lr, config.final_lr_ratio)
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_ratio", 1.0)
            images = train.images[idx]
            if config.d4 and images.ndim == 4:
                images, _ = random_d4(images, gen)
            img = model.embed_image_features(images)
            txt = model.embed_text_features(train.texts[caption[idx]])
            loss = symmetric_infonce(model.logits(img, txt))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach())
            bar.advance(task)
    seconds = time.perf_counter() - t0
    return {
        "epoch": epoch + 1,
        "lr": lr,
        "loss": loss_sum / steps,
        "logit_scale": float(model.scale.detach()),
        "seconds": seconds,
        "pairs_per_s": steps * config.batch_size / seconds,
    }
