"""Image-text retrieval recall R@K in both directions (the RSICD / RSITMD protocol, 5 captions per image)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rsvision.errors import MetricInputError

# Rows of the similarity matrix scored at once when it is built from embeddings.
_BLOCK = 1024


def _check_mapping(text_to_image: Any, n_images: int, n_texts: int) -> np.ndarray:
    if n_images == 0 or n_texts == 0:
        raise MetricInputError(f"retrieval needs at least one image and one text, got {n_images} and {n_texts}")
    t2i = np.asarray(text_to_image)
    if t2i.ndim != 1 or t2i.size != n_texts:
        raise MetricInputError(f"text_to_image must hold one image index per text ({n_texts}), got shape {t2i.shape}")
    if t2i.dtype.kind not in "iu":
        raise MetricInputError(f"text_to_image must hold integer image indices, got dtype {t2i.dtype}")
    if t2i.min() < 0 or t2i.max() >= n_images:
        raise MetricInputError(f"text_to_image holds an index outside [0, {n_images})")
    captions = np.bincount(t2i, minlength=n_images)
    if captions.min() == 0:
        raise MetricInputError(f"image {int(np.argmin(captions))} has no text in text_to_image")
    return t2i.astype(np.int64)


def _recall(
    block: Callable[[int, int], np.ndarray], n_images: int, t2i: np.ndarray, ks: Sequence[int]
) -> dict[str, float]:
    """Recall from similarity rows ``block(start, stop)`` (images start:stop x all texts).

    Ranks are 0-based and count ties against the model: an image's rank is the
    number of other images' texts scoring at least as high as its best own
    text; a text's rank is the number of other images scoring at least as high
    as its own image.
    """
    n_texts = t2i.size
    own = np.empty(n_texts)
    i2t_rank = np.empty(n_images, dtype=np.int64)
    for start in range(0, n_images, _BLOCK):
        stop = min(start + _BLOCK, n_images)
        sim = block(start, stop)
        rows = np.arange(start, stop)
        is_own = t2i[None, :] == rows[:, None]
        best_own = np.where(is_own, sim, -np.inf).max(axis=1)
        i2t_rank[start:stop] = ((sim >= best_own[:, None]) & ~is_own).sum(axis=1)
        mine = (t2i >= start) & (t2i < stop)
        own[mine] = sim[t2i[mine] - start, np.flatnonzero(mine)]
    t2i_rank = np.zeros(n_texts, dtype=np.int64)
    for start in range(0, n_images, _BLOCK):
        stop = min(start + _BLOCK, n_images)
        sim = block(start, stop)
        not_own = t2i[None, :] != np.arange(start, stop)[:, None]
        t2i_rank += ((sim >= own[None, :]) & not_own).sum(axis=0)
    out: dict[str, float] = {}
    for k in ks:
        out[f"i2t_r{k}"] = float((i2t_rank < k).mean())
    for k in ks:
        out[f"t2i_r{k}"] = float((t2i_rank < k).mean())
    out["mean_recall"] = float(np.mean(list(out.values())))
    return out


def retrieval_recall_from_similarity(
    similarity: Any, text_to_image: Any, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """R@K from an (images x texts) similarity matrix; ``text_to_image[t]`` is the image of text t.

    An image counts as found at K when any of its texts is among its top K texts;
    a text, when its image is among its top K images. Keys ``i2t_r{K}``,
    ``t2i_r{K}`` and ``mean_recall`` (the mean of all of them).
    """
    sim = np.asarray(similarity)
    if sim.ndim != 2 or sim.dtype.kind not in "fiu":
        raise MetricInputError(f"similarity must be a numeric (images x texts) matrix, got shape {sim.shape}")
    if sim.size and not np.isfinite(sim).all():
        raise MetricInputError("similarity holds NaN or infinite values")
    t2i = _check_mapping(text_to_image, sim.shape[0], sim.shape[1])
    return _recall(lambda a, b: sim[a:b], sim.shape[0], t2i, ks)


def retrieval_recall(
    image_emb: Any, text_emb: Any, text_to_image: Any, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """R@K from image and text embeddings, scored by cosine similarity (see ``retrieval_recall_from_similarity``).

    The similarity matrix is built a block of images at a time, never whole.
    """
    img = np.asarray(image_emb, dtype=np.float64)
    txt = np.asarray(text_emb, dtype=np.float64)
    if img.ndim != 2 or txt.ndim != 2 or img.shape[1] != txt.shape[1]:
        raise MetricInputError(f"embeddings must be (N, D) and (M, D), got {img.shape} and {txt.shape}")
    if not (np.isfinite(img).all() and np.isfinite(txt).all()):
        raise MetricInputError("embeddings hold NaN or infinite values")
    img = img / np.maximum(np.linalg.norm(img, axis=1, keepdims=True), 1e-12)
    txt = txt / np.maximum(np.linalg.norm(txt, axis=1, keepdims=True), 1e-12)
    t2i = _check_mapping(text_to_image, img.shape[0], txt.shape[0])
    return _recall(lambda a, b: img[a:b] @ txt.T, img.shape[0], t2i, ks)
