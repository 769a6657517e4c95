"""Semantic segmentation as a task: the engine's dense predictor around an encoder-decoder and its ``Weights``
card. Tiles reach the network at their own size (the network is fully convolutional; sides are padded to its
stride by reflection and the padding cut off again); the card's band order, value checks and normalisation apply
as they do to classifiers, and so does the band choice of :func:`rsvision.tasks.classification.select_bands`."""

from __future__ import annotations

import numpy as np

from rsvision.models.weights import Weights
from rsvision.tasks.base import DensePredictor, TileBatch
from rsvision.tasks.classification import BandChoice, card_fingerprint, card_input, class_colours, tiles_from

STRIDE = 32  # the encoders' total downsampling: inputs are padded to a multiple of it


def card_colours(weights: Weights) -> dict[int, tuple[int, int, int, int]]:
    """Class colours: the card's ``notes["colours"]`` (``#RRGGBB`` per class, as the dataset draws them) when it
    has them, else distinct ones."""
    given = weights.notes.get("colours") if weights.notes else None
    if not given or len(given) != len(weights.classes):
        return class_colours(len(weights.classes))
    return {i: (*(int(c.lstrip("#")[j : j + 2], 16) for j in (0, 2, 4)), 255) for i, c in enumerate(given)}


def padded_forward(module, x):
    """Logits of a fully convolutional ``module`` for a normalised ``(B, C, H, W)`` batch of any size: sides padded
    to a multiple of :data:`STRIDE` (by reflection; by repeating the edge where the image is too small to reflect)
    and the padding cut off the output. Inference and training's validation share it, so both see the same map."""
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    pad_h, pad_w = -h % STRIDE, -w % STRIDE
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect" if min(h, w) > max(pad_h, pad_w) else "replicate")
    return module(x)[..., :h, :w].float()


class Segmenter(DensePredictor):
    """Per-pixel class probabilities of every tile. ``output="classes"`` writes the class map (argmax of the
    blended probabilities), ``"scores"`` the probabilities. ``bands`` says which scene bands are read and how
    (:func:`~rsvision.tasks.classification.select_bands`); ``dtype`` is the scene's (integer tiles reach the card's
    value checks as the file's values)."""

    def __init__(
        self,
        weights: Weights,
        module,
        bands: BandChoice | None = None,
        *,
        output: str = "classes",
        dtype: str | None = None,
        tile_size: int | None = None,
        device: str = "cpu",
    ):
        choice = bands or BandChoice(None, "position")
        self.weights, self.output, self.device = weights, output, device
        self.module = module.eval().to(device)
        self.num_outputs = len(weights.classes)
        self.class_names, self.colormap = list(weights.classes), card_colours(weights)
        self.bands, self.to_8bit = choice.read, choice.to_8bit
        self.model_bands = list(weights.bands) if choice.read is not None else None
        self.dtype = dtype if dtype and np.dtype(dtype).kind in "ui" else None
        self.tile_size = int(tile_size or weights.input_size)
        self.check()

    def predict(self, batch: TileBatch) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = card_input(self, batch.images, tiles_from(batch))
            return torch.softmax(padded_forward(self.module, x), dim=1).cpu().numpy()

    def fingerprint(self) -> str:
        settings = (self.output, self.bands, self.dtype, self.to_8bit, self.tile_size)
        return card_fingerprint(self, self.weights, *settings)
