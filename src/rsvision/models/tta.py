"""The dihedral group D4 on image tensors (overhead imagery has no up) and D4 test-time augmentation."""

from __future__ import annotations

import torch
from torch import nn


def d4_transform(x: torch.Tensor, k: int) -> torch.Tensor:
    """Element ``k`` (0..7) of D4 applied to the last two axes: ``k % 4`` quarter turns
    (counter-clockwise, ``torch.rot90``), then a left-right flip when ``k >= 4``."""
    if not 0 <= k < 8:
        raise ValueError(f"D4 has 8 elements, got k={k}")
    out = torch.rot90(x, k % 4, dims=(-2, -1))
    return out.flip(-1) if k >= 4 else out


@torch.no_grad()
def d4_probabilities(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Class probabilities of a square (N, C, S, S) batch averaged over its 8 D4 views."""
    return torch.stack([model(d4_transform(x, k)).float().softmax(-1) for k in range(8)]).mean(0)
