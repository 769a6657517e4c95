"""The dihedral group D4 on image tensors (overhead imagery has no up) and D4 test-time augmentation."""

from __future__ import annotations

from collections.abc import Callable

import torch


def d4_transform(x: torch.Tensor, k: int) -> torch.Tensor:
    """Element ``k`` (0..7) of D4 applied to the last two axes: ``k % 4`` quarter turns
    (counter-clockwise, ``torch.rot90``), then a left-right flip when ``k >= 4``."""
    if not 0 <= k < 8:
        raise ValueError(f"D4 has 8 elements, got k={k}")
    out = torch.rot90(x, k % 4, dims=(-2, -1))
    return out.flip(-1) if k >= 4 else out


def d4_mean(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The mean of ``fn`` over the 8 D4 views of a square (N, C, S, S) batch: test-time augmentation of any
    output that does not move with the image (class probabilities, pooled features)."""
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"D4 views need square images, got {tuple(x.shape[-2:])}")
    return torch.stack([fn(d4_transform(x, k)) for k in range(8)]).mean(0)
