"""Captioning networks: the retrieval captioner's memory and the transformer-decoder captioner.

``caption_memory`` holds what a nearest-neighbour captioner needs and nothing else: the embeddings of its
training images by a named dual encoder (float16) and their captions as UTF-8 bytes, so a card and its
safetensors carry the whole memory offline. Captions are chosen from it by
:class:`rsvision.tasks.captioning.RetrievalCaptioner` (the embedder is loaded by name, not copied).

A memory may also carry a :class:`CandidateRanker` (``ranker``): what a learned scorer of its candidate captions
needs (each caption's text embedding, a word probe over image embeddings, the scorer's weights).

``caption_decoder`` is an image encoder from the registry (its pooled feature map as memory tokens) and a small
transformer decoder over a closed vocabulary, decoded greedily or with a beam. Built with ``retrieved=R`` it also
attends to the words of R captions retrieved for the image; ``caption_fusion`` holds such a decoder and the memory
it retrieves from (retrieval-augmented generation: :class:`rsvision.tasks.captioning.FusionCaptioner`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from itertools import pairwise
from typing import Any

import numpy as np
import torch
from torch import nn

from rsvision.errors import WeightsError
from rsvision.models.backbones import TORCHVISION_BUILDERS, build_timm
from rsvision.models.language import build_vocabulary, words

MEMORY_ARCH = "caption_memory"
DECODER_ARCH = "caption_decoder"
FUSION_ARCH = "caption_fusion"
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)
# what CandidateRanker.weights weigh, per candidate caption (rsvision.tasks.captioning.candidate_features)
RANKER_FEATURES = (
    "agreement",
    "similarity",
    "rank",
    "image_text",
    "repeats",
    "length",
    "length_squared",
    "semantic",
    "word_precision",
    "word_recall",
)


class CandidateRanker(nn.Module):
    """A learned scorer of a caption memory's candidates: a linear score (``weights``) over RANKER_FEATURES.
    ``caption_embeddings``: each memory caption's text embedding by the memory's dual encoder (float16, unit
    length); ``probe_*``: a multi-label linear probe from a standardised image embedding to "this word occurs in the
    image's captions", one output per word of ``words`` (UTF-8 bytes cut at ``word_offsets``)."""

    def __init__(self, n_captions: int, embed_dim: int, n_words: int, n_word_bytes: int):
        super().__init__()
        self.register_buffer("caption_embeddings", torch.zeros(n_captions, embed_dim, dtype=torch.float16))
        # float16 as save_weights stores kernels: what is validated in memory is what loads
        self.register_buffer("probe_weight", torch.zeros(embed_dim, n_words, dtype=torch.float16))
        self.register_buffer("probe_bias", torch.zeros(n_words))
        self.register_buffer("probe_mean", torch.zeros(embed_dim))
        self.register_buffer("probe_std", torch.ones(embed_dim))
        self.register_buffer("word_bytes", torch.zeros(n_word_bytes, dtype=torch.uint8))
        self.register_buffer("word_offsets", torch.zeros(n_words + 1, dtype=torch.int64))
        self.register_buffer("weights", torch.zeros(len(RANKER_FEATURES)))

    @classmethod
    def from_parts(
        cls, caption_embeddings, words: Sequence[str], probe: tuple, standardise: tuple, weights
    ) -> CandidateRanker:
        """A ranker of ``caption_embeddings`` ((N, D)), the probe ``(weight (D, V), bias (V,))`` over ``words``
        applied to ``(embedding - mean) / std`` (``standardise``), and the scorer's ``weights``."""
        encoded = [w.encode() for w in words]
        offsets = torch.tensor([0, *map(len, encoded)], dtype=torch.int64).cumsum(0)
        ranker = cls(len(caption_embeddings), caption_embeddings.shape[1], len(words), int(offsets[-1]))
        ranker.caption_embeddings.copy_(torch.as_tensor(caption_embeddings).half())
        for buffer, value in zip(
            (ranker.probe_weight, ranker.probe_bias, ranker.probe_mean, ranker.probe_std, ranker.weights),
            (*probe, *standardise, weights),
        ):
            buffer.copy_(torch.as_tensor(np.asarray(value), dtype=torch.float32))
        ranker.word_bytes.copy_(torch.frombuffer(bytearray(b"".join(encoded)), dtype=torch.uint8))
        ranker.word_offsets.copy_(offsets)
        return ranker

    @cached_property
    def words(self) -> list[str]:
        raw = self.word_bytes.numpy().tobytes()
        return [raw[a:b].decode() for a, b in pairwise(self.word_offsets.tolist())]

    def word_probabilities(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(B, D) image embeddings -> (B, V) probabilities of each word occurring in their captions."""
        x = (embeddings.float() - self.probe_mean) / self.probe_std
        return torch.sigmoid(x @ self.probe_weight.float() + self.probe_bias)

    def card_kwargs(self) -> dict[str, int]:
        return {"ranker_words": len(self.probe_bias), "ranker_word_bytes": len(self.word_bytes)}


class CaptionMemory(nn.Module):
    """Training images' embeddings (``image_embeddings``, (N, D) float16) by the dual encoder ``embedder`` and
    their captions (``caption_bytes`` joined, cut at ``caption_offsets``; ``caption_owner`` names each one's image).
    ``tta``: the embeddings are each image's mean over its 8 flips and quarter turns, and queries are embedded so.
    ``ranker``: a :class:`CandidateRanker` of its captions, or None (candidates chosen by n-gram consensus)."""

    def __init__(
        self,
        n_images: int,
        n_captions: int,
        n_bytes: int,
        embed_dim: int,
        embedder: str,
        k: int = 40,
        embedder_sha256: str | None = None,
        tta: bool = False,
        ranker_words: int = 0,
        ranker_word_bytes: int = 0,
    ):
        super().__init__()
        self.embedder, self.k, self.embedder_sha256, self.tta = embedder, k, embedder_sha256, tta
        self.ranker = CandidateRanker(n_captions, embed_dim, ranker_words, ranker_word_bytes) if ranker_words else None
        self.register_buffer("image_embeddings", torch.zeros(n_images, embed_dim, dtype=torch.float16))
        self.register_buffer("caption_bytes", torch.zeros(n_bytes, dtype=torch.uint8))
        self.register_buffer("caption_offsets", torch.zeros(n_captions + 1, dtype=torch.int64))
        self.register_buffer("caption_owner", torch.zeros(n_captions, dtype=torch.int64))

    @classmethod
    def from_captions(
        cls, embeddings: torch.Tensor, captions: Sequence[Sequence[str]], embedder: str, k: int = 40, tta: bool = False
    ) -> CaptionMemory:
        """A memory of ``embeddings[i]`` captioned by ``captions[i]`` (one list per image)."""
        flat = [c.strip().encode() for cs in captions for c in cs]
        owner = [i for i, cs in enumerate(captions) for _ in cs]
        offsets = torch.tensor([0, *map(len, flat)], dtype=torch.int64).cumsum(0)
        memory = cls(len(captions), len(flat), int(offsets[-1]), embeddings.shape[1], embedder, k, tta=tta)
        memory.image_embeddings.copy_(embeddings.half())
        memory.caption_bytes.copy_(torch.frombuffer(bytearray(b"".join(flat)), dtype=torch.uint8))
        memory.caption_offsets.copy_(offsets)
        memory.caption_owner.copy_(torch.tensor(owner, dtype=torch.int64))
        return memory

    @cached_property
    def captions(self) -> list[str]:
        raw = self.caption_bytes.numpy().tobytes()
        cuts = self.caption_offsets.tolist()
        return [raw[a:b].decode() for a, b in pairwise(cuts)]

    @cached_property
    def captions_of_image(self) -> list[list[int]]:
        """Caption indices of each memory image."""
        out: list[list[int]] = [[] for _ in range(len(self.image_embeddings))]
        for k, owner in enumerate(self.caption_owner.tolist()):
            out[owner].append(k)
        return out

    def card_kwargs(self) -> dict[str, Any]:
        n, d = self.image_embeddings.shape
        return {
            "n_images": n,
            "n_captions": len(self.caption_owner),
            "n_bytes": len(self.caption_bytes),
            "embed_dim": d,
            "embedder": self.embedder,
            "k": self.k,
            "tta": self.tta,
            **(self.ranker.card_kwargs() if self.ranker is not None else {}),
        }


def build_caption_memory(num_classes: int = 0, in_chans: int = 3, **kwargs: Any) -> CaptionMemory:
    if num_classes:
        raise WeightsError(f"a caption memory has no classes (got {num_classes})")
    return CaptionMemory(**kwargs)


def build_caption_vocabulary(captions: Sequence[str], min_count: int = 2) -> list[str]:
    """The decoder's special tokens, then the words seen ``min_count`` times or more, most frequent first."""
    return [*SPECIALS, *build_vocabulary(captions, min_count)[2:]]  # [2:]: the text tower's own PAD and UNK


class CaptionDecoder(nn.Module):
    """An image encoder's final feature map (as ``grid``² memory tokens) read by a transformer decoder."""

    def __init__(
        self,
        vocab: Sequence[str],
        image_arch: str = "efficientnet_lite0",
        in_chans: int = 3,
        width: int = 256,
        layers: int = 2,
        heads: int = 4,
        context: int = 32,
        dropout: float = 0.1,
        retrieved: int = 0,
        retrieved_len: int = 20,
    ):
        super().__init__()
        self.vocab, self.context = list(vocab), context
        self.retrieved, self.retrieved_len = retrieved, retrieved_len
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.encoder = _feature_extractor(image_arch, in_chans)
        self.memory_proj = nn.Sequential(nn.LazyLinear(width), nn.LayerNorm(width))
        self.token_embedding = nn.Embedding(len(self.vocab), width, padding_idx=PAD)
        self.position = nn.Parameter(torch.zeros(context, width))
        layer = nn.TransformerDecoderLayer(width, heads, 4 * width, dropout, batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, layers)
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, len(self.vocab)))
        nn.init.normal_(self.position, std=0.02)
        if retrieved:  # retrieved captions' words beside the image tokens: a slot and a position per word
            self.retrieved_position = nn.Parameter(torch.randn(retrieved_len, width) * 0.02)
            self.retrieved_slot = nn.Parameter(torch.randn(retrieved, width) * 0.02)
            encoder_layer = nn.TransformerEncoderLayer(
                width, heads, 4 * width, dropout, batch_first=True, norm_first=True
            )
            self.retrieved_encoder = nn.TransformerEncoder(encoder_layer, 1, enable_nested_tensor=False)
            self.retrieved_norm = nn.LayerNorm(width)
        with torch.no_grad():  # materialise the lazy projection so a card's tensors load into it
            self.memory_proj(torch.zeros(1, 1, self.encoder.num_features))

    def image_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) normalised pixels -> (B, h*w, F) encoder map tokens (what the training loop caches)."""
        return self.encoder.forward_features(x).flatten(2).transpose(1, 2)

    def encode_ids(self, texts: Sequence[str]) -> torch.Tensor:
        """Captions -> (B, context) ids: <bos> words <eos>, cut to the context, padded."""
        out = torch.full((len(texts), self.context), PAD, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = [BOS, *(self.index.get(w, UNK) for w in words(text)), EOS][: self.context]
            out[i, : len(ids)] = torch.tensor(ids)
        return out

    def retrieved_ids(self, captions: Sequence[Sequence[str]]) -> torch.Tensor:
        """Each image's retrieved captions (up to ``retrieved``) -> (B, retrieved, retrieved_len) ids: words <eos>,
        cut to the length, padded; a missing caption all padding."""
        out = torch.full((len(captions), self.retrieved, self.retrieved_len), PAD, dtype=torch.long)
        for i, texts in enumerate(captions):
            for j, text in enumerate(texts[: self.retrieved]):
                ids = [*(self.index.get(w, UNK) for w in words(text)), EOS][: self.retrieved_len]
                out[i, j, : len(ids)] = torch.tensor(ids)
        return out

    def memory(self, tokens: torch.Tensor, retrieved: torch.Tensor | None = None) -> tuple:
        """What the decoder attends to: image ``tokens`` (B, M, F) projected, then (with ``retrieved`` ids, see
        :meth:`retrieved_ids`) the retrieved captions' words read by one encoder layer; and its padding mask."""
        memory = self.memory_proj(tokens)
        mask = torch.zeros(memory.shape[:2], dtype=torch.bool, device=memory.device)
        if not self.retrieved:
            return memory, mask
        if retrieved is None:
            raise ValueError("this decoder reads retrieved captions beside the image: pass their ids")
        words_in = self.token_embedding(retrieved) + self.retrieved_position + self.retrieved_slot[:, None]
        padding = (retrieved == PAD).flatten(1)
        words_in = self.retrieved_encoder(
            words_in.flatten(1, 2), src_key_padding_mask=padding & ~padding.all(1, keepdim=True)
        )
        return torch.cat([memory, self.retrieved_norm(words_in)], 1), torch.cat([mask, padding], 1)

    def logits(self, tokens: torch.Tensor, ids: torch.Tensor, retrieved: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, V) next-word logits of ``ids`` (B, T) given image ``tokens`` (B, M, F) and, for a decoder that
        reads them, ``retrieved`` caption ids."""
        return self.logits_of(self.memory(tokens, retrieved), ids)

    def logits_of(self, memory: tuple, ids: torch.Tensor) -> torch.Tensor:
        """(B, T, V) next-word logits of ``ids`` given what :meth:`memory` returned (computed once per image)."""
        memory, mask = memory
        t = ids.shape[1]
        x = self.token_embedding(ids) + self.position[:t]
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool, device=ids.device), diagonal=1)
        y = self.decoder(x, memory, tgt_mask=causal, tgt_key_padding_mask=ids == PAD, memory_key_padding_mask=mask)
        return self.out(y)

    @torch.no_grad()
    def generate(
        self, tokens: torch.Tensor, beam: int = 3, max_len: int | None = None, retrieved: torch.Tensor | None = None
    ) -> list[str]:
        """Captions of image ``tokens`` (B, M, F) by beam search (``beam=1``: greedy), length-normalised."""
        return [
            self._beam(
                self.memory(tokens[i : i + 1], None if retrieved is None else retrieved[i : i + 1]),
                beam,
                max_len or self.context - 1,
            )
            for i in range(len(tokens))
        ]

    @torch.no_grad()
    def sample(self, tokens: torch.Tensor, generator: torch.Generator, max_len: int | None = None) -> torch.Tensor:
        """(B, T) ids <bos> w1 ... <eos> <pad>..., each next word drawn from the decoder's distribution (what
        self-critical training rewards)."""
        ids = torch.full((len(tokens), 1), BOS, dtype=torch.long)
        done = torch.zeros(len(tokens), dtype=torch.bool)
        for _ in range(max_len or self.context - 1):
            logits = self.logits(tokens, ids)[:, -1]
            logits[:, [PAD, BOS, UNK]] = float("-inf")
            word = torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(1)
            ids = torch.cat([ids, torch.where(done, PAD, word)[:, None]], 1)
            done |= word == EOS
            if done.all():
                break
        return ids

    def text(self, ids: Sequence[int]) -> str:
        """The words of ``ids`` up to <eos>, specials left out."""
        out = []
        for i in ids:
            if i == EOS:
                break
            if i not in (PAD, BOS, UNK):
                out.append(self.vocab[i])
        return " ".join(out)

    def _beam(self, memory: tuple, beam: int, max_len: int) -> str:
        """One image's caption by beam search over what :meth:`memory` returned for it."""
        beams = [([BOS], 0.0)]
        done: list[tuple[list[int], float]] = []
        for _ in range(max_len):
            ids = torch.tensor([b[0] for b in beams])
            expanded = tuple(m.expand(len(beams), *m.shape[1:]) for m in memory)
            logp = self.logits_of(expanded, ids)[:, -1].log_softmax(-1)
            logp[:, [PAD, BOS, UNK]] = float("-inf")
            scores = torch.tensor([b[1] for b in beams])[:, None] + logp
            top = scores.flatten().topk(beam)
            beams = []
            for score, flat in zip(top.values.tolist(), top.indices.tolist()):
                row, word = divmod(flat, logp.shape[1])
                seq = [*ids[row].tolist(), word]
                (done if word == EOS else beams).append((seq, score))
            if not beams or len(done) >= beam:
                break
        done += beams
        return self.text(max(done, key=lambda b: b[1] / max(1, len(b[0]) - 1))[0])


def _feature_extractor(arch: str, in_chans: int) -> nn.Module:
    """A registry backbone without its head (timm for EfficientNet-Lite, the names the classifiers use)."""
    if arch in TORCHVISION_BUILDERS:
        raise WeightsError(f"the caption decoder reads timm feature maps; {arch!r} is a torchvision builder")
    return build_timm(arch, num_classes=0, in_chans=in_chans)


def build_caption_decoder(num_classes: int = 0, in_chans: int = 3, **kwargs: Any) -> CaptionDecoder:
    if num_classes:
        raise WeightsError(f"a caption decoder has no classes (got {num_classes}): its vocabulary is in its card")
    return CaptionDecoder(in_chans=in_chans, **kwargs)


class CaptionFusion(nn.Module):
    """A retrieval-augmented captioner's parts in one file: a :class:`CaptionMemory` searched with its dual encoder,
    and a :class:`CaptionDecoder` that reads the image's tokens beside the captions retrieved for it
    (:class:`rsvision.tasks.captioning.FusionCaptioner` joins them)."""

    def __init__(self, decoder: dict[str, Any], memory: dict[str, Any], in_chans: int = 3):
        super().__init__()
        self.decoder = CaptionDecoder(in_chans=in_chans, **decoder)
        self.memory = CaptionMemory(**memory)
        self.decoder_kwargs, self.memory_kwargs = dict(decoder), dict(memory)

    @classmethod
    def of(cls, decoder: CaptionDecoder, decoder_kwargs: dict[str, Any], memory: CaptionMemory) -> CaptionFusion:
        """The fusion of a trained ``decoder`` (built with ``decoder_kwargs``) and ``memory``."""
        fusion = cls(decoder_kwargs, memory.card_kwargs())
        fusion.decoder.load_state_dict(decoder.state_dict())
        fusion.memory.load_state_dict(memory.state_dict())
        fusion.memory.embedder_sha256 = memory.embedder_sha256
        return fusion

    def card_kwargs(self) -> dict[str, Any]:
        memory = {**self.memory_kwargs, "embedder_sha256": self.memory.embedder_sha256}
        return {"decoder": self.decoder_kwargs, "memory": memory}


def build_caption_fusion(num_classes: int = 0, in_chans: int = 3, **kwargs: Any) -> CaptionFusion:
    if num_classes:
        raise WeightsError(f"a caption fusion has no classes (got {num_classes})")
    return CaptionFusion(in_chans=in_chans, **kwargs)


CAPTION_BUILDERS = {
    MEMORY_ARCH: build_caption_memory,
    DECODER_ARCH: build_caption_decoder,
    FUSION_ARCH: build_caption_fusion,
}
