"""Band-adaptive stem: give a model trained on some bands a first convolution for other bands, by name.

Rule (documented in docs/models.md): each new band takes the filter of the model's band with the
same name, else of the band nearest in centre wavelength; a band without a wavelength (radar) takes
the mean of all filters. The whole kernel is then multiplied by ``n_old / n_new`` so that an input
whose bands are normalised alike keeps the activation scale the model was trained with (the rule of
timm's ``adapt_input_conv`` and TorchGeo).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rsvision.core.sensors import SENSORS, Band, get_sensor
from rsvision.errors import BandCountError, RsvisionError

BandLike = str | Band


def resolve_bands(bands: Sequence[BandLike], sensor: str | None = None) -> list[Band]:
    """Band records for band names: looked up in ``sensor``'s catalogue, else in every sensor of
    :data:`rsvision.core.sensors.SENSORS` (first match); ``Band`` objects pass through."""
    catalogue = [get_sensor(sensor)] if sensor else list(SENSORS.values())
    out: list[Band] = []
    for b in bands:
        if isinstance(b, Band):
            out.append(b)
            continue
        for s in catalogue:
            match = next((x for x in s.bands if x.name.lower() == str(b).lower()), None)
            if match is not None:
                out.append(match)
                break
        else:
            where = f"sensor {sensor}" if sensor else "any sensor of the catalogue"
            raise BandCountError(f"unknown band name {b!r} (not in {where})")
    names = [b.name for b in out]
    if len(set(names)) != len(names):
        raise BandCountError(f"band names repeat: {names}")
    return out


def band_mapping(source: Sequence[BandLike], target: Sequence[BandLike], sensor: str | None = None) -> list[int | None]:
    """For each target band, the index of the source band whose filter it inherits (None: mean filter)."""
    src = resolve_bands(source, sensor)
    dst = resolve_bands(target, sensor)
    mapping: list[int | None] = []
    for band in dst:
        same = [i for i, s in enumerate(src) if s.name.lower() == band.name.lower()]
        if same:
            mapping.append(same[0])
            continue
        if band.wavelength_nm is None:
            mapping.append(None)
            continue
        known = [
            (abs(s.wavelength_nm - band.wavelength_nm), i) for i, s in enumerate(src) if s.wavelength_nm is not None
        ]
        mapping.append(min(known)[1] if known else None)
    return mapping


def first_conv_name(model: nn.Module) -> str:
    """Dotted name of the model's input convolution (timm's ``pretrained_cfg['first_conv']`` when given)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    name = cfg.get("first_conv")
    if isinstance(name, str) and isinstance(model.get_submodule(name), nn.Conv2d):
        return name
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name
    raise RsvisionError(f"{type(model).__name__} has no Conv2d input layer to adapt")


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The model's input convolution."""
    return model.get_submodule(first_conv_name(model))


@torch.no_grad()
def adapt_conv_weight(weight: torch.Tensor, mapping: Sequence[int | None]) -> torch.Tensor:
    """(O, I, kh, kw) kernel for I old bands -> (O, len(mapping), kh, kw) by the rule above."""
    old = weight.shape[1]
    mean = weight.mean(dim=1)
    cols = [weight[:, i] if i is not None else mean for i in mapping]
    return torch.stack(cols, dim=1) * (old / len(mapping))


@torch.no_grad()
def adapt_stem(
    model: nn.Module, source: Sequence[BandLike], target: Sequence[BandLike], sensor: str | None = None
) -> nn.Module:
    """Replace ``model``'s input convolution (trained on ``source`` bands) by one for ``target`` bands.

    Band names are matched by name and wavelength, never by position. Returns the model (changed in place).
    """
    name = first_conv_name(model)
    conv: nn.Conv2d = model.get_submodule(name)
    if conv.in_channels != len(source):
        raise BandCountError(
            f"{type(model).__name__}.{name} takes {conv.in_channels} bands, "
            f"but {len(source)} source band names were given"
        )
    if conv.groups != 1:
        raise RsvisionError(f"cannot adapt grouped input convolution {name}")
    mapping = band_mapping(source, target, sensor)
    new = nn.Conv2d(
        len(mapping),
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        1,
        conv.bias is not None,
        conv.padding_mode,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    new.weight.copy_(adapt_conv_weight(conv.weight, mapping))
    if conv.bias is not None:
        new.bias.copy_(conv.bias)
    parent_name, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, attr, new)
    return model
