"""A learned change model as the engine's pair predictor: a siamese network of :mod:`rsvision.models.change` with
its ``Weights`` card. Apart from :mod:`rsvision.tasks.change` because it imports torch, which the unsupervised
methods (and the commands that only list or check) do without."""

from __future__ import annotations

import numpy as np

from rsvision.models.preprocess import band_moments, standardise_bands
from rsvision.models.tta import d4_dense_mean
from rsvision.models.weights import Weights
from rsvision.tasks.base import ChangePredictor, TileBatch
from rsvision.tasks.change import CLASSES, COLOURS
from rsvision.tasks.classification import BandChoice, card_fingerprint, card_input, tiles_from
from rsvision.tasks.segmentation import padded_forward


class LearnedChange(ChangePredictor):
    """The engine's pair predictor around a siamese change network and its card: per pixel the softmax of
    ``(no change, change)``. ``order``: the positions of the card's bands among the pair's (both dates carry the
    same bands in the same order, :func:`rsvision.workflows.change.pair_scenes`); ``bands.to_8bit``: Sentinel-2
    reflectance for a model of 8-bit true colour. Pixels the second date does not cover come out as no change.
    ``moments``: for a card that standardises (``preprocessing.standardise``), each date's per-band mean and
    standard deviation in the card's band order, from the scene (:func:`date_moments`). ``tta``: each tile pair's
    probabilities averaged over its 8 flips and quarter turns (both dates under the same view, turned back; a
    non-square pair too, which the network takes turned; 8 times the work)."""

    num_outputs = 2
    class_names = CLASSES
    colormap = COLOURS

    def __init__(
        self,
        weights: Weights,
        module,
        order: list[int],
        bands: BandChoice,
        *,
        dtype: str | None = None,
        tile_size: int | None = None,
        device: str = "cpu",
        moments: list[tuple[np.ndarray, np.ndarray]] | None = None,
        tta: bool = False,
    ):
        if weights.preprocessing.standardise and moments is None:
            raise ValueError(f"{weights.name} standardises each date: give the scene's band moments")
        self.weights, self.order, self.to_8bit, self.device = weights, list(order), bands.to_8bit, device
        self.tta = tta
        self.moments = moments if weights.preprocessing.standardise else None
        self.model_bands = None  # ``order`` has put the card's bands in its order already
        self.module = module.eval().to(device)
        integer = dtype and np.dtype(dtype).kind in "ui" and self.moments is None  # standardised values are float
        self.dtype = dtype if integer else None
        self.tile_size = int(tile_size or weights.input_size)
        self.output = "classes"
        self.check()

    def predict(self, batch: TileBatch) -> np.ndarray:
        import torch

        where = tiles_from(batch)
        with torch.inference_mode():
            dates = [images[:, self.order] for images in (batch.images, batch.images2)]
            if self.moments is not None:
                dates = [standardise_bands(d, *m) for d, m in zip(dates, self.moments)]
            dates = [card_input(self, d, where) for d in dates]
            pair = torch.cat(dates, 1)
            probabilities = (
                d4_dense_mean(self._probabilities, pair, every_view=True) if self.tta else self._probabilities(pair)
            ).numpy()
        if batch.masks2 is not None:
            probabilities[:, 0][batch.masks2], probabilities[:, 1][batch.masks2] = 1.0, 0.0
        return probabilities

    def _probabilities(self, pair):
        import torch

        return torch.softmax(padded_forward(self.module, pair), dim=1).cpu()

    def fingerprint(self) -> str:
        moments = [[v.tolist() for v in m] for m in self.moments] if self.moments is not None else None
        settings = (self.order, self.to_8bit, self.dtype, self.tile_size, moments, self.tta)
        return card_fingerprint(self, self.weights, *settings)


def date_moments(
    before: np.ndarray, after: np.ndarray, valid: np.ndarray, order: list[int]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each date's per-band mean and standard deviation over the pixels ``valid`` in both, in the card's band
    order (``order``): the scene statistics a standardising card needs (a first pass's sample windows, or a
    whole pair)."""
    return [band_moments(np.take(date, order, axis=-3), valid) for date in (before, after)]
