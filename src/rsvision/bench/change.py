"""Score an unsupervised change method (``rsvision eval change --method M``) or a learned change model
(``rsvision eval change -m MODEL``, the built-in one by default) on a change dataset.

Each pair is fitted on its own pixels (the methods take no training: their statistics are the pair's own), then
scored whole through the same predictor the engine streams over scenes; pixels the second date does not cover are
no change. OSCD pairs come as the older date's 10 m band stack and the newer date put on it by georeference
(:class:`rsvision.datasets.change.OscdDataset`); triplets as their images.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from rasterio.windows import Window

from rsvision.core.progress import progress_bar
from rsvision.datasets import Dataset
from rsvision.datasets.change import set_coregistration
from rsvision.errors import AnnotationError, NotGeoreferencedWarning
from rsvision.io import open_scene
from rsvision.metrics import ChangeMetric
from rsvision.tasks.base import TileBatch
from rsvision.tasks.change import UnsupervisedChange, change_method, normaliser


def predict_pair(before: np.ndarray, after: np.ndarray, method: str, normalise: str | None = None) -> np.ndarray:
    """The (H, W) 0/1 change map of one pair of (C, H, W) arrays (masked arrays: masked pixels are nodata),
    the method fitted on the pair's pixels valid in both dates."""
    x = np.ma.getdata(before).astype(np.float32)[None]
    y = np.ma.getdata(after).astype(np.float32)[None]
    mask1, mask2 = np.ma.getmaskarray(before).any(0)[None], np.ma.getmaskarray(after).any(0)[None]
    valid = ~mask1 & ~mask2 & np.isfinite(x).all(1) & np.isfinite(y).all(1)
    norm = normaliser(normalise)
    if norm is not None:
        norm.fit(x, y, valid)
    fitted = change_method(method)
    fitted.fit(x, norm.apply(y) if norm is not None else y, valid)
    predictor = UnsupervisedChange(fitted, norm)
    h, w = x.shape[-2:]
    batch = TileBatch(x, mask1, [Window(0, 0, w, h)], images2=y, masks2=~valid)
    return predictor.predict(batch)[0].argmax(0).astype(np.uint8)


def evaluate_change_method(
    dataset: Dataset,
    method: str,
    normalise: str | None = None,
    *,
    progress: bool = False,
    coregister: bool | None = None,
) -> dict[str, Any]:
    """The change keys (``f1``, ``iou``, ``precision``, ``recall``, ``kappa`` ...) of ``method`` pooled over every
    pair of ``dataset``, plus ``per_sample`` (each pair's keys) and ``n_images``. A label of another size than its
    images is refused. ``coregister``: OSCD pairs moved onto their first date by their pixels (off by default)."""
    set_coregistration(dataset, coregister, False)
    out = _score_pairs(dataset, lambda sample, x, y: predict_pair(x, y, method, normalise), method, progress)
    return {**out, "method": method}


def evaluate_change_model(
    model, dataset: Dataset, *, progress: bool = False, coregister: bool | None = None, tta: bool = False
) -> dict[str, Any]:
    """The same keys for a learned change model (a ``LoadedModel``), each pair whole through the predictor the
    engine streams over scenes; its bands found in each pair as ``rsvision change`` finds them. ``coregister``:
    None co-registers OSCD pairs where the model's card says it was trained on co-registered pairs; ``tta``: each
    pair's probabilities averaged over its flips and quarter turns."""
    name = model.weights.name
    set_coregistration(dataset, coregister, model.weights.preprocessing.coregister)
    out = _score_pairs(dataset, lambda sample, x, y: predict_pair_learned(model, sample, x, y, tta), name, progress)
    return {**out, "model": name, "tta": tta}


def predict_pair_learned(model, sample, before: np.ndarray, after: np.ndarray, tta: bool = False) -> np.ndarray:
    """The (H, W) 0/1 change map of a learned model for one pair of arrays, the bands named by the sample's first
    image (a band folder, a GeoTIFF, a PNG); with ``tta`` averaged over the pair's D4 views."""
    from rsvision.tasks.classification import select_bands  # deferred: torch (eval's other tasks start without it)
    from rsvision.tasks.learned_change import LearnedChange, date_moments

    with warnings.catch_warnings():  # only its band names are read here
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        scene = open_scene(sample.image[0])
    weights = model.weights
    where = str(sample.image[0])
    dtype = str(np.asarray(before).dtype)
    choice = select_bands(weights, scene.bands, None, where, dtype, scene.sensor)
    names = [b.name for b in scene.bands]
    order = [names.index(n) for n in choice.read] if choice.read else list(range(len(names)))
    x, y = np.ma.getdata(before)[None], np.ma.getdata(after)[None]
    mask1, mask2 = np.ma.getmaskarray(before).any(0)[None], np.ma.getmaskarray(after).any(0)[None]
    moments = date_moments(x, y, ~(mask1 | mask2), order) if weights.preprocessing.standardise else None
    predictor = LearnedChange(weights, model.module, order, choice, dtype=dtype, moments=moments, tta=tta)
    h, w = x.shape[-2:]
    batch = TileBatch(x, mask1, [Window(0, 0, w, h)], images2=y, masks2=mask2 | mask1)
    return predictor.predict(batch)[0].argmax(0).astype(np.uint8)


def _score_pairs(dataset: Dataset, predict, what: str, progress: bool) -> dict[str, Any]:
    pooled, per_sample = ChangeMetric(), {}
    with progress_bar(enabled=progress) as bar:
        for sample in bar.track(dataset, description=f"{what} on {len(dataset)} pairs"):
            before, after = dataset.load_image(sample, 0), dataset.load_image(sample, 1)
            truth = dataset.load_mask(sample)
            if before.shape[1:] != truth.shape or after.shape[1:] != truth.shape:
                raise AnnotationError(
                    f"{sample.targets.get('mask')}: label is {truth.shape[1]} x {truth.shape[0]} but its images are "
                    f"{before.shape[2]} x {before.shape[1]} and {after.shape[2]} x {after.shape[1]}"
                )
            predicted = predict(sample, before, after)
            pooled.update(predicted, truth)
            one = ChangeMetric()
            one.update(predicted, truth)
            per_sample[sample.id] = {k: v for k, v in one.compute().items() if k != "per_class"}
    return {**pooled.compute(), "n_images": len(dataset), "per_sample": per_sample}
