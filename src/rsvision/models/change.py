"""Siamese encoder-decoders for change between two dates: one encoder shared by both dates, their features fused
level by level, and the segmentation issue's decoders (smp's, :mod:`rsvision.models.segmentation`) on the fused
features.

The network takes the two dates stacked along the channels, ``(B, 2C, H, W)`` (before, then after), so the training
loop, the padding to the stride and the card's band order work as they do for one image; ``in_chans`` is the band
count of ONE date, and the encoder's first convolution (the one the band-adaptive stem adapts) sees C bands.
Fusion: ``diff`` (the absolute difference of the two feature maps, FC-Siam-diff's rule: symmetric in the dates, no
extra weights) or ``concat`` (both maps, reduced back to the encoder's width by a 1x1 convolution, FC-Siam-conc's
rule: it can tell appearance from disappearance).
``upsample``: the pair is resampled by this factor (bilinear) before the encoder and the logits averaged back onto
the input's pixels. smp's U-Net drops the encoder's full-resolution level and its finest skip is at half
resolution, so on 10 m imagery, where a new building is a few pixels, factor 2 gives the decoder a skip at the
input's own resolution (for four times the work).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rsvision.errors import RsvisionError
from rsvision.models.segmentation import ARCHITECTURES, DEFAULT_ENCODER, build_segmenter
from rsvision.models.weights import builtin_weights

FUSIONS = ("diff", "concat")
BUILTIN_CHANGE_MODEL = "oscd_change_siamese"  # Sentinel-2's 13 bands
RGB_CHANGE_MODEL = "oscd_change_siamese_rgb"  # red, green, blue in 8 bits (Sentinel-2 made 8-bit true colour)


class SiameseChange(nn.Module):
    """``(B, 2C, H, W)`` -> ``(B, num_classes, H, W)`` change logits through ``segmenter``'s encoder (shared),
    the fusion, and ``segmenter``'s decoder and head."""

    def __init__(self, segmenter: nn.Module, fusion: str = "diff", upsample: int = 1):
        super().__init__()
        if fusion not in FUSIONS:
            raise RsvisionError(f"unknown fusion {fusion!r}; use {' or '.join(FUSIONS)}")
        if int(upsample) != upsample or upsample < 1:
            raise RsvisionError(f"upsample must be a whole factor of 1 or more, got {upsample!r}")
        self.fusion, self.upsample = fusion, int(upsample)
        self.segmenter = segmenter
        widths = segmenter.encoder.out_channels
        self.reduce = nn.ModuleList(nn.Conv2d(2 * w, w, 1) for w in widths) if fusion == "concat" else None

    @property
    def encoder(self) -> nn.Module:
        """The shared encoder (a classifier's tensors load into it as into a segmenter's)."""
        return self.segmenter.encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] % 2:
            raise RsvisionError(f"a change network takes two dates of equal band count, got {x.shape[1]} channels")
        if self.upsample > 1:
            x = F.interpolate(x, scale_factor=self.upsample, mode="bilinear", align_corners=False)
        before, after = x.chunk(2, dim=1)
        both = self.segmenter.encoder(torch.cat([before, after]))  # one pass: the batch norms see both dates
        fused = []
        for level, features in enumerate(both):
            a, b = features.chunk(2)
            fused.append((a - b).abs() if self.reduce is None else self.reduce[level](torch.cat([a, b], 1)))
        logits = self.segmenter.segmentation_head(self.segmenter.decoder(fused))
        return F.avg_pool2d(logits, self.upsample) if self.upsample > 1 else logits


def build_siamese(
    arch: str,
    num_classes: int,
    in_chans: int = 3,
    encoder: str = DEFAULT_ENCODER,
    fusion: str = "diff",
    upsample: int = 1,
    **kwargs,
) -> nn.Module:
    """A siamese ``arch`` (an smp architecture of :data:`ARCHITECTURES`) over ``encoder`` for dates of ``in_chans``
    bands each, random weights."""
    return SiameseChange(build_segmenter(arch, num_classes, in_chans, encoder, **kwargs), fusion, upsample)


def _builder(arch: str):
    def build(num_classes: int, in_chans: int = 3, **kwargs) -> nn.Module:
        return build_siamese(arch, num_classes, in_chans, **kwargs)

    build.__doc__ = f"siamese {ARCHITECTURES[arch]} for change (``encoder=``, ``fusion=diff|concat``, ``upsample=``)."
    return build


CHANGE_BUILDERS = {f"siamese_{arch}": _builder(arch) for arch in ARCHITECTURES}


def default_change_model(band_names: Sequence[str], dtype: str, sensor: str | None) -> str | None:
    """The built-in model for a pair whose first date has these bands: the 13-band one when it has Sentinel-2's 13
    bands by name, the RGB one for 8-bit imagery of three or more bands or another Sentinel-2 scene (made 8-bit
    true colour); None (no model fits, or it is not installed) for anything else."""
    installed = builtin_weights()
    thirteen = installed.get(BUILTIN_CHANGE_MODEL)
    if thirteen is not None and set(thirteen.bands) <= set(band_names):
        return BUILTIN_CHANGE_MODEL
    eight_bit = np.dtype(dtype) == np.uint8 and len(band_names) >= 3
    if RGB_CHANGE_MODEL in installed and (eight_bit or sensor == "sentinel-2"):
        return RGB_CHANGE_MODEL
    return None
