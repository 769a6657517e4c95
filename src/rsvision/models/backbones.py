"""Backbone builders: torchvision classifiers, width-scaled ResNets, and any timm model (optional extra).

Every builder returns a plain ``nn.Module`` classifier with ``in_chans`` input bands and
``num_classes`` outputs (``num_classes=0`` gives a feature extractor with an identity head).
"""

from __future__ import annotations

from collections.abc import Callable

import timm
from torch import nn
from torchvision import models as tvm
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from rsvision.errors import RsvisionError
from rsvision.models.stem import first_conv_name


class ScaledResNet(ResNet):
    """torchvision's ResNet with every stage's width multiplied by ``width`` (0.5 = half width).

    Module names match torchvision's (``conv1``, ``bn1``, ``layer1`` .. ``layer4``, ``fc``), so
    state dicts in the torchvision / timm / TorchGeo layout load into it at ``width=1``.
    """

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: list[int],
        width: float = 1.0,
        num_classes: int = 1000,
        in_chans: int = 3,
    ):
        super().__init__(block, layers, num_classes=max(num_classes, 1))
        widths = [max(8, round(w * width)) for w in (64, 128, 256, 512)]
        if width != 1.0:
            self.inplanes = widths[0]
            self.conv1 = nn.Conv2d(in_chans, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(widths[0])
            self.layer1 = self._make_layer(block, widths[0], layers[0])
            self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
            self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
            self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
            self._init_new()
        elif in_chans != 3:
            self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        features = widths[3] * block.expansion
        self.fc = nn.Linear(features, num_classes) if num_classes > 0 else nn.Identity()
        self.num_features = features

    def _init_new(self) -> None:
        # the same initialisation as torchvision's ResNet.__init__
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


_RESNET_LAYERS = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
}


def _resnet(arch: str) -> Callable[..., nn.Module]:
    block, layers = _RESNET_LAYERS[arch]

    def build(num_classes: int = 1000, in_chans: int = 3, width: float = 1.0) -> nn.Module:
        return ScaledResNet(block, layers, width=width, num_classes=num_classes, in_chans=in_chans)

    build.__doc__ = f"torchvision {arch}, optionally width-scaled (``width``)."
    return build


def _replace_conv_in(conv: nn.Conv2d, in_chans: int) -> nn.Conv2d:
    new = nn.Conv2d(
        in_chans,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        conv.bias is not None,
        conv.padding_mode,
    )
    nn.init.kaiming_normal_(new.weight, mode="fan_out")
    if new.bias is not None:
        nn.init.zeros_(new.bias)
    return new


def _torchvision(ctor: Callable[..., nn.Module], head: str) -> Callable[..., nn.Module]:
    """A torchvision classifier whose first convolution takes ``in_chans`` bands.

    ``head`` is the attribute path of the final linear layer (``classifier.3``, ``head``...).
    """

    def build(num_classes: int = 1000, in_chans: int = 3) -> nn.Module:
        model = ctor(weights=None, num_classes=max(num_classes, 1))
        if in_chans != 3:
            name = first_conv_name(model)
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, attr, _replace_conv_in(getattr(parent, attr), in_chans))
        if num_classes == 0:
            parent_name, _, attr = head.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, attr, nn.Identity())
        return model

    build.__doc__ = f"torchvision {ctor.__name__}."
    return build


TORCHVISION_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    **{arch: _resnet(arch) for arch in _RESNET_LAYERS},
    "mobilenet_v3_small": _torchvision(tvm.mobilenet_v3_small, "classifier.3"),
    "mobilenet_v3_large": _torchvision(tvm.mobilenet_v3_large, "classifier.3"),
    "efficientnet_b0": _torchvision(tvm.efficientnet_b0, "classifier.1"),
    "convnext_tiny": _torchvision(tvm.convnext_tiny, "classifier.2"),
}


def build_timm(model_name: str, num_classes: int = 1000, in_chans: int = 3, **kwargs) -> nn.Module:
    """Any timm model by name, with random weights."""
    if not timm.is_model(model_name):
        raise RsvisionError(f"timm has no model named {model_name!r}")
    return timm.create_model(model_name, pretrained=False, num_classes=num_classes, in_chans=in_chans, **kwargs)


def head_size(model: nn.Module) -> int:
    """Outputs of a timm model's classifier (``get_classifier()``; 0 when it has none or is not a timm model)."""
    get = getattr(model, "get_classifier", None)
    head = get() if callable(get) else None
    return int(getattr(head, "out_features", 0) or 0)
