"""The built-in AID scene classifier: a half-width ResNet-18 trained from scratch on 128 px crops of
``rsicd-train`` less a stratified 10 % validation part; the inference size (whole image resized) is
chosen on that validation part, and ``rsicd-test`` is read only to report.

Rebuild: ``python -m rsvision.train.recipes aid_classifier --data ../shared/data/AID --out src/rsvision/models/weights``
(the same command resumes from ``--work``'s checkpoints). ``--out`` has no default: the shipped weights are
replaced only when asked for by name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
import torch
from torch import nn

from rsvision.core.settings import torch_threads
from rsvision.datasets.base import stratified_split
from rsvision.datasets.folder import FolderDataset
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import build_model
from rsvision.train.cache import band_statistics, image_cache
from rsvision.train.loop import ArrayData, TrainConfig, TrainResult, fit, predict_logits
from rsvision.train.publish import publish_classifier

NAME = "aid_resnet18w05"
ARCH = "resnet18"
ARCH_KWARGS = {"width": 0.5}
BANDS = ["red", "green", "blue"]
CACHE_SIZE = 150  # the shared AID copy's native size: cached without resampling
VAL_FRACTION = 0.1
CONFIG = TrainConfig(epochs=55, batch_size=64, optimizer="adamw", lr=2e-3, weight_decay=0.05, warmup_epochs=3,
                     label_smoothing=0.1, crop_scale=(0.35, 1.0), d4=True, jitter=0.3, seed=0, bf16=True,
                     channels_last=True)
INPUT_SIZE = 128  # training crops
INFERENCE_SIZES = (128, 144, 160)  # whole-image sizes compared on the validation part
LICENCE = "Weights: Apache-2.0 (rsvision). Trained on AID (academic use, Xia et al. 2017)."


def choose_input_size(model, val: ArrayData, prep: Preprocessing, sizes, log) -> tuple[Preprocessing, dict[int, float]]:
    """The inference size with the best validation accuracy (the smallest on a tie). Random resized crops
    show objects larger than a whole-image resize does, so a somewhat larger test size can do better."""
    scores = {}
    for size in sizes:
        candidate = prep.model_copy(update={"input_size": size})
        predicted = predict_logits(model, val.images, candidate, config=CONFIG).argmax(1)
        scores[size] = float((predicted == val.labels).mean())
    best = max(sizes, key=lambda s: (scores[s], -s))
    log("validation accuracy by inference size: " + ", ".join(f"{s} px {a:.4f}" for s, a in scores.items())
        + f" -> {best} px")
    return prep.model_copy(update={"input_size": best}), scores


def command(data: str, out: str, work: str) -> str:
    return f"python -m rsvision.train.recipes aid_classifier --data {data} --out {out} --work {work}"


def aid_classifier(*, out: str, data: str = "../shared/data/AID", work: str = "runs/aid", threads: int = 2,
                   progress: bool = True) -> Path:
    """Train (or resume) the AID classifier at ``threads`` torch threads (restored afterwards), then evaluate it on
    rsicd-test and write ``out/NAME.safetensors`` + ``NAME.json``; every line goes to stdout and ``work/train.log``."""
    work_dir = Path(work)
    work_dir.mkdir(parents=True, exist_ok=True)
    with open(work_dir / "train.log", "a", buffering=1) as log_file, torch_threads(threads):
        log = _logger(log_file)
        log(f"$ {command(data, out, work)}  (threads {threads}, pid {os.getpid()})")
        started = time.time()
        model, classes, val, prep, result = train_model(data, work_dir, progress, log)
        prep, size_scores = choose_input_size(model, val, prep, INFERENCE_SIZES, log)
        return publish_classifier(
            name=NAME, arch=ARCH, arch_kwargs=ARCH_KWARGS, classes=classes, prep=prep, work_dir=work_dir,
            out_dir=Path(out), data=data, test_split="rsicd-test", result=result, config=CONFIG,
            command=command(data, out, work), train_seconds=sum(r["seconds"] for r in result.history),
            dataset_name="AID", licence=LICENCE, threads=threads, log=log, started=started,
            train_input_size=INPUT_SIZE,
            extra_notes={"validation_accuracy_by_inference_size": {str(k): round(v, 4)
                                                                   for k, v in size_scores.items()}},
        )


def _logger(log_file: IO[str]) -> Callable[[str], None]:
    """A function printing a line and appending it, time-stamped, to the open ``log_file``."""

    def log(line: str) -> None:
        print(line, flush=True)
        log_file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {line}\n")

    return log


def train_model(data: str, work_dir: Path, progress: bool, log: Callable[[str], None]
          ) -> tuple[nn.Module, list[str], ArrayData, Preprocessing, TrainResult]:
    """Fit (or resume) on rsicd-train less its validation part; returns the best validation epoch's model, the
    classes, the validation part, the training preprocessing and the run's result."""
    train_all = FolderDataset(data, split="rsicd-train")
    labels = np.array([s.targets["label"] for s in train_all])
    val_idx, train_idx = stratified_split(labels, fraction=VAL_FRACTION, seed=0)
    images = image_cache(train_all, CACHE_SIZE, work_dir / f"cache_rsicd-train_{CACHE_SIZE}.npy", progress=progress)
    train_part = ArrayData(images[train_idx], labels[train_idx])  # fancy indexing loads the part into memory
    val = ArrayData(images[val_idx], labels[val_idx])
    mean, std = band_statistics(train_part.images, 255.0)
    prep = Preprocessing(bands=BANDS, scale=255.0, value_range=(0, 255), mean=mean, std=std, input_size=INPUT_SIZE)
    log(f"rsicd-train: {len(train_part)} train + {len(val)} validation images, {len(train_all.classes)} classes; "
        f"mean {np.round(mean, 4).tolist()} std {np.round(std, 4).tolist()}")
    torch.manual_seed(CONFIG.seed)
    model = build_model(ARCH, num_classes=len(train_all.classes), bands=BANDS, **ARCH_KWARGS)
    result = fit(model, train_part, val, prep, CONFIG, work_dir, log=log, progress=progress)
    log(f"training done: best validation accuracy {result.best_val_accuracy:.4f} at epoch {result.best_epoch}")
    model.load_state_dict(torch.load(work_dir / "best.pt", map_location="cpu", weights_only=True)["model"])
    return model, list(train_all.classes), val, prep, result
