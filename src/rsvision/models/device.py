"""Which torch device a command runs its model on: ``--device auto|cpu|cuda``."""

from __future__ import annotations

import torch

from rsvision.core.settings import check_device
from rsvision.errors import RsvisionError


def pick_device(name: str = "auto") -> str:
    """``auto``: CUDA when torch sees a GPU, else the CPU; ``cpu`` or ``cuda`` as asked (``cuda`` without a GPU
    is an error)."""
    check_device(name)
    available = torch.cuda.is_available()
    if name == "cuda" and not available:
        raise RsvisionError("--device cuda: torch sees no CUDA GPU here (use --device cpu or auto)")
    return "cuda" if name == "cuda" or (name == "auto" and available) else "cpu"
