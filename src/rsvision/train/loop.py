"""An explicit training loop for image classifiers: augment, step, validate, checkpoint, resume.

Determinism: the model is initialised by the caller; every epoch seeds its own generator from
``(seed, epoch)`` for shuffling and augmentation (and the global RNG for dropout), and the learning
rate is a function of the global step, so a run resumed from its epoch checkpoint repeats the
uninterrupted run exactly (same process settings and thread count).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from torch import nn

from rsvision.core.progress import progress_bar
from rsvision.errors import RsvisionError
from rsvision.models.preprocess import Preprocessing
from rsvision.train.augment import colour_jitter, random_d4, random_resized_crop


@dataclass
class TrainConfig:
    """Hyper-parameters of one run; a checkpoint resumes only under the same values."""

    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "adamw"  # or "sgd" (Nesterov momentum)
    lr: float = 2e-3
    weight_decay: float = 0.05
    momentum: float = 0.9
    warmup_epochs: float = 2.0
    final_lr_ratio: float = 0.0
    label_smoothing: float = 0.1
    crop_scale: tuple[float, float] = (0.35, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    d4: bool = True
    jitter: float = 0.3
    seed: int = 0
    bf16: bool = False
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.optimizer not in ("adamw", "sgd"):
            raise RsvisionError(f"optimizer must be adamw or sgd, got {self.optimizer!r}")
        if self.epochs < 1 or self.batch_size < 2:
            raise RsvisionError("epochs must be >= 1 and batch_size >= 2")
        self.crop_scale = tuple(self.crop_scale)
        self.crop_ratio = tuple(self.crop_ratio)


@dataclass
class ArrayData:
    """Images (N, C, H, W) of one size (numpy, memory-mapped is fine) and their integer labels."""

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.images.ndim != 4 or len(self.images) != len(self.labels):
            raise RsvisionError(f"images {self.images.shape} and labels {self.labels.shape} do not pair up")

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val_accuracy: float = float("nan")


def lr_at(step: int, total: int, warmup: int, base: float, final_ratio: float = 0.0) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay from ``base`` to ``base * final_ratio``."""
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * (final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def decay_groups(params: Iterable[nn.Parameter], weight_decay: float, **settings: Any) -> list[dict]:
    """Two parameter groups: matrices and kernels with ``weight_decay``, biases and normalisation weights (1-d)
    without; ``settings`` go into both."""
    params = list(params)
    return [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay, **settings},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0, **settings},
    ]


def make_optimizer(model: nn.Module, config: TrainConfig, extra_groups: Sequence[dict] = ()) -> torch.optim.Optimizer:
    """AdamW or SGD over the trainable parameters (:func:`decay_groups`), then ``extra_groups`` with their own
    settings (their parameters are left out of the first two)."""
    taken = {id(p) for group in extra_groups for p in group["params"]}
    free = [p for p in model.parameters() if p.requires_grad and id(p) not in taken]
    groups = [*decay_groups(free, config.weight_decay), *extra_groups]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=config.lr)


def _generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def augment_batch(raw: torch.Tensor, prep: Preprocessing, config: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Raw (N, C, H, W) pixels -> augmented, standardised (N, C, S, S) float32 with S = prep.input_size."""
    if config.d4:  # on the raw square images before cropping: the crop distribution is D4-invariant
        raw, _ = random_d4(raw, gen)
    x = random_resized_crop(raw.float(), prep.input_size, config.crop_scale, config.crop_ratio, gen)
    x = colour_jitter(x, config.jitter, gen, vmax=prep.value_range[1])
    return prep.normalise(x)


def _forward(model: nn.Module, x: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    if config.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
        return model(x).float()


@torch.no_grad()
def predict_logits(
    model: nn.Module, images: np.ndarray, prep: Preprocessing, batch_size: int = 128, config: TrainConfig | None = None
) -> np.ndarray:
    """(N, K) logits of raw images resized and standardised by ``prep`` (the inference preprocessing)."""
    config = config or TrainConfig()
    was = model.training
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
        out.append(_forward(model, prep.normalise(prep.resize(batch.float())), config))
    model.train(was)
    return torch.cat(out).numpy()


def as_shipped(model: nn.Module) -> None:
    """Round the weights through float16 as :func:`~rsvision.models.weights.save_weights` stores them, so that the
    card's figures are the shipped model's (``rsvision eval`` reproduces them to the last digit)."""
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())


def holdout_indices(n: int, fraction: float, seed: int, where) -> tuple[list[int], list[int]]:
    """Training and validation indices of ``n`` whole images: a seeded ``fraction`` of them held out (at least one,
    and one left to train on). ``where`` (the dataset) starts the error for fewer than two images."""
    if n < 2:
        raise RsvisionError(f"{where}: {n} image(s); training needs two or more (one to validate on)")
    n_val = min(n - 1, max(1, round(fraction * n)))
    val = set(np.random.default_rng(seed).choice(n, n_val, replace=False).tolist())
    return [i for i in range(n) if i not in val], sorted(val)


def _save(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _checked_resume(path: Path, config, n_train: int | None) -> dict:
    """The checkpoint at ``path``, refused unless made under the same ``config`` (any settings dataclass) and
    number of training samples (``None`` for trainers whose checkpoints do not record it): a resumed run must repeat
    the uninterrupted one."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    saved = json.loads(json.dumps(state.get("config", {})))  # tuples and lists compare alike
    now = json.loads(json.dumps(asdict(config)))
    # a setting added since the checkpoint was made is taken at its default (what the older run trained under)
    defaults = json.loads(json.dumps({f.name: f.default for f in fields(config) if f.default is not MISSING}))
    diff = [k for k in now if saved.get(k, defaults.get(k)) != now[k]]
    if state.get("n_train") != n_train:
        diff.append(f"n_train ({state.get('n_train')} vs {n_train})")
    if diff:
        raise RsvisionError(
            f"{path}: checkpoint was made with other settings ({', '.join(map(str, diff))}); "
            "use another output or work folder to start a new run"
        )
    return state


def fit(
    model: nn.Module,
    train: ArrayData,
    val: ArrayData | None,
    prep: Preprocessing,
    config: TrainConfig,
    out_dir: str | os.PathLike,
    *,
    log: Callable[[str], None] | None = print,
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` on ``train`` (raw pixels; ``prep`` gives scaling, normalisation and input size),
    validating on ``val`` after each epoch. ``out_dir/last.pt`` is written every epoch and resumed
    from when present (same settings), ``out_dir/best.pt`` holds the best validation epoch (the last
    epoch without ``val``), and
    ``out_dir/history.jsonl`` one line of metrics per epoch."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    last, best_path = out / "last.pt", out / "best.pt"
    optimizer = make_optimizer(model, config)
    steps_per_epoch = len(train) // config.batch_size
    if steps_per_epoch < 1:
        raise RsvisionError(f"{len(train)} training images are fewer than one batch of {config.batch_size}")
    total, warmup = steps_per_epoch * config.epochs, round(config.warmup_epochs * steps_per_epoch)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    result, start_epoch = TrainResult(), 0
    if last.is_file():
        state = _checked_resume(last, config, len(train))
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = state["epoch"]
        result = TrainResult(state["history"], state["best_epoch"], state["best_val_accuracy"])
        if log and start_epoch < config.epochs:
            log(f"resuming from {last} after epoch {start_epoch}/{config.epochs}")
    for epoch in range(start_epoch, config.epochs):
        row = _train_epoch(model, optimizer, train, prep, config, epoch, steps_per_epoch, total, warmup, progress)
        if val is not None and len(val):
            logits = predict_logits(model, val.images, prep, config=config)
            tv = torch.from_numpy(val.labels)
            row["val_loss"] = float(F.cross_entropy(torch.from_numpy(logits), tv))
            row["val_accuracy"] = float((logits.argmax(1) == val.labels).mean())
        if row.get("val_accuracy") is None or not (row["val_accuracy"] <= result.best_val_accuracy):  # nan: first
            result.best_epoch, result.best_val_accuracy = epoch + 1, row.get("val_accuracy", float("nan"))
            _save(
                {"model": model.state_dict(), "epoch": epoch + 1, "val_accuracy": result.best_val_accuracy}, best_path
            )
        result.history.append(row)
        _save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch + 1,
                "history": result.history,
                "best_epoch": result.best_epoch,
                "best_val_accuracy": result.best_val_accuracy,
                "config": asdict(config),
                "n_train": len(train),
            },
            last,
        )
        (out / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in result.history))
        if log:
            log(_line(row, config.epochs))
    return result


def _line(row: dict, epochs: int) -> str:
    parts = [
        f"epoch {row['epoch']}/{epochs}",
        f"lr {row['lr']:.2e}",
        f"loss {row['loss']:.4f}",
        f"train_acc {row['train_accuracy']:.4f}",
    ]
    if "val_accuracy" in row:
        parts += [f"val_loss {row['val_loss']:.4f}", f"val_acc {row['val_accuracy']:.4f}"]
    parts += [f"{row['seconds']:.0f}s", f"{row['images_per_s']:.0f} img/s"]
    return "  ".join(parts)


def _train_epoch(
    model,
    optimizer,
    train: ArrayData,
    prep: Preprocessing,
    config: TrainConfig,
    epoch: int,
    steps: int,
    total: int,
    warmup: int,
    progress: bool,
) -> dict:
    gen = _generator(config.seed, epoch)
    torch.manual_seed(config.seed * 1_000_003 + epoch)  # dropout and other global-RNG layers
    order = torch.randperm(len(train), generator=gen)[: steps * config.batch_size].numpy()
    model.train()
    t0 = time.perf_counter()
    loss_sum, correct, seen, lr = 0.0, 0, 0, config.lr
    bar = _progress(progress, f"epoch {epoch + 1}/{config.epochs}", steps)
    with bar as task_bar:
        for i in range(steps):
            idx = np.sort(order[i * config.batch_size : (i + 1) * config.batch_size])  # sorted reads of a memmap
            raw = torch.from_numpy(np.ascontiguousarray(train.images[idx]))
            y = torch.from_numpy(train.labels[idx])
            x = augment_batch(raw, prep, config, gen)
            lr = lr_at(epoch * steps + i, total, warmup, config.lr, config.final_lr_ratio)
            for group in optimizer.param_groups:
                group["lr"] = lr
            logits = _forward(model, x, config)
            loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            task_bar(loss_sum / seen)
    seconds = time.perf_counter() - t0
    return {
        "epoch": epoch + 1,
        "lr": lr,
        "loss": loss_sum / seen,
        "train_accuracy": correct / seen,
        "seconds": seconds,
        "images_per_s": seen / seconds,
    }


class _progress:
    """A rich progress bar for one epoch (a no-op when disabled); calling the handle advances one step."""

    def __init__(self, enabled: bool, title: str, steps: int):
        self.enabled, self.title, self.steps = enabled, title, steps

    def __enter__(self) -> Callable[[float], None]:
        if not self.enabled:
            return lambda loss: None
        self.bar = progress_bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[loss]}"),
            TimeRemainingColumn(),
        )
        self.bar.__enter__()
        task = self.bar.add_task(self.title, total=self.steps, loss="")  # no loss shown before the first batch
        return lambda loss: self.bar.update(task, advance=1, loss=f"loss {loss:.3f}")

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)
