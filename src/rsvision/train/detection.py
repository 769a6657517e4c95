"""Training detectors on images with boxes: random square crops under a random flip or quarter turn (and, for oriented
models, a rotation by any angle), colour jitter, the detector's own losses summed, AdamW with warm-up and cosine
decay, validation AP50 (VOC all-point, :class:`~rsvision.metrics.detection.DetectionMetric`) on whole held-out images
after each epoch, the best epoch kept.

Boxes are ``xyxy`` (N, 4) for horizontal detectors and le90 ``(cx, cy, w, h, angle)`` (N, 5) for oriented ones; class
ids are 0-based. A box keeps its place in a crop when at least ``min_visible`` of its area is inside; horizontal boxes
are clipped to the crop, rotated ones are kept whole (the model learns truncated objects' full extent).

Resumable: after every epoch the model, optimiser, history and best state go to ``work/last.pt``; a run started
again with the same settings continues from there and repeats the uninterrupted run (each epoch draws its crops
from a generator seeded by ``(seed, epoch)``, and the learning rate is a function of the step).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rsvision.datasets.base import Issues
from rsvision.errors import RsvisionError
from rsvision.geometry.boxes import normalize_rbox, rbox_area, xyxy_to_rbox
from rsvision.geometry.iou import rotated_iou
from rsvision.io.images import read_image
from rsvision.metrics.detection import DetectionMetric
from rsvision.models.detection import is_rotated
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import RGB, build_model
from rsvision.models.state import load_timm_tensors
from rsvision.models.weights import MeasuredMetrics, Task, Weights, resolve_weights, save_weights
from rsvision.train.augment import colour_jitter
from rsvision.train.cache import band_statistics
from rsvision.train.loop import _progress, _save, as_shipped, decay_groups, holdout_indices, lr_at


@dataclass
class DetTrainConfig:
    """Settings of one run; a checkpoint resumes only under the same values."""

    epochs: int = 30
    steps: int = 50  # batches per epoch
    batch_size: int = 4
    crop: int = 512
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    jitter: float = 0.2
    d4: bool = True  # a random flip or quarter turn of each crop
    rotate: bool = False  # oriented models: turn each crop by a random angle (beside the quarter turns)
    min_visible: float = 0.5  # of a box's area inside a crop, to keep the box
    grad_clip: float = 10.0  # on the global gradient norm: detection losses spike early
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.steps < 1 or self.batch_size < 1 or self.crop < 32:
            raise RsvisionError("epochs, steps and batch_size must be >= 1 and crop >= 32")


@dataclass
class BoxSamples:
    """Images ``(C, H, W)`` (raw values), their boxes (``(N, 4)`` xyxy or ``(N, 5)`` le90 rotated, one width for
    all) and 0-based labels ``(N,)``. An image without boxes is a negative."""

    images: list[np.ndarray]
    boxes: list[np.ndarray]
    labels: list[np.ndarray]
    ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not len(self.images) == len(self.boxes) == len(self.labels):
            raise RsvisionError(f"{len(self.images)} images, {len(self.boxes)} box sets, {len(self.labels)} label sets")
        width = 5 if any(np.shape(b)[-1:] == (5,) for b in self.boxes) else 4
        self.boxes = [np.asarray(b, dtype=np.float64).reshape(-1, width) for b in self.boxes]
        self.labels = [np.asarray(lab, dtype=np.int64).reshape(-1) for lab in self.labels]
        for b, lab in zip(self.boxes, self.labels):
            if len(b) != len(lab):
                raise RsvisionError(f"{len(b)} boxes with {len(lab)} labels")

    @property
    def rotated(self) -> bool:
        return bool(self.boxes) and self.boxes[0].shape[1] == 5

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class DetTrainResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_ap50: float = -1.0
    seconds: float = 0.0


# ----------------------------------------------------------------------------- augmentation


def _crop(samples: BoxSamples, i: int, size: int, gen: torch.Generator) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """A random ``size`` square of image ``i`` (padded with zeros past its edges) and its boxes in crop pixels."""
    image, boxes, labels = samples.images[i], samples.boxes[i], samples.labels[i]
    h, w = image.shape[1:]
    y0 = int(torch.randint(0, max(1, h - size + 1), (1,), generator=gen))
    x0 = int(torch.randint(0, max(1, w - size + 1), (1,), generator=gen))
    x = torch.zeros((image.shape[0], size, size), dtype=torch.float32)
    part = image[:, y0 : y0 + size, x0 : x0 + size]
    x[:, : part.shape[1], : part.shape[2]] = torch.from_numpy(np.ascontiguousarray(part, dtype=np.float32))
    boxes = boxes.copy()
    boxes[:, :2] -= (x0, y0)
    if boxes.shape[1] == 4:
        boxes[:, 2:] -= (x0, y0)
    return x, boxes, labels


def visible_boxes(boxes: np.ndarray, labels: np.ndarray, size: int, min_visible: float):
    """Boxes with at least ``min_visible`` of their area inside the ``size`` square: xyxy clipped to it, rotated
    boxes whole."""
    if not len(boxes):
        return boxes, labels
    if boxes.shape[1] == 4:
        area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
        clipped = boxes.clip(0, size)
        inside = np.prod(clipped[:, 2:] - clipped[:, :2], axis=1)
        keep = (inside >= min_visible * np.maximum(area, 1e-9)) & (inside > 0)
        return clipped[keep], labels[keep]
    frame = np.array([[size / 2, size / 2, size, size, 0.0]])
    iou = rotated_iou(boxes, frame)[:, 0]
    inside = iou / (1 + iou) * (rbox_area(boxes) + size * size)  # intersection from IoU and both areas
    keep = (inside >= min_visible * np.maximum(rbox_area(boxes), 1e-9)) & (inside > 0)
    return boxes[keep], labels[keep]


def d4_boxes(image: torch.Tensor, boxes: np.ndarray, k: int) -> tuple[torch.Tensor, np.ndarray]:
    """One of the 8 flips and quarter turns of a square image, ``k`` in [0, 8): bit 0 transposes (x <-> y), bit 1
    flips left-right, bit 2 flips top-bottom; boxes follow (rotated ones re-encoded le90)."""
    s = image.shape[-1]
    b = boxes.copy()
    rotated = b.shape[1] == 5
    if k & 1:
        image = image.transpose(-1, -2)
        b = b[:, [1, 0, 2, 3, 4]] if rotated else b[:, [1, 0, 3, 2]]
        if rotated:
            b[:, 4] = math.pi / 2 - b[:, 4]
    for bit, axis, cols in ((2, -1, (0, 2)), (4, -2, (1, 3))):
        if k & bit:
            image = image.flip(axis)
            if rotated:
                b[:, cols[0]] = s - b[:, cols[0]]
                b[:, 4] = -b[:, 4]
            else:
                b[:, list(cols)] = s - b[:, list(cols[::-1])]
    return image, (normalize_rbox(b) if rotated and len(b) else b)


def rotate_crop(image: torch.Tensor, boxes: np.ndarray, angle: float) -> tuple[torch.Tensor, np.ndarray]:
    """A square image turned by ``angle`` radians about its centre (clockwise on the image for a positive angle, as
    le90 angles turn), bilinear, zeros where nothing was; rotated boxes turn with it."""
    s = image.shape[-1]
    c, sn = math.cos(angle), math.sin(angle)
    # affine_grid maps output to input coordinates: the inverse turn
    theta = torch.tensor([[c, sn, 0.0], [-sn, c, 0.0]], dtype=torch.float32)[None]
    grid = F.affine_grid(theta, [1, *image.shape], align_corners=False)
    out = F.grid_sample(image[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    if not len(boxes):
        return out, boxes
    b = boxes.copy()
    dx, dy = b[:, 0] - s / 2, b[:, 1] - s / 2
    b[:, 0], b[:, 1] = s / 2 + c * dx - sn * dy, s / 2 + sn * dx + c * dy
    b[:, 4] += angle
    return out, normalize_rbox(b)


def sample_batch(
    samples: BoxSamples, config: DetTrainConfig, gen: torch.Generator
) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """``batch_size`` augmented crops (images drawn in proportion to their pixels): raw ``(B, C, S, S)`` float and
    the targets torchvision's detectors take (``boxes`` xyxy, or ``rboxes`` for oriented samples, and ``labels``)."""
    s = config.crop
    sizes = torch.tensor([im.shape[1] * im.shape[2] for im in samples.images], dtype=torch.float64)
    picks = torch.multinomial(sizes / sizes.sum(), config.batch_size, replacement=True, generator=gen)
    # a turned crop is cut larger and its centre kept, so its corners hold image, not zeros
    turn = config.rotate and samples.rotated
    cut = math.ceil(s * math.sqrt(2)) if turn else s
    xs, targets = [], []
    for i in picks.tolist():
        x, boxes, labels = _crop(samples, i, cut, gen)
        if turn:
            angle = float(torch.rand(1, generator=gen)) * 2 * math.pi - math.pi
            x, boxes = rotate_crop(x, boxes, angle)
            m = (cut - s) // 2
            x = x[:, m : m + s, m : m + s]
            boxes = boxes - np.array([m, m, 0, 0, 0]) if len(boxes) else boxes
        boxes, labels = visible_boxes(boxes, labels, s, config.min_visible)
        k = int(torch.randint(0, 8, (1,), generator=gen))
        if config.d4:
            x, boxes = d4_boxes(x, boxes, k)
        key = "rboxes" if samples.rotated else "boxes"
        width = 5 if samples.rotated else 4
        xs.append(x)
        b = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, width)
        fine = _has_area(b)  # in float32, as the loss sees it: torchvision's detectors raise on a flat box
        targets.append({key: b[fine], "labels": torch.as_tensor(labels)[fine]})
    return torch.stack(xs), targets


def _has_area(boxes: torch.Tensor) -> torch.Tensor:
    """Rows of positive width and height: ``xyxy`` corners ordered, or a rotated box's ``w, h`` above zero."""
    if boxes.shape[1] == 5:
        return (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    return (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])


# ----------------------------------------------------------------------------- evaluation


@torch.inference_mode()
def predict_boxes(model: nn.Module, prep: Preprocessing, image: np.ndarray) -> dict[str, np.ndarray]:
    """``boxes`` (xyxy) or ``rboxes``, ``scores`` and ``labels`` of one whole image, as numpy."""
    model.eval()
    x = prep.normalise(torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None])
    return {k: v.cpu().numpy() for k, v in model(x.to(_device(model)))[0].items()}


def _device(model: nn.Module) -> torch.device:
    """Where the model's weights are: the caller moves the model (``model.to("cuda")``), the batches follow."""
    return next(model.parameters()).device


def evaluate_detector(model: nn.Module, prep: Preprocessing, samples: BoxSamples, classes: Sequence[str]) -> dict:
    """``map50``, ``map50_voc07`` and ``per_class`` (:class:`DetectionMetric`) of the model on whole images."""
    rotated = is_rotated(model)
    metric = DetectionMetric(classes, 0.5, rotated=rotated)
    for image, boxes, labels in zip(samples.images, samples.boxes, samples.labels):
        out = predict_boxes(model, prep, image)
        metric.update(out["rboxes" if rotated else "boxes"], out["scores"], out["labels"], boxes, labels)
    return metric.compute()


def _validation_ap50(model: nn.Module, prep: Preprocessing, val: BoxSamples, classes: Sequence[str]) -> float:
    """Validation AP50, 0 when the validation images hold no boxes (NaN would never compare as better)."""
    ap50 = evaluate_detector(model, prep, val, classes)["map50"]
    return ap50 if ap50 == ap50 else 0.0


# ----------------------------------------------------------------------------- loop


def _optimizer(model: nn.Module, config: DetTrainConfig) -> torch.optim.Optimizer:
    trainable = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(decay_groups(trainable, config.weight_decay), lr=config.lr)


def _train_epoch(model, optimizer, prep, train: BoxSamples, config: DetTrainConfig, epoch: int, progress) -> float:
    gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    total, warmup = config.epochs * config.steps, round(config.warmup_epochs * config.steps)
    vmax, device = prep.value_range[1], _device(model)
    model.train()
    losses = []
    with _progress(progress, f"epoch {epoch + 1}/{config.epochs}", config.steps) as advance:
        for step in range(config.steps):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(epoch * config.steps + step, total, warmup, config.lr)
            raw, targets = sample_batch(train, config, gen)
            x = prep.normalise(colour_jitter(raw.clamp(0, vmax), config.jitter, gen, vmax=vmax)).to(device)
            loss = sum(model(x, [{k: v.to(device) for k, v in t.items()} for t in targets]).values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            losses.append(loss.item())
            advance(losses[-1])
    return float(np.mean(losses))


def fit_detector(
    model: nn.Module,
    prep: Preprocessing,
    train: BoxSamples,
    val: BoxSamples | None,
    config: DetTrainConfig,
    work: Path,
    *,
    classes: Sequence[str],
    progress: bool = True,
    log=print,
) -> DetTrainResult:
    """Train ``model`` (in place; it ends holding the best epoch's weights, by validation AP50) and return the
    history. ``val`` None: no validation, the model ends at the last epoch (for data whose only held-out images are
    the ones reported, which must not choose the epoch). ``work`` is an existing folder for the checkpoint; ``log``
    gets one line per epoch. The model trains where its weights are (move it to a GPU first to train there)."""
    if train.rotated != is_rotated(model):
        kind = "rotated boxes" if train.rotated else "xyxy boxes"
        raise RsvisionError(f"the training samples hold {kind}, but the model predicts the other kind")
    optimizer = _optimizer(model, config)
    result, start, best_state = DetTrainResult(), 0, None
    ckpt = Path(work) / "last.pt"
    if ckpt.exists():
        saved = torch.load(ckpt, map_location="cpu", weights_only=False)
        if saved["config"] != asdict(config):
            raise RsvisionError(f"{ckpt} was made with other settings; use another --work folder or remove it")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        start, best_state = saved["epoch"] + 1, saved["best_state"]
        result = DetTrainResult(saved["history"], saved["best_epoch"], saved["best_ap50"], saved["seconds"])
    for epoch in range(start, config.epochs):
        t0 = time.perf_counter()
        loss = _train_epoch(model, optimizer, prep, train, config, epoch, progress)
        ap50 = None if val is None else _validation_ap50(model, prep, val, classes)
        result.seconds += time.perf_counter() - t0
        row = {"epoch": epoch + 1, "loss": loss, "seconds": round(time.perf_counter() - t0, 1)}
        result.history.append(row if ap50 is None else {**row, "val_ap50": ap50})
        if ap50 is None:
            result.best_epoch = epoch + 1  # the last epoch is the one kept
        elif ap50 > result.best_ap50:
            result.best_epoch, result.best_ap50 = epoch + 1, ap50
            best_state = copy.deepcopy(model.state_dict())
        _save(
            {
                "config": asdict(config),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch,
                "history": result.history,
                "best_state": best_state,
                "best_epoch": result.best_epoch,
                "best_ap50": result.best_ap50,
                "seconds": result.seconds,
            },
            ckpt,
        )
        shown = "" if ap50 is None else f", val AP50 {ap50:.4f}"
        log(f"epoch {epoch + 1}/{config.epochs}: loss {loss:.4f}{shown} ({row['seconds']} s)")
    if best_state is not None:
        model.load_state_dict(best_state)
    return result


# ----------------------------------------------------------------------------- a detector from a box dataset


def detection_preprocessing(images: Sequence[np.ndarray], input_size: int) -> Preprocessing:
    """8-bit RGB normalised by the training images' own band statistics (not ImageNet's: overhead imagery differs),
    inference tiles of ``input_size``."""
    mean, std = band_statistics(images, 255.0)
    return Preprocessing(bands=list(RGB), scale=255.0, value_range=(0, 255), mean=mean, std=std, input_size=input_size)


def initial_detector(arch: str, num_classes: int, arch_kwargs: dict, init: str | None, seed: int) -> nn.Module:
    """``arch`` built under ``seed`` (a rerun starts from the same weights), its backbone started from the classifier
    ``init`` (a `rsvision models` name or weights file of the backbone's own timm network) when given."""
    torch.manual_seed(seed)
    model = build_model(arch, num_classes, RGB, **arch_kwargs)
    if init:
        weights = resolve_weights(init)
        backbone = arch_kwargs.get("backbone")
        if weights.architecture != backbone or not str(backbone).startswith("timm:"):
            raise RsvisionError(
                f"--init {init} is a {weights.architecture} classifier; it starts a timm:<name> backbone of the same "
                f"network, not {backbone}"
            )
        load_timm_tensors(model.backbone.body, weights.state_dict())
    return model


def card_values(scores: dict) -> dict[str, float]:
    """The figures a detector's card keeps: AP50 (all-point) and AP50 (VOC07 11-point)."""
    return {k: round(float(scores[k]), 4) for k in ("map50", "map50_voc07") if k in scores}


def load_box_samples(dataset, indices: Sequence[int], rotated: bool, issues: Issues | None = None) -> BoxSamples:
    """The first three bands (8-bit; a grey image repeated) of the samples ``indices`` of a box dataset with their
    boxes: le90 ``rboxes`` for an oriented model (horizontal boxes turned into rectangles of angle 0), else
    ``boxes`` (the envelopes of oriented objects). Counted in ``issues`` (reported once by the caller): images
    without boxes (kept as negatives), boxes clipped to their image, boxes without area dropped, since a detector's
    loss refuses them whichever reader let them through."""
    issues = issues if issues is not None else Issues(dataset.root)
    images, boxes, labels, ids = [], [], [], []
    for i in indices:
        sample = dataset[i]
        if sample.image is None:
            raise RsvisionError(f"{sample.meta.get('annotation', sample.id)}: no image beside the labels")
        image = read_image(sample.image)
        image = np.repeat(image, 3, axis=0) if image.shape[0] == 1 else image  # grey (SAR, panchromatic) as RGB
        if image.shape[0] < 3 or image.dtype != np.uint8:
            raise RsvisionError(f"{sample.image}: {image.shape[0]} bands of {image.dtype}; training takes 8-bit RGB")
        t = sample.targets
        if rotated:
            b = t["rboxes"] if "rboxes" in t else xyxy_to_rbox(np.asarray(t["boxes"], np.float64).reshape(-1, 4))
        else:
            b = t["boxes"]
        b, lab = _usable_boxes(
            np.asarray(b, np.float64).reshape(-1, 5 if rotated else 4),
            t["labels"],
            image.shape[1:],
            issues,
            str(sample.image),
        )
        if not len(b):
            issues.add("negatives", "images without boxes (used as negatives)", str(sample.image))
        images.append(image[:3])
        boxes.append(b)
        labels.append(lab)
        ids.append(sample.id)
    return BoxSamples(images, boxes, labels, ids)


def _usable_boxes(boxes: np.ndarray, labels, shape: tuple[int, int], issues: Issues, where: str):
    """Horizontal boxes clipped to the ``(H, W)`` image (counted) and those without area there dropped (counted);
    rotated ones, kept whole as the crops keep them, dropped when flat."""
    labels = np.asarray(labels, np.int64).reshape(-1)
    if boxes.shape[1] == 4:
        clipped = boxes.copy()
        np.clip(clipped[:, 0::2], 0, shape[1], out=clipped[:, 0::2])
        np.clip(clipped[:, 1::2], 0, shape[0], out=clipped[:, 1::2])
        keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
        n = int(((clipped != boxes).any(axis=1) & keep).sum())
        issues.add("clipped", "boxes reached outside the image and were clipped to it", where, n)
        boxes = clipped
    else:
        keep = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    issues.add(
        "no_area", "boxes had no area in the image (zero width or height) and were dropped", where, int((~keep).sum())
    )
    return boxes[keep], labels[keep]


def train_box_detector(
    dataset,
    output: Path,
    *,
    arch: str = "retinanet",
    arch_kwargs: dict | None = None,
    init: str | None = None,
    config: DetTrainConfig | None = None,
    val_fraction: float = 0.15,
    input_size: int = 512,
    work: Path,
    command: str,
    progress: bool = True,
    log=print,
) -> Weights:
    """Train a detector on a box dataset (a seeded ``val_fraction`` of its images chooses the epoch; the card's
    figures are measured on it, with the weights as stored) and write ``output`` with its card. Oriented
    architectures train on rotated boxes with crops turned by any angle."""
    config = config or DetTrainConfig()
    arch_kwargs = dict(arch_kwargs or {})
    train_idx, val_idx = holdout_indices(len(dataset), val_fraction, config.seed, dataset.root)
    classes = list(dataset.classes)
    model = initial_detector(arch, len(classes), arch_kwargs, init, config.seed)
    rotated = is_rotated(model)
    if rotated and not config.rotate:
        config = replace(config, rotate=True)
    issues = Issues(dataset.root)
    train, val = (load_box_samples(dataset, idx, rotated, issues) for idx in (train_idx, val_idx))
    issues.emit()  # once per kind over both parts
    prep = detection_preprocessing(train.images, input_size)
    counts = [sum(len(b) for b in s.boxes) for s in (train, val)]
    log(
        f"{len(train)} training images ({counts[0]} boxes), {len(val)} validation ({counts[1]}); {len(classes)} classes"
    )
    result = fit_detector(model, prep, train, val, config, work, classes=classes, progress=progress, log=log)
    as_shipped(model)
    scores = evaluate_detector(model, prep, val, classes)
    log(f"best validation AP50 {result.best_ap50:.4f} at epoch {result.best_epoch} ({result.seconds:.0f} s)")
    split = f"validation: {len(val)} images, seed {config.seed}"
    return save_weights(
        model,
        output.parent,
        output.stem,
        task=Task.DETECTION,
        architecture=arch,
        architecture_kwargs=arch_kwargs,
        preprocessing=prep,
        classes=classes,
        metrics=[MeasuredMetrics(dataset=Path(dataset.root).name, split=split, values=card_values(scores))],
        licence="as the training data's",
        command=command,
        notes={
            "trained_from": f"backbone of {init}" if init else "scratch (random initialisation)",
            "train_seconds": round(result.seconds),
            "config": asdict(config),
            "history": result.history,
        },
    )
