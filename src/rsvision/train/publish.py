"""Turn a finished training run into shipped weights: test metrics, confusion matrix, speed, card."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from rsvision.datasets.folder import FolderDataset
from rsvision.models.classifier import Classifier
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import build_model
from rsvision.models.weights import MeasuredMetrics, save_weights
from rsvision.train.evaluate import evaluate_classifier, images_per_second
from rsvision.train.loop import TrainConfig, TrainResult


def plot_confusion(matrix: np.ndarray, classes: list[str], path: Path, title: str) -> Path:
    """Row-normalised confusion matrix (rows = true class) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(matrix, dtype=float)
    rows = m / np.maximum(m.sum(1, keepdims=True), 1)
    n = len(classes)
    fig, ax = plt.subplots(figsize=(0.32 * n + 3, 0.32 * n + 2.5))
    im = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(n), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    for i in range(n):
        for j in range(n):
            if m[i, j]:
                ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=5,
                        color="white" if rows[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def publish_classifier(*, name: str, arch: str, arch_kwargs: dict, classes: list[str], prep: Preprocessing,
                       work_dir: Path, out_dir: Path, data: str, test_split: str, result: TrainResult,
                       config: TrainConfig, command: str, train_seconds: float, dataset_name: str, licence: str,
                       threads: int, log: Callable[[str], None], started: float, gsd_m: float | None = None,
                       train_input_size: int | None = None, extra_notes: dict | None = None) -> Path:
    """Best validation epoch -> ``out_dir/NAME.safetensors`` + ``NAME.json`` with test metrics, and
    ``NAME_confusion.png``; the test split is touched only here."""
    best = torch.load(work_dir / "best.pt", map_location="cpu", weights_only=True)
    model = build_model(arch, num_classes=len(classes), bands=prep.bands, **arch_kwargs)
    model.load_state_dict(best["model"])
    card = dict(architecture=arch, architecture_kwargs=arch_kwargs, preprocessing=prep, gsd_m=gsd_m,
                classes=classes, licence=licence, command=command)
    record = save_weights(model, out_dir, name, **card)  # first without metrics: evaluate the shipped file
    classifier = Classifier(record)
    test = FolderDataset(data, split=test_split)
    t0 = time.time()
    metrics = evaluate_classifier(classifier, test, progress=False)
    metrics_tta = evaluate_classifier(classifier, test, tta=True, progress=False)
    log(f"{test_split}: OA {metrics['overall_accuracy']:.4f} AA {metrics['average_accuracy']:.4f} "
        f"kappa {metrics['kappa']:.4f} ({metrics['n_images']} images, {metrics['n_failed']} failed, "
        f"{time.time() - t0:.0f}s); with D4 TTA OA {metrics_tta['overall_accuracy']:.4f}")
    speed = images_per_second(classifier.model, len(prep.bands), prep.input_size, threads=threads)
    png = plot_confusion(np.array(metrics["confusion_matrix"]), classes, out_dir / f"{name}_confusion.png",
                         f"{name} on {dataset_name} {test_split}: OA {metrics['overall_accuracy']:.3f}, "
                         f"kappa {metrics['kappa']:.3f}")
    keys = ("overall_accuracy", "average_accuracy", "kappa")
    record.metrics = [
        MeasuredMetrics(dataset=dataset_name, split=test_split, values={k: metrics[k] for k in keys}),
        MeasuredMetrics(dataset=dataset_name, split=f"{test_split} (D4 TTA)", values={k: metrics_tta[k] for k in keys}),
        MeasuredMetrics(dataset=dataset_name, split=f"rsicd-train validation part (10 %, stratified, seed 0) at "
                        f"{train_input_size or prep.input_size} px, best epoch",
                        values={"overall_accuracy": result.best_val_accuracy}),
    ]
    record.notes = {
        "confusion_matrix_png": png.name,
        "images_per_s_cpu": round(speed, 1),
        "images_per_s_setting": f"float32 inference, batch 64, {threads} CPU threads, {prep.input_size} px",
        "training_seconds": round(train_seconds),
        "training_hardware": f"CPU, {threads} threads (shared), bfloat16 autocast",
        "trained_from": "scratch (random initialisation)",
        "best_epoch": result.best_epoch,
        "epochs": config.epochs,
        "train_config": asdict(config),
        "validation_curve": [round(r.get("val_accuracy", float("nan")), 4) for r in result.history],
        "input": "the whole image resized to input_size (AID: 600 px originals, 150 px in the shared copy)",
        "training_crop_size": train_input_size or prep.input_size,
        **(extra_notes or {}),
    }
    record.save_card()
    log(f"wrote {record.weights_path} and {record.weights_path.with_suffix('.json')} "
        f"({speed:.0f} images/s on {threads} threads; this run took {(time.time() - started) / 60:.0f} min)")
    return record.weights_path
