"""The preprocessing a model was trained with, kept in its ``Weights`` record and applied at inference.

Raw pixel values are divided by ``scale`` (255 for 8-bit imagery, 10000 for Sentinel-2 reflectance),
the whole image is resized to ``input_size`` (bilinear, antialiased), and each band is standardised
with ``mean`` / ``std`` (of the scaled values). Inputs whose values contradict ``value_range``
(already scaled to [0, 1], already standardised, or of another bit depth) are refused.

With ``standardise`` (change models), each band of each date is first brought to one level and spread
(:data:`STANDARD_LEVEL`, :data:`STANDARD_SPREAD`, raw units) from the scene's own mean and standard deviation
(:func:`band_moments`, :func:`standardise_bands`), then goes through the steps above.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field, model_validator

from rsvision.core.progress import plural
from rsvision.errors import BandCountError, NormalisationError

if TYPE_CHECKING:
    import torch

# torch is imported inside the methods that make tensors: cards (and this record in them) are read at the
# command line's startup (`rsvision models`, argument checks) without paying seconds for torch.


# the level and spread each band of a standardised date is put at: raw values that the card's scale, range and
# statistics then take as they take reflectance in 1/10000
STANDARD_LEVEL, STANDARD_SPREAD = 5000.0, 1000.0


def band_moments(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and standard deviation ``(C,)`` of ``values`` ``(C, H, W)`` or ``(N, C, H, W)`` over the
    pixels ``valid`` (``(H, W)`` or ``(N, H, W)``)."""
    values = np.asarray(values, dtype=np.float32)
    pixels = np.moveaxis(values, -3, 0)[:, np.asarray(valid, bool)]
    if pixels.shape[1] == 0:
        raise ValueError("no valid pixels to take band statistics from")
    return pixels.mean(1), np.maximum(pixels.std(1), 1e-6)


def standardise_bands(values: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``values`` ``(..., C, H, W)`` with each band moved from its ``mean`` and ``std`` to :data:`STANDARD_LEVEL`
    and :data:`STANDARD_SPREAD`, clipped to ``[0, 65535]`` (float32)."""
    shape = (-1, 1, 1)
    z = (np.asarray(values, dtype=np.float32) - np.reshape(mean, shape)) / np.reshape(std, shape)
    return np.clip(z * STANDARD_SPREAD + STANDARD_LEVEL, 0, 65535).astype(np.float32)


BAND_STATISTICS = {"mean", "std"}


class Preprocessing(BaseModel):
    """Bands by name, raw value range and scale, per-band mean/std of scaled values, input size; ``standardise``:
    each band of each date standardised by the scene's own statistics first (module text); ``coregister``: a change
    model trained on pairs co-registered by their pixels (:mod:`rsvision.io.coregister`), which inference repeats."""

    bands: list[str]
    scale: float = Field(gt=0)
    value_range: tuple[float, float]
    mean: list[float]
    std: list[float]
    input_size: int = Field(gt=0)
    standardise: bool = False
    coregister: bool = False

    @model_validator(mode="after")
    def _lengths(self) -> Preprocessing:
        n = len(self.bands)
        if len(self.mean) != n or len(self.std) != n:
            raise ValueError(f"mean and std need one value per band ({n}), got {len(self.mean)} and {len(self.std)}")
        if min(self.std) <= 0:
            raise ValueError("std values must be positive")
        return self

    # ------------------------------------------------------------------ checks
    def same_as(self, other: Preprocessing) -> bool:
        """Equal, band statistics equal to float noise: the same training images' mean and standard deviation
        summed on another machine differ in the ninth digit."""
        if not self.same_but_statistics(other):
            return False
        return all(np.allclose(getattr(self, k), getattr(other, k), rtol=1e-6, atol=0) for k in BAND_STATISTICS)

    def same_but_statistics(self, other: Preprocessing) -> bool:
        """Equal in everything but the band statistics (an ensemble maps those: rsvision.models.ensemble)."""
        return self.model_dump(exclude=BAND_STATISTICS) == other.model_dump(exclude=BAND_STATISTICS)

    def check_normalisation(
        self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None, scale: float | None = None
    ) -> None:
        """Refuse explicit mean / std / scale that differ from the record's (nobody re-types them)."""
        for what, given, own in (("mean", mean, self.mean), ("std", std, self.std)):
            if given is not None and not np.allclose(np.asarray(given, dtype=float), own, rtol=1e-4, atol=1e-6):
                raise NormalisationError(
                    f"{what} {list(given)} differs from the model's {own}: the weights were "
                    "trained with the record's normalisation, which is applied automatically"
                )
        if scale is not None and not np.isclose(scale, self.scale):
            raise NormalisationError(f"input scale 1/{scale:g} differs from the model's 1/{self.scale:g}")

    def check_values(self, image: np.ndarray | torch.Tensor, where: str = "input") -> None:
        """Refuse raw values that cannot come from the recorded ``value_range``."""
        lo, hi = self.value_range
        tensor = hasattr(image, "detach")  # a torch.Tensor
        arr = image.detach() if tensor else np.asarray(image)
        if (arr.numel() if tensor else arr.size) == 0:
            raise NormalisationError(f"{where}: empty image")
        is_float = arr.dtype.is_floating_point if tensor else arr.dtype.kind == "f"
        vmin, vmax = float(arr.min()), float(arr.max())
        if vmin < lo - 1e-6 or vmax > hi + 1e-6:
            raise NormalisationError(
                f"{where}: values span [{vmin:g}, {vmax:g}] outside the model's raw range [{lo:g}, {hi:g}] "
                f"(it expects raw values divided by {self.scale:g}; give unnormalised pixels of that kind)"
            )
        if is_float and hi >= 2 and vmax <= 1.0 and vmax > 0:
            raise NormalisationError(
                f"{where}: float values within [0, 1] look already scaled; the model expects raw values in "
                f"[{lo:g}, {hi:g}] and divides them by {self.scale:g} itself"
            )

    # ------------------------------------------------------------------ transforms
    def order_bands(self, image: np.ndarray, bands: Sequence[str] | None, where: str = "input") -> np.ndarray:
        """(C, H, W) or (N, C, H, W) image with named bands -> the record's band order (by name)."""
        axis = image.ndim - 3
        count = image.shape[axis]
        if bands is None:
            if count != len(self.bands):
                raise BandCountError(
                    f"{where}: {plural(count, 'band')} given without names; the model takes "
                    f"{len(self.bands)} ({', '.join(self.bands)})"
                )
            return image
        if len(bands) != count:
            raise BandCountError(f"{where}: {len(bands)} band names for {count} bands")
        lower = [b.lower() for b in bands]
        missing = [b for b in self.bands if b.lower() not in lower]
        if missing:
            raise BandCountError(f"{where}: the model needs bands {', '.join(missing)}; given {', '.join(bands)}")
        order = [lower.index(b.lower()) for b in self.bands]
        return np.take(image, order, axis=axis)

    def normalise(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) raw values -> standardised float32 (no resizing)."""
        import torch

        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1) * self.scale
        std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1) * self.scale
        return (batch.float() - mean) / std

    def resize(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) float -> (N, C, input_size, input_size), whole image, bilinear with antialias."""
        import torch.nn.functional as F

        size = self.input_size
        if batch.shape[-2:] == (size, size):
            return batch
        return F.interpolate(batch.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)

    def __call__(self, image: np.ndarray, bands: Sequence[str] | None = None, where: str = "input") -> torch.Tensor:
        """(C, H, W) or (N, C, H, W) raw image (numpy, masked arrays filled with 0) -> model-ready tensor."""
        import torch

        if isinstance(image, np.ma.MaskedArray):
            image = image.filled(0)
        image = np.asarray(image)
        if image.ndim not in (3, 4):
            raise BandCountError(f"{where}: expected a (C, H, W) image, got shape {image.shape}")
        if min(image.shape[-2:]) < 2:
            raise BandCountError(f"{where}: image of {image.shape[-1]} x {image.shape[-2]} pixels is too small")
        image = self.order_bands(image, bands, where)
        self.check_values(image, where)
        batch = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
        if batch.ndim == 3:
            batch = batch[None]
        return self.normalise(self.resize(batch))


def preprocess_chunk(prep: Preprocessing, chunk: np.ndarray | Sequence[np.ndarray], start: int = 0) -> torch.Tensor:
    """A batch of raw images ((B, C, H, W), or a list of (C, H, W) of any sizes) as the model's input; ``start``
    numbers them in messages."""
    import torch

    if isinstance(chunk, np.ndarray):
        return prep(chunk)
    return torch.cat([prep(im, where=f"image {start + i}") for i, im in enumerate(chunk)])
