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


def d4_inverse(y: torch.Tensor, k: int) -> torch.Tensor:
    """Undo :func:`d4_transform` ``k`` on the last two axes (a dense output back onto the input's pixels)."""
    y = y.flip(-1) if k >= 4 else y
    return torch.rot90(y, -(k % 4), dims=(-2, -1))


def dense_views(height: int, width: int) -> tuple[int, ...]:
    """The D4 elements that keep an ``height`` x ``width`` image's shape: all 8 for a square, else the identity,
    the half turn and the two flips (quarter turns would swap the sides)."""
    return tuple(range(8)) if height == width else (0, 2, 4, 6)


def d4_dense_mean(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, every_view: bool = False
) -> torch.Tensor:
    """Test-time augmentation of a dense output (per-pixel probabilities): ``fn`` of each shape-keeping D4 view of
    the (N, C, H, W) batch, turned back onto the input's pixels, averaged. ``every_view``: all 8 views whatever the
    shape (a fully convolutional ``fn`` takes a turned W x H view as well)."""
    views = range(8) if every_view else dense_views(*x.shape[-2:])
    return torch.stack([d4_inverse(fn(d4_transform(x, k)), k) for k in views]).mean(0)
