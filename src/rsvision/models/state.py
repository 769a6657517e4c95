"""State dicts: read a checkpoint file's tensors, map its keys onto a model's, and load it, refusing what does not fit.

Below both the builders (:mod:`rsvision.models.registry` loads a card's tensors with :func:`load_state`) and the
third-party formats (:mod:`rsvision.models.checkpoints`), so neither imports the other to reach these functions.

Wrappers (``{"state_dict": ...}``, ``{"model": ...}``) and prefixes (``module.``, ``model.``, ``backbone.``,
``encoder.``, ``encoder_q.``) are removed. A classifier head whose shape does not fit is left out and a head the
file lacks keeps its initialisation (both reported with a warning); any other missing or unexpected key is an error.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from rsvision.errors import InputNotFoundError, WeightsError

PREFIXES = ("module.", "model.", "backbone.", "encoder_q.", "encoder.", "net.")
WRAPPERS = ("state_dict", "model", "model_state_dict", "module", "net")
HEADS = ("fc.", "head.", "classifier.", "head.fc.")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file (safetensors, or a torch pickle read with ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"no such checkpoint: {path}")
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt pickle / zip / header: one line naming the file
        raise WeightsError(
            f"{path}: not a readable checkpoint ({type(err).__name__}: {str(err).splitlines()[0]})"
        ) from None
    for key in WRAPPERS:
        if isinstance(state, Mapping) and key in state and isinstance(state[key], Mapping):
            state = state[key]
            break
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: holds no state dict of tensors")
    return dict(state)


def map_keys(state: Mapping[str, torch.Tensor], expected: Sequence[str]) -> dict[str, torch.Tensor]:
    """Strip wrapper prefixes from ``state``'s keys until they meet ``expected`` (the model's keys)."""
    wanted = set(expected)
    out = dict(state)
    for _ in range(3):
        if len(wanted.intersection(out)) >= max(1, len(out) // 2):
            break
        for prefix in PREFIXES:
            if sum(k.startswith(prefix) for k in out) >= len(out) // 2:
                out = {k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in out.items()}
                break
        else:
            break
    return out


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], where: str = "checkpoint") -> list[str]:
    """Load ``state`` into ``model`` after key mapping; returns the head keys left out for not fitting.

    Raises WeightsError naming the keys when anything else is missing, unexpected or of another shape.
    """
    own = model.state_dict()
    state = map_keys(state, list(own))
    skipped = [k for k, v in state.items() if k.startswith(HEADS) and (k not in own or own[k].shape != v.shape)]
    state = {k: v for k, v in state.items() if k not in skipped}
    wrong = [
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and own[k].shape != v.shape
    ]
    fresh = [k for k in own if k not in state and k.startswith(HEADS)]  # a new head keeps its initialisation
    missing = [k for k in own if k not in state and k not in fresh]
    unexpected = [k for k in state if k not in own]
    if wrong or missing or unexpected:
        parts = [
            f"{label}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''} ({len(keys)})"
            for label, keys in (("shape differs", wrong), ("missing", missing), ("unexpected", unexpected))
            if keys
        ]
        raise WeightsError(f"{where} does not fit {type(model).__name__}: " + "; ".join(parts))
    model.load_state_dict(state, strict=False)
    if skipped:
        warnings.warn(f"{where}: classifier head {', '.join(skipped)} left out (other number of classes)", stacklevel=2)
    elif fresh:
        warnings.warn(
            f"{where}: has no classifier head; {', '.join(fresh)} keep their random initialisation", stacklevel=2
        )
    return skipped


def load_timm_tensors(target: nn.Module, classifier_state: Mapping[str, torch.Tensor]) -> int:
    """Load a timm classifier's tensors into ``target``, a feature extractor of the same timm model (a segmenter's
    ``tu-`` encoder, a detector's backbone body: timm's ``features_only`` modules keep the classifier's names, with
    dots or underscores); the classifier's head is left out. Returns the number of tensors loaded; a shape that
    does not match, or no tensor in common, is an error."""
    own = target.state_dict()
    by_flat = {key.replace(".", "_"): key for key in own}
    loaded = {}
    for key, value in classifier_state.items():
        name = key if key in own else by_flat.get(key.replace(".", "_"))
        if name is None:
            continue
        if own[name].shape != value.shape:
            raise WeightsError(f"classifier tensor {key} {tuple(value.shape)} != {tuple(own[name].shape)}")
        loaded[name] = value
    if not loaded:
        raise WeightsError("the classifier shares no tensor with the network: not the same timm model")
    target.load_state_dict(loaded, strict=False)
    return len(loaded)
