"""Training data for change models: the two dates of a change dataset stacked along the channels, ``(2C, H, W)``
(before, then after on the before's grid), with the binary change mask, in the :class:`MaskPairs` the segmentation
loop trains on (:func:`rsvision.train.segmentation.fit_segmenter`): a siamese network splits the channels again
(:mod:`rsvision.models.change`), so crops, flips and turns stay the same for both dates and the mask."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from rsvision.datasets.change import set_coregistration
from rsvision.errors import RsvisionError
from rsvision.io import open_scene
from rsvision.metrics import ChangeMetric
from rsvision.models.preprocess import Preprocessing, band_moments, standardise_bands
from rsvision.models.registry import build_model
from rsvision.models.segmentation import encoder_state_from_classifier
from rsvision.models.stem import adapt_stem
from rsvision.models.weights import MeasuredMetrics, Task, Weights, save_weights
from rsvision.train.cache import band_statistics
from rsvision.train.segmentation import (
    MaskPairs,
    SegTrainConfig,
    fit_segmenter,
    image_logits,
    predict_mask,
    start_tensors,
)

CLASSES = ("no change", "change")


def row_part(height: int, part: tuple[float, float]) -> slice:
    """The rows ``[part[0], part[1])`` of an image ``height`` rows tall, as fractions of it."""
    return slice(round(part[0] * height), round(part[1] * height))


def change_pairs(
    dataset,
    ids: Sequence[str],
    bands: Sequence[int] | None = None,
    part: tuple[float, float] = (0.0, 1.0),
) -> MaskPairs:
    """The samples ``ids`` of a change dataset (``load_image(sample, 0|1)`` and ``load_mask``) as stacked pairs:
    ``bands`` (positions, every band when None) of both dates and the rows ``part`` of each (:func:`rows_of`)."""
    by_id = {s.id: s for s in dataset}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise RsvisionError(f"{dataset.root}: no sample named {', '.join(missing)}")
    images, masks = [], []
    for sample_id in ids:
        sample = by_id[sample_id]
        before, after = dataset.load_image(sample, 0), dataset.load_image(sample, 1)
        if bands is not None:
            before, after = before[list(bands)], after[list(bands)]
        images.append(np.concatenate([before, after]))
        masks.append(dataset.load_mask(sample).astype(np.int64))
    return rows_of(MaskPairs(images, masks, None, list(ids)), part)


def rows_of(pairs: MaskPairs, part: tuple[float, float]) -> MaskPairs:
    """The rows ``part`` (fractions) of every pair: a strip of each image held out by rows keeps validation apart
    from training without losing a whole city, and one read of the pairs serves both parts."""
    rows = [row_part(mask.shape[0], part) for mask in pairs.masks]
    return MaskPairs(
        [image[:, r] for image, r in zip(pairs.images, rows)],
        [mask[r] for mask, r in zip(pairs.masks, rows)],
        pairs.ignore_index,
        list(pairs.ids),
    )


# the loss, regularisation and date handling of every change training (recipe and ``rsvision train change``):
# change x5 in the cross-entropy plus Dice, each date jittered on its own, weight decay 0.05 (docs/change.md)
CHANGE_TRAINING = {"weight_decay": 0.05, "jitter": 0.2, "class_weights": (1.0, 5.0), "dice": 1.0, "dates": 2}


def standardise_dates(image: np.ndarray) -> np.ndarray:
    """Each band of each date of a stacked pair ``(2C, H, W)`` standardised by its own statistics over the pixels
    both dates cover (:func:`~rsvision.models.preprocess.standardise_bands`): the season's and the atmosphere's
    gain and offset between dates and cities taken out before the network sees them, as Daudt et al.'s OSCD code
    standardises each image. Inference does the same (:class:`~rsvision.tasks.learned_change.LearnedChange`)."""
    bands = image.shape[0] // 2
    dates = image[:bands], image[bands:]
    covered = dates[0].any(0) & dates[1].any(0)
    return np.concatenate([standardise_bands(d, *band_moments(d, covered)) for d in dates])


def pair_preprocessing(bands: Sequence[str], mean, std, scale: float, value_range, input_size: int) -> Preprocessing:
    """The normalisation of a stacked pair for training: one date's statistics twice (the card keeps one date's)."""
    names = list(bands) + [f"{b}_2" for b in bands]
    return Preprocessing(
        bands=names,
        scale=scale,
        value_range=value_range,
        mean=list(mean) * 2,
        std=list(std) * 2,
        input_size=input_size,
    )


def change_preprocessing(
    train: MaskPairs,
    bands: Sequence[str],
    eight_bit: bool,
    input_size: int,
    standardise: bool = False,
    coregister: bool = False,
) -> tuple[Preprocessing, Preprocessing]:
    """The card's preprocessing (one date's bands) and the stacked pair's for training, the band statistics taken
    over ``train``'s first dates: 8-bit values at 1/255, else reflectance at 1/10000 (standardised dates too)."""
    scale, value_range = (255.0, (0, 255)) if eight_bit else (10000.0, (0, 65535))
    mean, std = band_statistics([image[: len(bands)] for image in train.images], scale)
    card = Preprocessing(
        bands=list(bands),
        scale=scale,
        value_range=value_range,
        mean=mean,
        std=std,
        input_size=input_size,
        standardise=standardise,
        coregister=coregister,
    )
    return card, pair_preprocessing(bands, mean, std, scale, value_range, input_size)


def score_pairs(model, prep: Preprocessing, pairs: MaskPairs) -> dict:
    """Change keys (``f1``, ``iou``, ``precision``, ``recall`` ...) pooled over every pair, whole images."""
    metric = ChangeMetric()
    for image, mask in zip(pairs.images, pairs.masks):
        metric.update(predict_mask(model, prep, image), mask)
    return metric.compute()


THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


def change_probability(model, prep: Preprocessing, image: np.ndarray) -> np.ndarray:
    """The change class's probability ``(H, W)`` of one whole stacked pair (:func:`image_logits`)."""
    return torch.softmax(image_logits(model, prep, image), dim=0)[1].numpy()


def best_threshold(model, prep: Preprocessing, pairs: MaskPairs) -> tuple[float, float]:
    """``(threshold, F1)``: the change probability, of :data:`THRESHOLDS`, above which calling a pixel change gives
    the best F1 pooled over ``pairs`` (the validation part). Weighting the change class in training shifts the
    network's probabilities upwards, so 0.5 over-calls change; the shift is measured here rather than assumed."""
    counts = np.zeros((len(THRESHOLDS), 3))  # true positives, false positives, false negatives
    for image, mask in zip(pairs.images, pairs.masks):
        probability, changed = change_probability(model, prep, image), mask == 1
        valid = np.isin(mask, (0, 1))
        for i, t in enumerate(THRESHOLDS):
            called = (probability >= t) & valid
            counts[i] += [(called & changed).sum(), (called & ~changed).sum(), (~called & changed).sum()]
    f1 = 2 * counts[:, 0] / np.maximum(2 * counts[:, 0] + counts[:, 1] + counts[:, 2], 1)
    best = int(np.argmax(f1))
    return float(THRESHOLDS[best]), float(f1[best])


def set_threshold(model: torch.nn.Module, threshold: float) -> None:
    """Make ``threshold`` the network's own decision: the change logit's bias lowered by ``logit(threshold)``, so
    that the softmax's argmax (what every predictor, the engine and ``eval`` take) calls change exactly where the
    change probability was at least ``threshold``; the probabilities written are the shifted ones."""
    head = model.segmenter.segmentation_head if hasattr(model, "segmenter") else model.segmentation_head
    conv = [m for m in head.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        shifted = conv.bias[1] - float(np.log(threshold / (1 - threshold)))
        conv.bias[1] = shifted.half().float()  # as the weights are stored, so the card's figures hold


def calibrate(model, prep: Preprocessing, val: MaskPairs, log=print) -> dict:
    """Choose the decision threshold on ``val`` and set it in ``model``; the card's note on it."""
    threshold, f1 = best_threshold(model, prep, val)
    set_threshold(model, threshold)
    log(f"change threshold {threshold:.2f} chosen on validation (F1 {f1:.4f}), set in the head's bias")
    return {"change_threshold": threshold, "change_threshold_rule": "best validation F1 of 0.05, 0.10 ... 0.95"}


def card_values(scores: dict) -> dict[str, float]:
    """A change card's figures."""
    return {k: round(float(scores[k]), 4) for k in ("f1", "iou", "precision", "recall", "overall_accuracy")}


def initial_change_model(
    arch: str, bands: Sequence[str], arch_kwargs: dict, init: str | Weights | None, seed: int
) -> torch.nn.Module:
    """A siamese network for ``bands``; with ``init`` (a classifier of the encoder's timm model, trained on RGB),
    its encoder from the classifier, the first convolution then spread over ``bands`` by wavelength."""
    # the start is loaded before seeding: loading builds the classifier, whose random initialisation would otherwise
    # draw from the seeded stream and move this network's own (its decoder's) draws (docs/change.md)
    tensors, start_bands = start_tensors(init) if init else (None, list(bands))
    torch.manual_seed(seed)
    model = build_model(arch, len(CLASSES), start_bands, **arch_kwargs)
    if tensors is None:
        return model
    encoder_state_from_classifier(model, tensors)
    if start_bands != list(bands):
        adapt_stem(model, start_bands, list(bands))
    model.band_names = tuple(bands)
    return model


def train_change_model(
    dataset,
    output: Path,
    *,
    arch: str = "siamese_unet",
    arch_kwargs: dict | None = None,
    init: str | None = None,
    config: SegTrainConfig | None = None,
    val_fraction: float = 0.25,
    input_size: int = 512,
    standardise: bool = False,
    coregister: bool = False,
    work: Path,
    command: str,
    progress: bool = True,
    log=print,
) -> Weights:
    """Train a change model on every pair of a change dataset (OSCD cities, or triplets): the bottom
    ``val_fraction`` of each pair's rows is the validation part that chooses the epoch and that the card's figures
    are measured on. Bands as the first pair's first image names them; 8-bit images keep 0-255, wider integers are
    taken as reflectance in 1/10000. ``standardise``: each band of each date standardised on its own
    (:func:`standardise_dates`; the card records it, so inference does the same). ``coregister``: each OSCD pair's
    second date moved onto the first by its pixels (:mod:`rsvision.io.coregister`); the card records it likewise."""
    config = config or SegTrainConfig(crop=128, **CHANGE_TRAINING)
    set_coregistration(dataset, coregister, False)
    if not 0 < val_fraction < 1:
        raise RsvisionError(f"the validation fraction must be in (0, 1), got {val_fraction:g}")
    ids = [s.id for s in dataset]
    if not ids:
        raise RsvisionError(f"{dataset.root}: no pairs to train on")
    bands = open_scene(dataset[0].image[0]).band_names
    cut = 1 - val_fraction
    pairs = change_pairs(dataset, ids)
    if standardise:
        pairs.images = [standardise_dates(image) for image in pairs.images]  # float32: not 8-bit any more
    train, val = rows_of(pairs, (0.0, cut)), rows_of(pairs, (cut, 1.0))
    eight_bit = train.images[0].dtype == np.uint8
    prep, pair_prep = change_preprocessing(train, bands, eight_bit, input_size, standardise, coregister)
    arch_kwargs = dict(arch_kwargs or {})
    log(f"{len(ids)} pairs, bands {', '.join(bands)}; validation: the bottom {val_fraction:.0%} of each")
    model = initial_change_model(arch, bands, arch_kwargs, init, config.seed)
    result = fit_segmenter(model, pair_prep, train, val, CLASSES, config, work, progress, log)
    calibration = calibrate(model, pair_prep, val, log)
    scores = score_pairs(model, pair_prep, val)
    values = card_values(scores)
    log(f"best validation F1 {scores['f1']:.4f} at epoch {result.best_epoch} ({result.seconds:.0f} s)")
    return save_weights(
        model,
        output.parent,
        output.stem,
        task=Task.CHANGE,
        architecture=arch,
        architecture_kwargs=arch_kwargs,
        preprocessing=prep,
        classes=list(CLASSES),
        metrics=[MeasuredMetrics(dataset=Path(dataset.root).name, split=f"rows {cut:.0%}-100%", values=values)],
        licence="as the training data's",
        command=command,
        notes={
            "trained_from": f"encoder of {init}" if init else "scratch (random initialisation)",
            "train_seconds": round(result.seconds),
            **calibration,
            "config": asdict(config),
            "history": result.history,
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
    )
