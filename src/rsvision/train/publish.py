"""Turn a finished training run into shipped weights: test metrics, confusion matrix, speed, card.

The test metrics are measured on the written file by :func:`rsvision.bench.model_eval.evaluate_model`, the call
behind ``rsvision eval classification --data DATA --split SPLIT -m FILE``, so a card's numbers are what that
command prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsvision.bench.model_eval import evaluate_model
from rsvision.bench.plots import plot_confusion
from rsvision.models.inference import images_per_second
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import build_from_weights, build_model
from rsvision.models.weights import MeasuredMetrics, Weights, save_weights
from rsvision.train.loop import TrainConfig, TrainResult

SCORE_KEYS = ("overall_accuracy", "average_accuracy", "kappa")


def publish_classifier(
    *,
    name: str,
    arch: str,
    arch_kwargs: dict,
    classes: list[str],
    prep: Preprocessing,
    work_dir: Path,
    out_dir: Path,
    data: str,
    test_split: str,
    result: TrainResult,
    config: TrainConfig,
    command: str,
    train_seconds: float,
    dataset_name: str,
    licence: str,
    threads: int,
    log: Callable[[str], None],
    started: float,
    gsd_m: float | None = None,
    train_input_size: int | None = None,
    extra_notes: dict | None = None,
    speed_seconds: float = 10.0,
    trained_from: str = "scratch (random initialisation)",
) -> Path:
    """Best validation epoch -> ``out_dir/NAME.safetensors`` + ``NAME.json`` with test metrics, and
    ``NAME_confusion.png``; the test split is touched only here. The images/s noted on the card are measured for
    ``speed_seconds`` at ``threads`` threads."""
    best = torch.load(work_dir / "best.pt", map_location="cpu", weights_only=True)
    model = build_model(arch, num_classes=len(classes), bands=prep.bands, **arch_kwargs)
    model.load_state_dict(best["model"])
    card = dict(
        architecture=arch,
        architecture_kwargs=arch_kwargs,
        preprocessing=prep,
        gsd_m=gsd_m,
        classes=classes,
        licence=licence,
        command=command,
    )
    record = save_weights(model, out_dir, name, **card)  # first without metrics: evaluate the shipped file
    t0 = time.time()
    metrics = split_metrics(record, data, test_split)
    metrics_tta = split_metrics(record, data, test_split, tta=True)
    log(
        f"{test_split}: OA {metrics['overall_accuracy']:.4f} AA {metrics['average_accuracy']:.4f} "
        f"kappa {metrics['kappa']:.4f} ({metrics['n_images']} images, {metrics['n_failed']} failed, "
        f"{time.time() - t0:.0f}s); with D4 TTA OA {metrics_tta['overall_accuracy']:.4f}"
    )
    speed = images_per_second(
        build_from_weights(record), len(prep.bands), prep.input_size, threads=threads, seconds=speed_seconds
    )
    png = plot_confusion(
        np.array(metrics["confusion_matrix"]),
        list(metrics["per_class"]),
        out_dir / f"{name}_confusion.png",
        f"{name} on {dataset_name} {test_split}: OA {metrics['overall_accuracy']:.3f}, kappa {metrics['kappa']:.3f}",
    )
    record.metrics = [
        MeasuredMetrics(dataset=dataset_name, split=test_split, values=card_scores(metrics)),
        MeasuredMetrics(dataset=dataset_name, split=f"{test_split} (D4 TTA)", values=card_scores(metrics_tta)),
        MeasuredMetrics(
            dataset=dataset_name,
            split=f"rsicd-train validation part (10 %, stratified, seed 0) at "
            f"{train_input_size or prep.input_size} px, best epoch",
            values={"overall_accuracy": result.best_val_accuracy},
        ),
    ]
    record.notes = {
        "confusion_matrix_png": png.name,
        "images_per_s_cpu": round(speed, 1),
        "images_per_s_setting": f"float32 inference, batch 64, {threads} CPU threads, {prep.input_size} px",
        "training_seconds": round(train_seconds),
        "training_hardware": f"CPU, {threads} threads (shared), bfloat16 autocast",
        "trained_from": trained_from,
        "best_epoch": result.best_epoch,
        "epochs": config.epochs,
        "train_config": asdict(config),
        "validation_curve": [round(r.get("val_accuracy", float("nan")), 4) for r in result.history],
        "input": "the whole image resized to input_size (AID: 600 px originals, 150 px in the shared copy)",
        "training_crop_size": train_input_size or prep.input_size,
        **(extra_notes or {}),
    }
    record.save_card()
    log(
        f"wrote {record.weights_path} and {record.weights_path.with_suffix('.json')} "
        f"({speed:.0f} images/s on {threads} threads; this run took {(time.time() - started) / 60:.0f} min)"
    )
    return record.weights_path


def split_metrics(record: Weights, data: str | Path, split: str, tta: bool = False) -> dict[str, Any]:
    """The metrics ``rsvision eval classification --data DATA --split SPLIT -m FILE [--tta]`` prints for the
    written weights file, by the same call."""
    return evaluate_model("classification", data, record.weights_path, split=split, tta=tta)


def card_scores(metrics: dict[str, Any]) -> dict[str, float]:
    """The scores a card records of a metric dict."""
    return {k: metrics[k] for k in SCORE_KEYS}
