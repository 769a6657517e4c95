"""Third-party checkpoints by local path (or Hugging Face id, online, on request).

- TorchGeo's Sentinel-2 ResNet weights are timm ResNets saved with ``torch.save``: keys ``conv1.weight``,
  ``bn1.*``, ``layer1.0.conv1.weight`` ... ``fc.weight``, 13 input bands in the order B01 .. B08, B8A,
  B09 .. B12. timm's ResNet names equal torchvision's, so they load into :mod:`rsvision.models.backbones`.
  TorchGeo's ViT weights are timm ViTs (``patch_embed.proj.weight``, ``blocks.N.*``, ``head.*``).
- timm checkpoints: ``.pth`` / ``.bin`` / ``.safetensors`` state dicts of ``timm.create_model(name)``.

Reading files, removing wrappers and prefixes, and loading with checks is :mod:`rsvision.models.state`'s job.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import torch
from torch import nn

from rsvision.core.sensors import SENTINEL2_ORDER
from rsvision.errors import RsvisionError, WeightsError
from rsvision.models.backbones import build_timm
from rsvision.models.registry import RGB, build_model
from rsvision.models.state import load_state, map_keys, read_state_dict
from rsvision.models.stem import BandLike, adapt_stem, resolve_bands


def _in_chans(state: Mapping[str, torch.Tensor]) -> int:
    for key in ("conv1.weight", "patch_embed.proj.weight", "stem.conv.weight", "conv_stem.weight", "stem.0.weight"):
        if key in state and state[key].ndim == 4:
            return int(state[key].shape[1])
    first = next((v for v in state.values() if v.ndim == 4), None)
    if first is None:
        raise WeightsError("checkpoint has no convolution weights to infer its input bands from")
    return int(first.shape[1])


def _head_classes(state: Mapping[str, torch.Tensor]) -> int:
    for key in ("fc.weight", "head.weight", "head.fc.weight", "classifier.weight"):
        if key in state and state[key].ndim == 2:
            return int(state[key].shape[0])
    return 0


def load_torchgeo(path: str | os.PathLike, arch: str = "resnet18", bands: Sequence[BandLike] | None = None,
                  num_classes: int = 0, checkpoint_bands: Sequence[BandLike] = tuple(SENTINEL2_ORDER),
                  **model_kwargs) -> nn.Module:
    """A TorchGeo Sentinel-2 checkpoint (``resnet18`` / ``resnet50`` into torchvision modules, ``vit_*``
    through timm). ``num_classes=0`` gives a feature extractor; ``bands`` adapts the 13-band stem by
    wavelength (e.g. to the 10 bands a scene has); ``model_kwargs`` go to the builder (e.g. a ViT's
    ``img_size``). ``model.band_names`` holds the bands it takes."""
    state = map_keys(read_state_dict(path), ["conv1.weight", "patch_embed.proj.weight"])
    n = _in_chans(state)
    if n != len(checkpoint_bands):
        raise WeightsError(f"{path}: checkpoint takes {n} bands, {len(checkpoint_bands)} band names given")
    name = arch if not arch.startswith("vit") else f"timm:{arch}"
    model = build_model(name, num_classes=num_classes, bands=checkpoint_bands, **model_kwargs)
    load_state(model, state, where=str(path))
    if bands is not None:
        adapt_stem(model, checkpoint_bands, bands)
        model.band_names = tuple(b.name for b in resolve_bands(bands))
    return model


def load_timm(path: str | os.PathLike, model_name: str, num_classes: int | None = None,
              checkpoint_bands: Sequence[BandLike] | None = None, bands: Sequence[BandLike] | None = None) -> nn.Module:
    """A timm checkpoint: ``timm.create_model(model_name)`` with the file's input bands and classes
    (``num_classes`` replaces the head; 0 removes it). ``checkpoint_bands`` (default RGB for 3 bands)
    names the bands it was trained on; ``bands`` adapts the stem to others by wavelength."""
    state = read_state_dict(path)
    state = map_keys(state, ["conv1.weight", "patch_embed.proj.weight", "conv_stem.weight", "stem.conv.weight"])
    n = _in_chans(state)
    if checkpoint_bands is None:
        if n != 3:
            raise WeightsError(f"{path}: checkpoint takes {n} bands; name them with checkpoint_bands")
        checkpoint_bands = RGB
    if n != len(checkpoint_bands):
        raise WeightsError(f"{path}: checkpoint takes {n} bands, {len(checkpoint_bands)} band names given")
    classes = _head_classes(state) if num_classes is None else num_classes
    model = build_timm(model_name, num_classes=classes, in_chans=n)
    load_state(model, state, where=str(path))
    target = checkpoint_bands if bands is None else bands
    if bands is not None:
        adapt_stem(model, checkpoint_bands, bands)
    model.band_names = tuple(b.name for b in resolve_bands(target))
    return model


def download_from_hub(repo_id: str, filename: str, revision: str | None = None) -> Path:
    """Local path of ``filename`` from Hugging Face repository ``repo_id`` (downloads only when called:
    needs ``huggingface_hub`` and a network connection). Load it with :func:`load_torchgeo` / :func:`load_timm`."""
    try:  # huggingface_hub is optional: imported only when a download is asked for
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise RsvisionError("downloading from Hugging Face needs huggingface_hub: pip install huggingface_hub") from None
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, revision=revision))
    except Exception as err:  # offline, unknown repository or file
        raise WeightsError(f"cannot get {filename} from Hugging Face {repo_id}: {str(err).splitlines()[0]}") from None
