"""Batch augmentations on tensors, driven by an explicit ``torch.Generator`` so runs repeat exactly.

- D4: the 8 symmetries of the square (4 rotations by 90 degrees, each with or without a flip),
  since overhead imagery has no up;
- random resized crops (a box of random area fraction and aspect ratio, resampled with roi_align);
- colour jitter: brightness, contrast and saturation factors drawn per image.
"""

from __future__ import annotations

import math

import torch
from torchvision.ops import roi_align

from rsvision.models.tta import d4_transform


def random_d4(batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image of a square (N, C, S, S) batch under a random D4 element; returns (batch, elements)."""
    if batch.shape[-1] != batch.shape[-2]:
        raise ValueError(f"D4 needs square images, got {tuple(batch.shape[-2:])}")
    ks = torch.randint(0, 8, (batch.shape[0],), generator=generator)
    return torch.stack([d4_transform(image, int(k)) for image, k in zip(batch, ks)]), ks


def random_boxes(
    n: int, height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float], generator: torch.Generator
) -> torch.Tensor:
    """(n, 4) xyxy crop boxes in pixel units: area fraction in ``scale``, aspect w/h log-uniform in
    ``ratio``, clamped to the image, placed uniformly."""
    area = height * width * (scale[0] + (scale[1] - scale[0]) * torch.rand(n, generator=generator, dtype=torch.float64))
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * torch.rand(
        n, generator=generator, dtype=torch.float64
    )
    r = torch.exp(log_r)
    w = torch.sqrt(area * r).clamp(1, width)
    h = torch.sqrt(area / r).clamp(1, height)
    x0 = (width - w) * torch.rand(n, generator=generator, dtype=torch.float64)
    y0 = (height - h) * torch.rand(n, generator=generator, dtype=torch.float64)
    return torch.stack([x0, y0, x0 + w, y0 + h], dim=1).float()


def crop_resize(batch: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Crop each image of (N, C, H, W) float ``batch`` to its xyxy box and resample to ``size`` x ``size``
    (bilinear, two samples per output pixel and axis, which averages like an antialiased resize)."""
    rois = torch.cat([torch.arange(len(boxes), dtype=boxes.dtype)[:, None], boxes], dim=1)
    return roi_align(batch, rois, output_size=(size, size), spatial_scale=1.0, sampling_ratio=2, aligned=True)


def random_resized_crop(
    batch: torch.Tensor, size: int, scale: tuple[float, float], ratio: tuple[float, float], generator: torch.Generator
) -> torch.Tensor:
    boxes = random_boxes(batch.shape[0], batch.shape[-2], batch.shape[-1], scale, ratio, generator)
    return crop_resize(batch.float(), boxes, size)


def band_gain(batch: torch.Tensor, strength: float, generator: torch.Generator, vmax: float = 1.0) -> torch.Tensor:
    """Each band of each image multiplied by its own factor drawn in [1 - s, 1 + s]: the per-band shifts of light
    and atmosphere between two dates of a multispectral pair (colour jitter moves every band alike). Clipped to
    [0, ``vmax``]."""
    if strength <= 0:
        return batch
    gains = 1 + strength * (2 * torch.rand(batch.shape[0], batch.shape[1], 1, 1, generator=generator) - 1)
    return batch.mul(gains).clamp_(0, vmax)


def colour_jitter(batch: torch.Tensor, strength: float, generator: torch.Generator, vmax: float = 1.0) -> torch.Tensor:
    """Brightness, contrast and saturation factors drawn in [1 - s, 1 + s] per image (values scaled to
    [0, ``vmax``]; saturation mixes each pixel with its band mean). Results are clipped to [0, ``vmax``]."""
    if strength <= 0:
        return batch
    n = batch.shape[0]
    b, c, s = 1 + strength * (2 * torch.rand(3, n, 1, 1, 1, generator=generator) - 1)
    mean = batch.mean(dim=(1, 2, 3), keepdim=True) * b
    out = batch.mul(b * c).add_(mean * (1 - c))  # brightness, then contrast about the image mean
    grey = out.mean(dim=1, keepdim=True)
    out.mul_(s).add_(grey * (1 - s))
    return out.clamp_(0, vmax)
