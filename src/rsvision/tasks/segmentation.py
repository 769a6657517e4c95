"""Semantic segmentation as a task: the engine's dense predictor around an encoder-decoder and its ``Weights``
card. Tiles reach the network at their own size (the network is fully convolutional; sides are padded to its
stride by reflection and the padding cut off again); the card's band order, value checks and normalisation apply
as they do to classifiers, and so does the band choice of :func:`rsvision.tasks.classification.select_bands`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rsvision.errors import RsvisionError
from rsvision.models.tta import d4_dense_mean
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


def check_scales(scales: Sequence[float] | None) -> tuple[float, ...]:
    """Inference scales, validated: positive factors, at most 4 (the network sees up to 16 times the pixels); the
    tile at its own size when None."""
    if scales is None:
        return (1.0,)
    out = tuple(float(s) for s in scales)
    if not out or any(not 0.25 <= s <= 4 for s in out):
        raise RsvisionError(f"scales must be factors between 0.25 and 4, got {', '.join(map(str, scales)) or 'none'}")
    return out


class Segmenter(DensePredictor):
    """Per-pixel class probabilities of every tile. ``output="classes"`` writes the class map (argmax of the
    blended probabilities), ``"scores"`` the probabilities. ``bands`` says which scene bands are read and how
    (:func:`~rsvision.tasks.classification.select_bands`); ``dtype`` is the scene's (integer tiles reach the card's
    value checks as the file's values). ``tta``: each tile's probabilities averaged over its D4 views (8 for a
    square tile, the 4 that keep its shape otherwise), turned back onto its pixels: 8 times the work. ``scales``:
    each tile also resampled by these factors and the probabilities averaged (multi-scale inference; 0.75, 1,
    1.25 cost 3.1 times one scale)."""

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
        tta: bool = False,
        scales: Sequence[float] | None = None,
    ):
        choice = bands or BandChoice(None, "position")
        self.weights, self.output, self.device, self.tta = weights, output, device, tta
        self.scales = check_scales(scales)
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
            return torch.stack([self._at_scale(x, s) for s in self.scales]).mean(0).cpu().numpy()

    def _at_scale(self, x, scale: float):
        """Probabilities of the tile resampled by ``scale`` (bilinear, antialiased), resampled back onto its
        pixels; over its D4 views with ``tta``."""
        import torch.nn.functional as F

        size = x.shape[-2:]
        if scale != 1:
            x = F.interpolate(x, scale_factor=scale, mode="bilinear", antialias=True, align_corners=False)
        p = d4_dense_mean(self._probabilities, x) if self.tta else self._probabilities(x)
        return p if scale == 1 else F.interpolate(p, size=size, mode="bilinear", align_corners=False)

    def _probabilities(self, x):
        import torch

        return torch.softmax(padded_forward(self.module, x), dim=1)

    def fingerprint(self) -> str:
        settings = (self.output, self.bands, self.dtype, self.to_8bit, self.tile_size, self.tta, self.scales)
        return card_fingerprint(self, self.weights, *settings)
