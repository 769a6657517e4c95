"""Model builders by name: ``build_model("resnet18", num_classes=30, bands=[...], width=0.5)``.

Names are the torchvision builders of :mod:`rsvision.models.backbones`, ``timm:<any timm name>``, or the
encoder-decoders of :mod:`rsvision.models.segmentation` (``unet``, ``fpn`` ... with ``encoder=``), or their siamese
change versions of :mod:`rsvision.models.change` (``siamese_unet`` ...), or the detectors of
:mod:`rsvision.models.detection` (``fasterrcnn``, ``retinanet``, ``fcos``, ``rotated_fcos`` with ``backbone=``), or
the image-text ``dual_encoder`` of :mod:`rsvision.models.dual_encoder`, or the captioners of
:mod:`rsvision.models.captioner` (``caption_memory``, ``caption_decoder``, ``caption_fusion``), or an ``ensemble``
of trained members (:mod:`rsvision.models.ensemble`).
A model is built for named bands; ``source_bands`` (with ``source_state``) adapts a model trained
on other bands through the band-adaptive stem. :func:`build_from_weights` builds the network a ``Weights``
card describes, with its verified tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from rsvision.errors import RsvisionError, WeightsError
from rsvision.models.backbones import TORCHVISION_BUILDERS, build_timm
from rsvision.models.captioner import CAPTION_BUILDERS
from rsvision.models.change import CHANGE_BUILDERS
from rsvision.models.detection import DETECTION_BUILDERS
from rsvision.models.dual_encoder import DUAL_ENCODER_BUILDERS
from rsvision.models.ensemble import ENSEMBLE, combine, renormalised
from rsvision.models.segmentation import SEGMENTATION_BUILDERS
from rsvision.models.state import load_state
from rsvision.models.stem import BandLike, adapt_stem, resolve_bands
from rsvision.models.vqa import VQA_BUILDERS
from rsvision.models.weights import Weights

RGB = ("red", "green", "blue")

_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    **TORCHVISION_BUILDERS,
    **SEGMENTATION_BUILDERS,
    **CHANGE_BUILDERS,
    **DETECTION_BUILDERS,
    **DUAL_ENCODER_BUILDERS,
    **CAPTION_BUILDERS,
    **VQA_BUILDERS,
}


def register(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator adding a builder ``f(num_classes, in_chans, **kwargs) -> nn.Module`` under ``name``."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise RsvisionError(f"a model builder named {name!r} is already registered")
        _BUILDERS[name] = fn
        return fn

    return wrap


def list_models() -> list[str]:
    """Registered builder names (``timm:<name>`` builds any timm model besides these)."""
    return sorted(_BUILDERS)


def build_model(
    name: str,
    num_classes: int,
    bands: Sequence[BandLike] = RGB,
    *,
    sensor: str | None = None,
    source_bands: Sequence[BandLike] | None = None,
    source_state: Mapping[str, torch.Tensor] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """A classifier for ``bands`` (names or :class:`Band`), ``num_classes`` outputs (0: features).

    With ``source_bands``, the model is built for those bands, ``source_state`` (if given) is loaded,
    and its stem is then adapted to ``bands`` by wavelength (:func:`rsvision.models.stem.adapt_stem`).
    The band names are kept on the model as ``model.band_names``.
    """
    target = resolve_bands(bands, sensor)
    first = resolve_bands(source_bands, sensor) if source_bands is not None else target
    if name.startswith("timm:"):
        model = build_timm(name[5:], num_classes=num_classes, in_chans=len(first), **kwargs)
    elif name in _BUILDERS:
        model = _BUILDERS[name](num_classes=num_classes, in_chans=len(first), **kwargs)
    elif name == ENSEMBLE:  # members built for the same bands (docs: rsvision.models.ensemble)
        specs = kwargs.pop("members")
        built = [build_model(s["architecture"], num_classes, first, **s["architecture_kwargs"]) for s in specs]
        model = combine(renormalised(built, specs), **kwargs)
    else:
        raise RsvisionError(f"unknown model {name!r}; known: {', '.join(list_models())}, or timm:<name>")
    if source_state is not None:
        load_state(model, source_state, where=f"weights for {name}")
    if source_bands is not None and [b.name for b in first] != [b.name for b in target]:
        if name == ENSEMBLE and any("renormalise" in s for s in specs):
            raise WeightsError("an ensemble whose members were normalised apart cannot be adapted to other bands")
        for part in model.members if name == ENSEMBLE else [model]:
            adapt_stem(part, first, target)
    model.band_names = tuple(b.name for b in target)
    return model


def build_from_weights(weights: Weights, bands: Sequence[str] | None = None) -> nn.Module:
    """The architecture of a ``Weights`` card with its tensors loaded (sha256 checked), in eval mode. With ``bands``
    other than the card's, the stem is adapted by wavelength (for fine-tuning: the card's normalisation covers
    its own bands only)."""
    model = build_model(
        weights.architecture,
        num_classes=len(weights.classes),
        bands=bands or weights.bands,
        source_bands=weights.bands,
        source_state=weights.state_dict(),
        **weights.architecture_kwargs,
    )
    return model.eval()
