"""Published CLIP checkpoints (RemoteCLIP, GeoRSCLIP, SkyCLIP: all open_clip models) behind the dual encoder's API.

``-m openclip:ARCH:PATH`` builds open_clip's ``ARCH`` with random weights (``pretrained=None``: nothing is fetched)
and loads the state dict at ``PATH`` (bare, or under ``state_dict``; a ``module.`` prefix is stripped).
``openclip:hf-hub:NAME`` hands ``hf-hub:NAME`` to open_clip, which downloads it: only when the user is online.
:class:`OpenClipEncoder` gives ``encode_image`` / ``encode_text`` on unit vectors, as
:class:`~rsvision.models.dual_encoder.DualEncoder` does, with the checkpoint's own tokenizer, so an
:class:`~rsvision.models.embedder.Embedder` takes either. The card (built in :mod:`rsvision.models.resolve`) gets the
checkpoint's image preprocessing from :func:`openclip_preprocessing`.

open_clip is imported inside the functions that build a model: it takes seconds, and most commands never need it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rsvision.errors import WeightsError, first_line
from rsvision.models.language import check_texts, warn_truncated
from rsvision.models.preprocess import Preprocessing
from rsvision.models.state import load_state, read_state_dict

MAX_LOGIT_SCALE = 100.0  # CLIP's clamp of exp(logit scale)
HUB = "hf-hub"
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


class OpenClipEncoder(nn.Module):
    """An open_clip model and its tokenizer as a dual encoder: unit-length image and text embeddings."""

    def __init__(self, model: nn.Module, tokenizer: Any, arch: str):
        super().__init__()
        self.model, self.tokenizer, self.arch = model, tokenizer, arch
        self.context_length = int(getattr(tokenizer, "context_length", 0) or 77)
        with torch.inference_mode():  # one short text: every open_clip text tower (own or HF) gives its width so
            self.embed_dim = int(model.encode_text(tokenizer(["a"]).to(_device(model))).shape[-1])

    @property
    def scale(self) -> torch.Tensor:
        """exp(logit scale), clamped at 100 as CLIP does: the temperature of its image-text softmax."""
        return self.model.logit_scale.detach().float().exp().clamp(max=MAX_LOGIT_SCALE).reshape(())

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_image(x).float(), dim=-1)

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Texts longer than the context are truncated by the tokenizer, with a TextTruncatedWarning."""
        texts = check_texts(texts)
        self._warn_long(texts)
        tokens = self.tokenizer(texts).to(_device(self.model))
        return F.normalize(self.model.encode_text(tokens).float(), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_image(x)

    def _warn_long(self, texts: Sequence[str]) -> None:
        """open_clip cuts long texts silently; say so. Only BPE tokenizers with ``encode`` can count tokens."""
        encode = getattr(self.tokenizer, "encode", None)
        if encode is None:
            return
        n_long = sum(len(encode(t)) + 2 > self.context_length for t in texts)  # + start and end tokens
        warn_truncated(n_long, self.context_length, f"open_clip {self.arch}")


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _open_clip():
    try:
        import open_clip
    except ImportError:
        raise WeightsError("-m openclip:... needs the open_clip_torch package: pip install open_clip_torch") from None
    return open_clip


def load_openclip(arch: str, path: str | os.PathLike) -> OpenClipEncoder:
    """open_clip's ``arch`` (a name of ``open_clip.list_models()``) with the tensors of the checkpoint at ``path``;
    a checkpoint of another architecture is refused in one line naming the keys that do not fit."""
    open_clip = _open_clip()
    state = read_state_dict(path)  # before building: a missing or unreadable file costs no model
    if arch not in open_clip.list_models():
        raise WeightsError(f"openclip:{arch}: open_clip has no architecture {arch!r} (see open_clip.list_models())")
    with _quiet_logging():  # open_clip logs "initialized randomly": true, until the next line loads the file
        model = open_clip.create_model(arch, pretrained=None, pretrained_image=False, pretrained_text=False)
    load_state(model, _strip_module(state), where=str(path))
    try:
        tokenizer = open_clip.get_tokenizer(arch)
    except Exception as err:  # a Hugging Face tokenizer that is not in the local cache, offline
        first = first_line(err)
        raise WeightsError(f"openclip:{arch}: its tokenizer could not be loaded ({first})") from None
    return OpenClipEncoder(model.eval(), tokenizer, arch)


@contextmanager
def _quiet_logging():
    """Silence warnings logged inside the block, restoring the caller's setting after."""
    before = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(before)


def _strip_module(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """DataParallel's ``module.`` prefix off every key (open_clip's own training saves it)."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return state


def load_openclip_hub(name: str) -> OpenClipEncoder:
    """``hf-hub:NAME`` through open_clip, which downloads config and weights: refused at once when offline."""
    if any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes") for v in OFFLINE_VARIABLES):
        raise WeightsError(f"-m openclip:{HUB}:{name} downloads from the Hugging Face Hub, but HF_HUB_OFFLINE is set")
    open_clip = _open_clip()
    try:
        model = open_clip.create_model(f"{HUB}:{name}")
        tokenizer = open_clip.get_tokenizer(f"{HUB}:{name}")
    except Exception as err:  # no network, no such repository, no open_clip config in it
        first = first_line(err)
        raise WeightsError(
            f"-m openclip:{HUB}:{name}: could not load it from the Hugging Face Hub ({first}); offline, download "
            "the checkpoint and give -m openclip:ARCH:PATH"
        ) from None
    return OpenClipEncoder(model.eval(), tokenizer, f"{HUB}:{name}")


def openclip_preprocessing(encoder: OpenClipEncoder) -> Preprocessing:
    """The checkpoint's image transform as a card's preprocessing: 8-bit RGB, its mean / std and input size.
    open_clip resizes the shorter side (bicubic) and crops the centre; rsvision resizes the whole image (bilinear),
    which is the same on the square tiles and images of remote sensing."""
    from open_clip.model import get_model_preprocess_cfg  # deferred: open_clip (see the note at the top)

    cfg = get_model_preprocess_cfg(encoder.model)
    size = cfg.get("size", 224)
    return Preprocessing(
        bands=["red", "green", "blue"],
        scale=255.0,
        value_range=(0, 255),
        mean=[float(v) for v in cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))],
        std=[float(v) for v in cfg.get("std", (0.26862954, 0.26130258, 0.27577711))],
        input_size=int(size if isinstance(size, int) else max(size)),
    )


def openclip_card_fields(encoder: OpenClipEncoder) -> dict[str, Any]:
    """What a card records of the checkpoint beyond its preprocessing: the tokenizer and its context, and how
    open_clip itself resizes (for whoever compares numbers with open_clip's own pipeline)."""
    from open_clip.model import get_model_preprocess_cfg  # deferred: open_clip (see the note at the top)

    cfg = get_model_preprocess_cfg(encoder.model)
    return {
        "architecture_kwargs": {
            "openclip_arch": encoder.arch,
            "tokenizer": f"open_clip.get_tokenizer({encoder.arch!r}): {type(encoder.tokenizer).__name__}",
            "context_length": encoder.context_length,
            "embed_dim": encoder.embed_dim,
        },
        "notes": {
            "openclip_resize": f"{cfg.get('resize_mode', 'shortest')}, {cfg.get('interpolation', 'bicubic')}",
        },
    }


def hub_name(path: Path | None) -> str:
    """The repository of ``openclip:hf-hub:NAME`` (the parser reads NAME as a path): ``/``-separated."""
    if path is None:
        raise WeightsError(f"-m openclip:{HUB}:NAME needs the repository name, e.g. openclip:{HUB}:ORG/REPO")
    return path.as_posix()
