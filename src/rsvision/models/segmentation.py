"""Encoder-decoders for per-pixel maps, from segmentation-models-pytorch (the library TorchGeo builds on).

``build_model("unet", num_classes=5, encoder="tu-efficientnet_lite0")`` gives smp's U-Net over any encoder smp
knows: its own (``resnet18``, ``efficientnet-b0``, ``mobilenet_v2`` ...) or any timm model as ``tu-<timm name>``.
Always ``encoder_weights=None``: nothing downloads; weights come from our own files (a ``Weights`` card), or the
encoder starts from a classifier of the registry (:func:`encoder_state_from_classifier`). The first convolution is
the encoder's, so the band-adaptive stem (:mod:`rsvision.models.stem`) adapts these models to other bands as it
does classifiers. No decoder is written here: smp has every one the field uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from rsvision.errors import RsvisionError, WeightsError
from rsvision.models.state import load_timm_tensors
from rsvision.models.weights import builtin_weights

# registry name -> smp's architecture name (smp.create_model's ``arch``)
ARCHITECTURES = {
    "unet": "unet",
    "unetplusplus": "unetplusplus",
    "deeplabv3plus": "deeplabv3plus",
    "fpn": "fpn",
    "upernet": "upernet",
}
DEFAULT_ENCODER = "tu-efficientnet_lite0"


def build_segmenter(
    arch: str, num_classes: int, in_chans: int = 3, encoder: str = DEFAULT_ENCODER, **kwargs
) -> nn.Module:
    """smp's ``arch`` over ``encoder`` with random weights: ``(B, in_chans, H, W) -> (B, num_classes, H, W)``
    logits, H and W multiples of 32."""
    import segmentation_models_pytorch as smp  # deferred: it imports huggingface_hub, seconds a classifier skips

    try:
        return smp.create_model(
            ARCHITECTURES[arch],
            encoder_name=encoder,
            encoder_weights=None,
            in_channels=in_chans,
            classes=max(num_classes, 1),
            **kwargs,
        )
    except (KeyError, ValueError, RuntimeError) as err:
        raise RsvisionError(f"cannot build {arch} over encoder {encoder!r}: {str(err).splitlines()[0]}") from None


def _builder(arch: str) -> Callable[..., nn.Module]:
    def build(num_classes: int, in_chans: int = 3, **kwargs) -> nn.Module:
        return build_segmenter(arch, num_classes, in_chans, **kwargs)

    build.__doc__ = f"segmentation-models-pytorch {ARCHITECTURES[arch]} (``encoder=``: smp or ``tu-<timm name>``)."
    return build


SEGMENTATION_BUILDERS: dict[str, Callable[..., nn.Module]] = {arch: _builder(arch) for arch in ARCHITECTURES}


def encoder_state_from_classifier(model: nn.Module, classifier_state: Mapping[str, torch.Tensor]) -> int:
    """Load a timm classifier's tensors into a ``tu-<same timm model>`` encoder of ``model`` (the classifier's
    head is left out); the number of tensors loaded (:func:`rsvision.models.state.load_timm_tensors`)."""
    return load_timm_tensors(model.encoder.model, classifier_state)


DEFAULT_SEGMENTER = "dubai_landcover_fpn"


def segmenter_spec(model: str | None) -> str:
    """What ``-m`` names, or the built-in land-cover model; without it (not trained yet, or removed) a one-line
    error says how to get one."""
    if model:
        return model
    if DEFAULT_SEGMENTER not in builtin_weights():
        raise WeightsError(
            f"the built-in land-cover model ({DEFAULT_SEGMENTER}) is not installed: give -m MODEL.safetensors "
            "(rsvision train segmentation makes one)"
        )
    return DEFAULT_SEGMENTER
