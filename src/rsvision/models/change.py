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

:class:`FCSiamDiff` is Daudt et al.'s own FC-Siam-diff (ICIP 2018), the field's OSCD baseline, written out here
because no maintained library ships it (torchgeo's ``FCSiamDiff`` is smp's U-Net with a ResNet encoder): four
levels of 3x3 convolutions (16, 32, 64, 128 channels) with batch norm, ReLU and dropout, a skip at every level
including the input's own resolution, 1.35 M parameters, trained from scratch.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

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


def _check_pair(x: torch.Tensor) -> None:
    """Refuse a stack that cannot be two dates of equal band count."""
    if x.shape[1] % 2:
        raise RsvisionError(f"a change network takes two dates of equal band count, got {x.shape[1]} channels")


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
        _check_pair(x)
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


def _convs(widths: Sequence[int], dropout: float) -> nn.Sequential:
    """3x3 convolutions from ``widths[0]`` through each later width, each with batch norm, ReLU and dropout."""
    layers: list[nn.Module] = []
    for a, b in pairwise(widths):
        layers += [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=True), nn.Dropout2d(dropout)]
    return nn.Sequential(*layers)


class FCSiamDiff(nn.Module):
    """Daudt et al.'s FC-Siam-diff: ``(B, 2C, H, W)`` -> ``(B, num_classes, H, W)``. One encoder for both dates
    (levels of 2, 2, 3, 3 convolutions, max-pooled between); the decoder starts from the second date's deepest
    pooled features, and at each level upsamples (transposed convolution) and reads the absolute difference of the
    two dates' features there. Sides must be multiples of 16 (:func:`~rsvision.tasks.segmentation.padded_forward`
    pads to 32)."""

    def __init__(self, num_classes: int, in_chans: int, widths: Sequence[int] = (16, 32, 64, 128), dropout=0.2):
        super().__init__()
        w1, w2, w3, w4 = widths
        self.down = nn.ModuleList(
            [
                _convs([in_chans, w1, w1], dropout),
                _convs([w1, w2, w2], dropout),
                _convs([w2, w3, w3, w3], dropout),
                _convs([w3, w4, w4, w4], dropout),
            ]
        )
        self.up = nn.ModuleList(nn.ConvTranspose2d(w, w, 3, stride=2, padding=1, output_padding=1) for w in widths)
        self.decode = nn.ModuleList(
            [
                _convs([2 * w1, w1], dropout),
                _convs([2 * w2, w2, w1], dropout),
                _convs([2 * w3, w3, w3, w2], dropout),
                _convs([2 * w4, w4, w4, w3], dropout),
            ]
        )
        self.segmentation_head = nn.Conv2d(w1, num_classes, 3, padding=1)  # the bias a threshold is set in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_pair(x)
        h = torch.cat(x.chunk(2, dim=1))  # both dates in one pass: the batch norms see both
        skips = []
        for stage in self.down:
            h = stage(h)
            skips.append(h)
            h = F.max_pool2d(h, 2)
        h = h.chunk(2)[1]
        for level in reversed(range(len(self.down))):
            before, after = skips[level].chunk(2)
            h = self.decode[level](torch.cat([self.up[level](h), (before - after).abs()], 1))
        return self.segmentation_head(h)


def build_fc_siam_diff(num_classes: int, in_chans: int = 3, **kwargs) -> nn.Module:
    """Daudt et al.'s FC-Siam-diff (:class:`FCSiamDiff`; ``widths=``, ``dropout=``), random weights."""
    return FCSiamDiff(num_classes, in_chans, **kwargs)


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


CHANGE_BUILDERS = {f"siamese_{arch}": _builder(arch) for arch in ARCHITECTURES} | {"fc_siam_diff": build_fc_siam_diff}


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
