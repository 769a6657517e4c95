"""Linear probe and k-NN of a backbone's pooled features (``rsvision eval probe``), the protocol that
foundation-model papers report (CROMA, SatMAE).

Protocol: pooled features of every image of the folder (the model's own preprocessing); a stratified 50/50
split with seed 0 (:func:`rsvision.datasets.base.stratified_split`: the first part trains, the second is
scored); ``linear_accuracy``: multinomial logistic regression on the features standardised with the training
part's mean and std, L2-regularised as scikit-learn's ``LogisticRegression(C=1.0)`` (``C * sum(cross-entropy)
+ |W|^2 / 2``, bias not penalised), minimised with L-BFGS in float64; ``knn_accuracy``: cosine similarity,
the k = 20 nearest training images vote, a tie goes to the tied class of the nearest neighbour.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from rsvision.bench.evaluate import open_task_dataset
from rsvision.datasets import stratified_split
from rsvision.errors import EvaluationError
from rsvision.models.weights import Task

if TYPE_CHECKING:
    import torch

# torch, and the modules of rsvision.models that run a model, are imported inside the functions that use them: the
# command line imports this package to check its arguments, and torch takes seconds to import.


def _objective(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor, c: float) -> torch.Tensor:
    import torch  # deferred (see the note at the top)

    ce = torch.nn.functional.cross_entropy(x @ w + b, y, reduction="sum")
    return c * ce + 0.5 * (w * w).sum()


def fit_logistic_regression(
    x: np.ndarray, y: np.ndarray, n_classes: int, c: float = 1.0, max_iter: int = 1000, tol: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression minimising ``c * sum(cross-entropy) + |W|^2 / 2`` (the bias is not
    penalised) with L-BFGS (strong Wolfe line search) in float64. Returns ``W (D, K)`` and ``b (K,)``.

    The objective is scaled by ``1 / (c n)`` for the optimiser (same minimum, gradients of order one)."""
    import torch  # deferred (see the note at the top)

    xt = torch.from_numpy(np.asarray(x, dtype=np.float64))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    w = torch.zeros(xt.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    scale = 1.0 / (c * max(len(yt), 1))
    opt = torch.optim.LBFGS(
        [w, b],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=tol,
        tolerance_change=1e-12,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = _objective(w, b, xt, yt, c) * scale
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def knn_predict(
    train: np.ndarray, train_labels: np.ndarray, query: np.ndarray, k: int = 20, chunk: int = 1024
) -> np.ndarray:
    """Labels of ``query`` rows by majority vote of their ``k`` most cosine-similar ``train`` rows; among
    tied classes, the one of the nearest neighbour wins."""

    def unit(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

    t, q = unit(train), unit(query)
    labels = np.asarray(train_labels, dtype=np.int64)
    k = min(k, len(t))
    n_classes = int(labels.max()) + 1 if len(labels) else 0
    out = np.empty(len(q), dtype=np.int64)
    for start in range(0, len(q), chunk):
        sim = q[start : start + chunk] @ t.T
        near = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sim, near, axis=1), axis=1, kind="stable")
        near = np.take_along_axis(near, order, axis=1)  # nearest first
        votes = labels[near]
        counts = np.zeros((len(near), n_classes), dtype=np.int64)
        np.add.at(counts, (np.arange(len(near))[:, None], votes), 1)
        tied = np.take_along_axis(counts, votes, axis=1) == counts.max(axis=1, keepdims=True)
        out[start : start + chunk] = votes[np.arange(len(near)), tied.argmax(axis=1)]
    return out


def probe_features(
    features: np.ndarray, labels: np.ndarray, n_classes: int, k: int = 20, seed: int = 0, c: float = 1.0
) -> dict[str, Any]:
    """``linear_accuracy`` and ``knn_accuracy`` of features ``(N, D)`` with integer ``labels`` (protocol above)."""
    labels = np.asarray(labels, dtype=np.int64)
    train, test = stratified_split(labels, fraction=0.5, seed=seed)
    if len(train) == 0 or len(test) == 0:
        raise EvaluationError(f"{len(labels)} images are too few for a 50/50 probe split")
    x = np.asarray(features, dtype=np.float64)
    mean, std = x[train].mean(0), x[train].std(0)
    std[std < 1e-12] = 1.0
    z = (x - mean) / std
    w, b = fit_logistic_regression(z[train], labels[train], n_classes, c=c)
    linear = float(((z[test] @ w + b).argmax(1) == labels[test]).mean())
    knn = float((knn_predict(x[train], labels[train], x[test], k) == labels[test]).mean())
    return {
        "linear_accuracy": linear,
        "knn_accuracy": knn,
        "n_train": len(train),
        "n_test": len(test),
        "feature_dim": int(x.shape[1]),
        "k": int(min(k, len(train))),
    }


def probe(
    data: str | os.PathLike,
    model: str | os.PathLike | None = None,
    format: str | None = None,
    split: str | None = None,
    split_file: str | os.PathLike | None = None,
    *,
    batch_size: int = 64,
    k: int = 20,
    progress: bool = False,
) -> dict[str, Any]:
    """Linear probe and k-NN of ``model``'s pooled features (the default classifier's backbone when None) on
    the image-folder dataset at ``data``; adds ``n_images``, ``n_failed`` (and ``failed`` when some were). A
    classifier or a feature extractor (task ``embedding``) is probed; a model of another task is refused."""
    from rsvision.models.classifier import load_classifier  # deferred: torch (see the note at the top)
    from rsvision.models.inference import extract_features

    dataset = open_task_dataset("classification", data, format, split, split_file)
    classifier = load_classifier(model, task=(Task.CLASSIFICATION, Task.EMBEDDING), needed_by="eval probe")
    feats = extract_features(classifier, dataset, batch_size=batch_size, progress=progress)
    labels = np.array([dataset[int(i)].targets["label"] for i in feats.indices], dtype=np.int64)
    out = probe_features(feats.values, labels, len(dataset.classes), k=k)
    out.update(model=classifier.weights.name, n_images=len(feats.indices), n_failed=len(feats.failures))
    if feats.failures:
        out["failed"] = [{"sample": s, "reason": r} for s, r in feats.failures]
    return out
