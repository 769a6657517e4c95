"""`rsvision train classification|segmentation|change|detection --data DIR [...] -o WEIGHTS.safetensors`: train a
scene classifier on any image-folder dataset (:func:`rsvision.train.classifier.train_folder_classifier`), a
segmenter, a change model or a box detector (:func:`rsvision.train.detection.train_box_detector`), resuming from
``--work``'s checkpoints, and write the weights with their card.

Every output (the weights, their card, the work folder) is checked before anything is read or trained.
"""

from __future__ import annotations

import shlex
from dataclasses import replace
from functools import partial
from pathlib import Path

import typer

from rsvision.bench import open_task_dataset
from rsvision.cli.app import QUIET, app, say, set_quiet
from rsvision.core.files import claim_weights_outputs, removed_if_unused
from rsvision.core.settings import torch_threads
from rsvision.datasets.change import set_coregistration
from rsvision.errors import RsvisionError

RESNETS = ("resnet18", "resnet34", "resnet50")
# defaults of the dense tasks: architecture, training crop, batch, validation part
DENSE = {
    "segmentation": {"arch": "unet", "crop": 256, "batch": 8, "val": 0.15},
    "change": {"arch": "siamese_unet", "crop": 128, "batch": 16, "val": 0.25},
}
DETECTORS = ("retinanet", "fasterrcnn", "fcos", "rotated_fcos")  # rsvision.models.detection's, without torch
BACKBONES = (*RESNETS, "mobilenet_v3_large")  # besides timm:<name>
FC_SIAM_DIFF = "fc_siam_diff"  # change: Daudt et al.'s network, whole, from scratch (no --encoder, no --init)
# defaults of detection: the built-in tree detector's (a CPU-sized pyramid of 128 channels)
DETECTION = {"arch": "retinanet", "backbone": "timm:efficientnet_lite0", "crop": 384, "batch": 4, "val": 0.15}


@app.command("train")
def train_command(
    task: str = typer.Argument(
        ...,
        help="classification (an image-folder dataset), segmentation (images with colour or index masks), change "
        "(OSCD cities or A/B/label triplets) or detection (boxes: VOC, COCO, YOLO, DOTA ...).",
    ),
    data: Path = typer.Option(
        ...,
        "--data",
        help="Classification: one subfolder per class; segmentation: images/ and masks/; detection: a box dataset "
        "(or a registered name).",
    ),
    format: str | None = typer.Option(
        None, "--format", help="Detection: the dataset's layout (voc, coco, yolo, dota ...); guessed when omitted."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="WEIGHTS.safetensors (its card WEIGHTS.json beside it)."),
    split: str | None = typer.Option(None, "--split", help="A split the format knows (AID: rsicd-train)."),
    split_file: Path | None = typer.Option(None, "--split-file", help="A file listing the images to train on."),
    arch: str | None = typer.Option(
        None,
        "--arch",
        help="A builder name or timm:<name> (default resnet18); segmentation: unet, fpn ... (unet); detection: "
        "retinanet, fasterrcnn, fcos, or rotated_fcos for oriented boxes (retinanet); change: siamese_unet, "
        "siamese_fpn ... (siamese_unet), or fc_siam_diff (Daudt et al.'s, from scratch).",
    ),
    backbone: str = typer.Option(
        DETECTION["backbone"], "--backbone", help="Detection: timm:<name>, resnet18/34/50 or mobilenet_v3_large."
    ),
    encoder: str = typer.Option(
        "tu-efficientnet_lite0", "--encoder", help="Segmentation: the encoder (smp's, or tu-<timm name>)."
    ),
    width: float | None = typer.Option(
        None, "--width", help="ResNets: channel width multiplier (default 0.5, as the built-in AID model)."
    ),
    init: str | None = typer.Option(
        None,
        "--init",
        help="Start from these weights (a `rsvision models` name or file, or imagenet:efficientnet_lite0/1/2 with "
        "the imagenet extra); classification: their architecture is used; segmentation and change: a classifier of "
        "the --encoder's timm model starts the encoder; detection: a classifier of the --backbone's timm model starts "
        "the backbone (aid_efficientnet_lite0 for the default; a built-in name or file).",
    ),
    epochs: int = typer.Option(30, "--epochs", min=1),
    size: int | None = typer.Option(
        None,
        "--size",
        min=8,
        help="Input size (classification, 128: images resized) or crop (segmentation 256, detection 384).",
    ),
    batch: int | None = typer.Option(
        None, "--batch", min=2, help="Images per batch (64; segmentation 8, detection 4)."
    ),
    steps: int = typer.Option(60, "--steps", min=1, help="Segmentation, change, detection: batches per epoch."),
    lr: float | None = typer.Option(None, "--lr", help="Peak learning rate, AdamW then cosine (2e-3; seg. 1e-3)."),
    seed: int = typer.Option(0, "--seed"),
    val: float | None = typer.Option(
        None,
        "--val",
        help="Validation fraction choosing the best epoch (0.1 stratified; segmentation, detection 0.15 "
        "of the images, whole; for a few large images, a spatial split such as the NEON recipe's strips is better).",
    ),
    bands: str | None = typer.Option(None, "--bands", help="Band names in order, comma-separated (default RGB)."),
    gsd: float | None = typer.Option(None, "--gsd", help="Metres per pixel of the training images, if uniform."),
    work: Path | None = typer.Option(
        None,
        "--work",
        help="Folder for the image cache and checkpoints (default WEIGHTS.work, created inside an "
        "existing folder); reruns resume.",
    ),
    threads: int | None = typer.Option(None, "--threads", min=1, help="torch CPU threads."),
    standardise: bool = typer.Option(
        False,
        "--standardise",
        help="Change: standardise each band of each date by the scene's own statistics (as the built-in OSCD "
        "model; inference does the same).",
    ),
    coregister: bool = typer.Option(
        False,
        "--coregister",
        help="Change, OSCD pairs: move each second date onto the first by the sub-pixel shift its pixels show "
        "(inference does the same).",
    ),
    quiet: bool = QUIET,
) -> None:
    """Train a model on a dataset and write its weights with their card (resumes from --work)."""
    set_quiet(quiet)
    if format is not None and task != "detection":
        raise RsvisionError(f"--format applies to train detection, not {task}")
    for flag, given in (("--standardise", standardise), ("--coregister", coregister)):
        if given and task != "change":
            raise RsvisionError(f"{flag} applies to train change, not {task}")
    if task == "detection":
        d = DETECTION
        options = dict(arch=arch or d["arch"], backbone=backbone, init=init, epochs=epochs, size=size or d["crop"])
        options.update(batch=batch or d["batch"], steps=steps, lr=lr or 1e-3, seed=seed)
        options["val"] = d["val"] if val is None else val
        _train_detection(data, format, split, split_file, output, options, work, threads, quiet)
        return
    if task in DENSE:
        defaults = DENSE[task]
        _train_dense(
            task,
            data,
            output,
            split,
            arch or defaults["arch"],
            encoder,
            init,
            epochs,
            size or defaults["crop"],
            batch or defaults["batch"],
            steps,
            lr or 1e-3,
            seed,
            defaults["val"] if val is None else val,
            work,
            threads,
            quiet,
            standardise=standardise,
            coregister=coregister,
        )
        return
    if task != "classification":
        raise RsvisionError(f"train {task}: classification, segmentation, change and detection can be trained")
    arch, size, batch, lr, val = arch or "resnet18", size or 128, batch or 64, lr or 2e-3, 0.1 if val is None else val
    if width is not None and arch not in RESNETS:
        raise RsvisionError(f"--width applies to {', '.join(RESNETS)}, not {arch}")
    if not 0.0 <= val < 1.0:
        raise RsvisionError(f"--val must be in [0, 1), got {val:g}")
    dataset = open_task_dataset("classification", data, None, split, split_file)
    work_dir, created = claim_weights_outputs(output, work)
    # deferred: torch takes seconds to import, and the checks above answer a mistake without it
    from rsvision.models import list_models
    from rsvision.train.classifier import train_folder_classifier

    arch_kwargs = {"width": width if width is not None else 0.5} if arch in RESNETS and not init else {}
    command = _command(
        task,
        data=data,
        split=split,
        split_file=split_file,
        init=init,
        arch=None if init else arch,
        width=arch_kwargs.get("width"),
        epochs=epochs,
        size=size,
        batch=batch,
        lr=lr,
        seed=seed,
        val=val,
        bands=bands,
        gsd=gsd,
        work=work_dir,
        o=output,
    )
    with torch_threads(threads), removed_if_unused(work_dir, created):
        if not init and arch not in list_models() and not arch.startswith("timm:"):
            raise RsvisionError(f"unknown model {arch!r}; --arch takes {', '.join(list_models())} or timm:<name>")
        train_folder_classifier(
            dataset,
            output,
            arch=arch,
            arch_kwargs=arch_kwargs,
            init=init,
            epochs=epochs,
            size=size,
            batch=batch,
            lr=lr,
            seed=seed,
            val_fraction=val,
            bands=[b.strip() for b in bands.split(",")] if bands else None,
            gsd_m=gsd,
            work=work_dir,
            command=command,
            progress=not quiet,
            log=say,
        )


def _train_dense(
    task,
    data,
    output,
    split,
    arch,
    encoder,
    init,
    epochs,
    crop,
    batch,
    steps,
    lr,
    seed,
    val,
    work,
    threads,
    quiet,
    standardise=False,
    coregister=False,
) -> None:
    """``rsvision train segmentation`` (a mask dataset, ``val`` of its images held out) or ``train change`` (a
    change dataset, the bottom ``val`` of each pair's rows held out; cross-entropy with change x5 plus Dice, each
    date jittered on its own, as the built-in OSCD model): checked with every output before torch is imported."""
    if not 0.0 < val < 1.0:
        raise RsvisionError(f"--val must be in (0, 1) for {task} (the best epoch is chosen on it), got {val:g}")
    if crop % 32:
        raise RsvisionError(f"--size (the training crop) must be a multiple of 32, got {crop}")
    change_network = arch.startswith("siamese_") or arch == FC_SIAM_DIFF
    if task == "change" and not change_network:
        raise RsvisionError(
            f"--arch for change is a siamese network (siamese_unet, siamese_fpn ...) or {FC_SIAM_DIFF}, not {arch}"
        )
    if task == "segmentation" and change_network:
        raise RsvisionError(f"--arch {arch} is a change network: train it with rsvision train change")
    if arch == FC_SIAM_DIFF and init:
        raise RsvisionError(f"--init starts an encoder; {FC_SIAM_DIFF} has none to start (it trains from scratch)")
    arch_kwargs = {} if arch == FC_SIAM_DIFF else {"encoder": encoder}
    dataset = open_task_dataset(task, data, None, split, None)
    set_coregistration(dataset, coregister, False)
    work_dir, created = claim_weights_outputs(output, work)
    from rsvision.train.change import CHANGE_TRAINING, train_change_model  # deferred: torch
    from rsvision.train.segmentation import SegTrainConfig, train_mask_segmenter

    options = dict(arch=arch, **arch_kwargs, init=init, epochs=epochs, size=crop, batch=batch, steps=steps, lr=lr)
    command = _command(
        task,
        data=data,
        split=split,
        **options,
        seed=seed,
        val=val,
        standardise=standardise,
        coregister=coregister,
        work=work_dir,
        o=output,
    )
    config = SegTrainConfig(epochs=epochs, steps=steps, batch_size=batch, crop=crop, lr=lr, seed=seed)
    if task == "change":
        config = replace(config, **CHANGE_TRAINING)
    change = partial(train_change_model, standardise=standardise, coregister=coregister)
    train = change if task == "change" else train_mask_segmenter
    with torch_threads(threads), removed_if_unused(work_dir, created):
        record = train(
            dataset,
            output,
            arch=arch,
            arch_kwargs=arch_kwargs,
            init=init,
            config=config,
            val_fraction=val,
            work=work_dir,
            command=command,
            progress=not quiet,
            log=say,
        )
    key = "f1" if task == "change" else "miou"
    say(f"validation {key} {record.metrics[0].values[key]:.4f} -> {output}")


def _train_detection(data, format, split, split_file, output, options, work, threads, quiet) -> None:
    """``rsvision train detection``: a box detector on any box dataset the project reads, ``options["val"]`` of its
    images held out (seeded, whole images) to choose the epoch; checked with every output before torch is
    imported. Oriented architectures (rotated_fcos) train on le90 rotated boxes."""
    arch, backbone, val, crop = options["arch"], options["backbone"], options["val"], options["size"]
    if arch not in DETECTORS:
        raise RsvisionError(f"unknown detector {arch!r}; --arch takes {', '.join(DETECTORS)}")
    if backbone not in BACKBONES and not backbone.startswith("timm:"):
        raise RsvisionError(f"unknown backbone {backbone!r}; --backbone takes {', '.join(BACKBONES)} or timm:<name>")
    if not 0.0 < val < 1.0:
        raise RsvisionError(f"--val must be in (0, 1) for detection (the best epoch is chosen on it), got {val:g}")
    if crop < 32:
        raise RsvisionError(f"--size (the training crop) must be at least 32, got {crop}")
    dataset = open_task_dataset("detection", data, format, split, split_file)
    work_dir, created = claim_weights_outputs(output, work)
    from rsvision.train.detection import DetTrainConfig, train_box_detector  # deferred: torch

    fields = dict(epochs="epochs", steps="steps", batch_size="batch", crop="size", lr="lr", seed="seed")
    config = DetTrainConfig(**{k: options[v] for k, v in fields.items()})
    inputs = dict(data=data, format=format, split=split, split_file=split_file)
    command = _command("detection", **inputs, **options, work=work_dir, o=output)
    with torch_threads(threads), removed_if_unused(work_dir, created):
        record = train_box_detector(
            dataset,
            output,
            arch=arch,
            arch_kwargs={"backbone": backbone, "channels": 128},
            init=options["init"],
            config=config,
            val_fraction=val,
            work=work_dir,
            command=command,
            progress=not quiet,
            log=say,
        )
    say(f"validation map50 {record.metrics[0].values['map50']:.4f} -> {output}")


def _command(task: str, **options) -> str:
    """The ``rsvision train`` command line that repeats a run (for its card): options left at None are left out,
    numbers in their shortest form."""
    argv = ["rsvision", "train", task]
    for name, value in options.items():
        if value is None or value is False:
            continue
        flag = f"-{name}" if len(name) == 1 else f"--{name.replace('_', '-')}"
        if value is True:  # a switch
            argv.append(flag)
            continue
        argv += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return shlex.join(argv)
