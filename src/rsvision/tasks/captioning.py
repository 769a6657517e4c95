"""Captioning as a task: a caption per image, from the retrieval captioner (a dual encoder's nearest training images,
their captions re-ranked by consensus) or from a transformer decoder.

The retrieval captioner follows Devlin et al. (2015, "Exploring nearest neighbor approaches for image
captioning"): of the captions of the ``k`` training images nearest to the query (cosine of the dual encoder's
image embeddings), it returns the one that agrees most with the others, agreement being the cosine of n-gram
(1-4) tf-idf vectors, as CIDEr measures it, each neighbour's captions weighted by that neighbour's similarity.
A memory with a :class:`~rsvision.models.captioner.CandidateRanker` instead returns the candidate its learned
linear scorer rates highest, over :class:`CandidateFeatures` (that consensus among them, and what the query image
shows: its image-text similarity, and a word probe's evidence for each candidate's words).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rsvision.errors import WeightsError
from rsvision.metrics.captioning import ngram_counts, tokenize_caption
from rsvision.models.captioner import CaptionDecoder, CaptionFusion, CaptionMemory
from rsvision.models.embedder import Embedder, load_embedder
from rsvision.models.preprocess import preprocess_chunk
from rsvision.models.resolve import resolve_model
from rsvision.models.weights import Task, builtin_weights

DEFAULT_CAPTIONER = "rsicd_captioner"
TRAIN_HINT = "python -m rsvision.train.recipes rsicd_captioner --data ../shared/data/AID --out FOLDER"


@dataclass(frozen=True)
class Caption:
    """A caption and what it came from: the memory images it was chosen among (indices, similarities), empty for
    a decoder's caption."""

    text: str
    neighbours: tuple[int, ...] = ()
    similarities: tuple[float, ...] = ()


class NgramConsensus:
    """tf-idf vectors of n-grams (1-4, document frequencies over a caption pool): which candidate agrees most with
    the rest."""

    def __init__(self, captions: Sequence[str], n: int = 4):
        self.n = n
        self.tokens = [tokenize_caption(c) for c in captions]
        self.counts = [ngram_counts(t, n) for t in self.tokens]
        df = Counter(g for counts in self.counts for g in counts)
        self.idf = {g: math.log(len(captions) / d) for g, d in df.items()}

    def pick(self, candidates: Sequence[int], weights: np.ndarray) -> int:
        """The candidate (pool index) whose similarity-weighted agreement with the other candidates is highest."""
        return int(candidates[int(np.argmax(self.agreement(candidates, weights)))])

    def agreement(self, candidates: Sequence[int], weights: np.ndarray) -> np.ndarray:
        """Each candidate's agreement with the others (pool indices; their weights)."""
        grams: dict[tuple, int] = {}
        entries = [
            (r, grams.setdefault(g, len(grams)), (1 + math.log(c)) * self.idf[g])
            for r, i in enumerate(candidates)
            for g, c in self.counts[i].items()
        ]
        v = np.zeros((len(candidates), len(grams)), np.float32)
        if entries:
            rows, cols, values = zip(*entries)
            v[list(rows), list(cols)] = values
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        return (v @ v.T) @ weights - weights  # leave each candidate's agreement with itself out


class CandidateFeatures:
    """Per-candidate features of a memory's captions for a :class:`CandidateRanker` (RANKER_FEATURES, in order),
    each standardised within the query where it is a score. Built once per memory; training and inference share it,
    so the scorer weighs at inference what it was fitted on."""

    def __init__(self, consensus: NgramConsensus, caption_embeddings: np.ndarray, words):
        """``consensus``: over the memory's captions (their tokens are reused); ``caption_embeddings``: theirs."""
        self.consensus = consensus
        self.text = caption_embeddings.astype(np.float32)
        self.text /= np.maximum(np.linalg.norm(self.text, axis=1, keepdims=True), 1e-12)
        tokens = consensus.tokens
        self.normalised = [" ".join(t) for t in tokens]
        self.length = np.array([len(t) for t in tokens], np.float32)
        column = {w: j for j, w in enumerate(words)}
        self.word_columns = [sorted({column[w] for w in t if w in column}) for t in tokens]

    def features(
        self, candidates: list[int], weights: np.ndarray, rank: np.ndarray, query: np.ndarray, word_p: np.ndarray
    ) -> np.ndarray:
        """(len(candidates), len(RANKER_FEATURES)) for a query of image embedding ``query`` whose words' probabilities
        are ``word_p``."""
        text = self.text[candidates]
        normalised = [self.normalised[c] for c in candidates]
        repeats = Counter(normalised)
        length = self.length[candidates]
        deviation = (length - np.median(length)) / 5.0
        log_p = np.log(np.clip(word_p, 1e-6, None))
        columns = [self.word_columns[c] for c in candidates]
        return np.stack(
            [
                standardised(self.consensus.agreement(candidates, weights)),
                standardised(weights),
                rank / float(rank.max() + 1),
                standardised(text @ query),
                np.log([repeats[n] for n in normalised]),
                deviation,
                deviation**2,
                standardised((text @ text.T) @ weights - weights),
                standardised(np.array([log_p[c].mean() if c else log_p.min() for c in columns])),
                standardised(np.array([word_p[c].sum() for c in columns]) / max(float(word_p.sum()), 1e-12)),
            ],
            1,
        ).astype(np.float32)


def neighbour_candidates(memory: CaptionMemory, sims: np.ndarray, k: int) -> tuple:
    """The ``k`` memory images most similar (``sims``, one per memory image), most similar first; their captions,
    each caption's neighbour weight (its image's similarity, 0 if negative) and neighbour rank."""
    near = np.argsort(-sims)[:k]
    sizes = [len(memory.captions_of_image[j]) for j in near]
    candidates = [c for j in near for c in memory.captions_of_image[j]]
    weights = np.repeat(np.maximum(sims[near], 0.0), sizes).astype(np.float32)
    return near, candidates, weights, np.repeat(np.arange(len(near)), sizes)


def consensus_top(
    memory: CaptionMemory, consensus: NgramConsensus, sims: np.ndarray, k: int, n: int
) -> tuple[np.ndarray, list[str]]:
    """The ``k`` memory images most similar (``sims``; -inf leaves an image out) and, of their captions, the ``n``
    distinct ones (after tokenising) the n-gram consensus ranks highest, best first: what a fusion decoder reads."""
    near, candidates, weights, _ = neighbour_candidates(memory, sims, k)
    agreement = consensus.agreement(candidates, weights)
    texts: dict[str, str] = {}
    for i in np.argsort(-agreement, kind="stable"):
        texts.setdefault(" ".join(consensus.tokens[candidates[i]]), memory.captions[candidates[i]])
        if len(texts) == n:
            break
    return near, list(texts.values())


def standardised(values: np.ndarray) -> np.ndarray:
    """``values`` less their mean, over their standard deviation (+1e-6: a constant column stays 0)."""
    values = np.asarray(values, np.float32)
    return (values - values.mean()) / (values.std() + 1e-6)


class RetrievalCaptioner:
    """Captions from a :class:`CaptionMemory` searched with the dual encoder that embedded it."""

    def __init__(self, embedder: Embedder, memory: CaptionMemory, k: int | None = None, name: str = "retrieval"):
        self.embedder, self.memory, self.name = embedder, memory, name
        self.k = min(k or memory.k, len(memory.image_embeddings))
        self.consensus = NgramConsensus(memory.captions)
        self.keys = memory.image_embeddings.float().numpy()
        ranker = memory.ranker
        self.features = (
            None
            if ranker is None
            else CandidateFeatures(self.consensus, ranker.caption_embeddings.float().numpy(), ranker.words)
        )

    def caption_embeddings(self, embeddings: np.ndarray) -> list[Caption]:
        """One caption per (L2-normalised) image embedding: the candidate the memory's ranker scores highest, or
        (without one) the one the n-gram consensus picks."""
        sims = embeddings @ self.keys.T
        if self.features is not None:
            with torch.inference_mode():
                word_p = self.memory.ranker.word_probabilities(torch.from_numpy(embeddings)).numpy()
            weights = self.memory.ranker.weights.numpy()
        out = []
        for q, row in enumerate(sims):
            near, candidates, per_caption, rank = neighbour_candidates(self.memory, row, self.k)
            if self.features is None:
                best = self.consensus.pick(candidates, per_caption)
            else:
                scores = self.features.features(candidates, per_caption, rank, embeddings[q], word_p[q]) @ weights
                best = candidates[int(np.argmax(scores))]
            out.append(Caption(self.memory.captions[best], tuple(near.tolist()), tuple(row[near].round(4).tolist())))
        return out

    def caption_images(self, images: np.ndarray | Sequence[np.ndarray]) -> list[Caption]:
        """Raw images ((B, C, H, W) or a list of (C, H, W), the embedder's bands) -> captions (embedded over their
        D4 views when the memory was)."""
        return self.caption_embeddings(self.embedder.embed_images(images, tta=self.memory.tta))

    @property
    def preprocessing(self):
        return self.embedder.preprocessing


class DecoderCaptioner:
    """Captions generated by a :class:`CaptionDecoder` from preprocessed images."""

    def __init__(
        self, module: CaptionDecoder, preprocessing, device: str = "cpu", beam: int = 3, name: str = "decoder"
    ):
        self.module, self.preprocessing, self.device = module.eval().to(device), preprocessing, device
        self.beam, self.name = beam, name

    def caption_images(self, images: np.ndarray | Sequence[np.ndarray], batch_size: int = 32) -> list[Caption]:
        out = []
        for start in range(0, len(images), batch_size):
            x = preprocess_chunk(self.preprocessing, images[start : start + batch_size], start)
            with torch.inference_mode():
                tokens = self.module.image_tokens(x.to(self.device))
                out += [Caption(t) for t in self.module.generate(tokens, beam=self.beam)]
        return out


class CaptionRetriever:
    """The captions a fusion decoder reads for an image: of the ``memory.k`` memory images nearest to its embedding,
    their ``n`` distinct captions the n-gram consensus ranks highest (:func:`consensus_top`)."""

    def __init__(self, memory: CaptionMemory, n: int):
        self.memory, self.n = memory, n
        self.k = min(memory.k, len(memory.image_embeddings))
        self.consensus = NgramConsensus(memory.captions)
        self.keys = memory.image_embeddings.float().numpy()

    def retrieve(self, embeddings: np.ndarray, left_out=None) -> list[tuple[np.ndarray, np.ndarray, list[str]]]:
        """For each (L2-normalised) image embedding: its nearest memory images, their similarities, and the captions
        the decoder reads. ``left_out(i)``: a mask of the memory images row ``i`` may not retrieve (None: all may)."""
        out = []
        for i, embedding in enumerate(embeddings):
            sims = self.keys @ embedding
            if left_out is not None:
                sims[left_out(i)] = -np.inf
            near, texts = consensus_top(self.memory, self.consensus, sims, self.k, self.n)
            out.append((near, sims[near], texts))
        return out


class FusionCaptioner:
    """Captions written by a decoder that reads the image beside the captions a memory retrieves for it
    (retrieval-augmented generation, as SmallCap, Ramos et al. 2023): the ``k`` nearest memory images by the dual
    encoder, their captions' top ``decoder.retrieved`` by n-gram consensus, then beam search."""

    def __init__(self, embedder: Embedder, fusion: CaptionFusion, preprocessing, beam: int = 3, name: str = "fusion"):
        self.embedder, self.decoder_preprocessing = embedder, preprocessing
        self.memory, self.decoder = fusion.memory, fusion.eval().decoder
        self.retriever = CaptionRetriever(fusion.memory, fusion.decoder.retrieved)
        self.beam, self.name, self.k = beam, name, self.retriever.k

    def caption_images(self, images: np.ndarray | Sequence[np.ndarray], batch_size: int = 32) -> list[Caption]:
        out = []
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            found = self.retriever.retrieve(self.embedder.embed_images(chunk, tta=self.memory.tta))
            x = preprocess_chunk(self.decoder_preprocessing, chunk, start)
            with torch.inference_mode():
                tokens = self.decoder.image_tokens(x)
                retrieved = self.decoder.retrieved_ids([texts for _, _, texts in found])
                texts = self.decoder.generate(tokens, beam=self.beam, retrieved=retrieved)
            out += [
                Caption(t, tuple(near.tolist()), tuple(sims.round(4).tolist()))
                for t, (near, sims, _) in zip(texts, found)
            ]
        return out

    @property
    def preprocessing(self):
        return self.embedder.preprocessing


def load_captioner(
    model: str | None = None, needed_by: str = "caption", device: str = "cpu"
) -> RetrievalCaptioner | DecoderCaptioner | FusionCaptioner:
    """The captioner ``-m MODEL`` names (the built-in one when None); a retrieval memory comes with the dual encoder
    its card names, refused when that encoder is not the one that embedded the memory."""
    if model is None and DEFAULT_CAPTIONER not in builtin_weights():
        raise WeightsError(
            f"the built-in captioner {DEFAULT_CAPTIONER} is not shipped yet: train one with `{TRAIN_HINT}`"
        )
    loaded = resolve_model(model or DEFAULT_CAPTIONER, Task.CAPTIONING, needed_by)
    if isinstance(loaded.module, CaptionDecoder):
        return DecoderCaptioner(loaded.module, loaded.weights.preprocessing, device, name=loaded.weights.name)
    fusion = loaded.module if isinstance(loaded.module, CaptionFusion) else None
    memory: CaptionMemory = loaded.module if fusion is None else fusion.memory
    embedder = load_embedder(memory.embedder, needed_by=needed_by, device=device)
    if memory.embedder_sha256 and embedder.weights is not None and embedder.weights.sha256 != memory.embedder_sha256:
        raise WeightsError(
            f"{loaded.weights.name}: its memory was embedded by another {memory.embedder} than the one installed "
            f"(sha256 {embedder.weights.sha256[:12]}... vs {memory.embedder_sha256[:12]}...); "
            f"rebuild it with `{TRAIN_HINT}`"
        )
    if fusion is not None:
        return FusionCaptioner(embedder, fusion, loaded.weights.preprocessing, name=loaded.weights.name)
    return RetrievalCaptioner(embedder, memory, name=loaded.weights.name)
