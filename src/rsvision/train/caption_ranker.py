"""Fitting a :class:`~rsvision.models.captioner.CandidateRanker`: a learned scorer of the retrieval captioner's
candidates (docs/language.md, "Session 17").

Of the captions of a query's nearest memory images, n-gram consensus picks one whose CIDEr-D averages 1.61 on the
validation images; the best of them would average 2.76. The scorer learns to find better ones, on the training
part's own images as queries (each retrieving among the other training images, never itself), each candidate's
target its CIDEr-D against the query's references, with a listwise softmax loss. Its features
(:class:`~rsvision.tasks.captioning.CandidateFeatures`) include a word probe's evidence from the query image: a
multi-label logistic regression from the image embedding to the words its references use, fitted out-of-fold so
that a training query's evidence comes from a probe that never saw it. Every setting is chosen on the training part
(a held-out fold for the probe, a fifth of the queries for the scorer), never on the validation images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from rsvision.metrics.captioning import CiderD, tokenize_caption
from rsvision.models.captioner import RANKER_FEATURES, CandidateRanker, CaptionMemory
from rsvision.tasks.captioning import CandidateFeatures, NgramConsensus, neighbour_candidates


@dataclass(frozen=True)
class RankerConfig:
    min_images: int = 20  # a word enters the probe's vocabulary when this many training images' references use it
    probe_l2s: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3)
    folds: int = 5
    temperatures: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0)  # of the listwise target, softmax(CIDEr-D / T)
    l2s: tuple[float, ...] = (0.0, 1e-3, 1e-2)  # on the scorer's weights but the consensus's
    hold_fraction: float = 0.2
    seed: int = 0


@dataclass(frozen=True)
class WordProbe:
    """A fitted probe: its vocabulary, ``(weight (D, V), bias (V,))`` and the ``(mean, std)`` it standardises by."""

    words: list[str]
    probe: tuple[torch.Tensor, torch.Tensor]
    standardise: tuple[np.ndarray, np.ndarray]


def probe_vocabulary(references: Sequence[Sequence[str]], min_images: int) -> list[str]:
    """The words of at least ``min_images`` images' references (one list of captions per image; a twentieth of
    them when fewer than 20 x ``min_images``, so a small smoke run still has words), sorted."""
    min_images = max(1, min(min_images, len(references) // 20))
    images_of: dict[str, int] = {}
    for captions in references:
        for word in {w for c in captions for w in tokenize_caption(c)}:
            images_of[word] = images_of.get(word, 0) + 1
    return sorted(w for w, n in images_of.items() if n >= min_images)


def word_targets(references: Sequence[Sequence[str]], words: Sequence[str]) -> np.ndarray:
    """(images, words) float32: 1 where an image's references use the word."""
    column = {w: j for j, w in enumerate(words)}
    y = np.zeros((len(references), len(words)), np.float32)
    for i, captions in enumerate(references):
        for word in {w for c in captions for w in tokenize_caption(c)}:
            if word in column:
                y[i, column[word]] = 1.0
    return y


def fit_probe(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-label logistic regression (mean cross-entropy + ``l2`` x the squared weights), by L-BFGS from the
    words' prior log-odds."""
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    prior = y.mean(0).clip(1e-4, 1 - 1e-4)
    bias = torch.from_numpy(np.log(prior / (1 - prior)).astype(np.float32)).requires_grad_(True)
    weight = torch.zeros(x.shape[1], y.shape[1], requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(xt @ weight + bias, yt) + l2 * (weight**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


def probe_probabilities(x: np.ndarray, probe: tuple[torch.Tensor, torch.Tensor]) -> np.ndarray:
    """(N, V) word probabilities of standardised embeddings ``x`` under ``probe`` (weight, bias)."""
    weight, bias = probe
    return torch.sigmoid(torch.from_numpy(x) @ weight + bias).numpy()


def fit_word_probe(
    embeddings: np.ndarray, references: Sequence[Sequence[str]], config: RankerConfig, log: Callable
) -> tuple[WordProbe, np.ndarray]:
    """The probe over all ``embeddings`` (its L2 chosen by the log-loss of a held-out fold), and each image's word
    probabilities from the probe fitted without its fold (out-of-fold)."""
    words = probe_vocabulary(references, config.min_images)
    y = word_targets(references, words)
    mean, std = embeddings.mean(0), embeddings.std(0) + 1e-6
    x = ((embeddings - mean) / std).astype(np.float32)
    folds = np.arange(len(x)) % config.folds
    np.random.default_rng(config.seed).shuffle(folds)
    losses = {}
    for l2 in config.probe_l2s:
        p = probe_probabilities(x[folds == 0], fit_probe(x[folds != 0], y[folds != 0], l2)).clip(1e-6, 1 - 1e-6)
        losses[l2] = float(-(y[folds == 0] * np.log(p) + (1 - y[folds == 0]) * np.log(1 - p)).mean())
    l2 = min(losses, key=losses.get)
    log(f"word probe: {len(words)} words, held-out fold log-loss by L2 {losses}: L2 {l2}")
    out_of_fold = np.zeros_like(y)
    for f in range(config.folds):
        out_of_fold[folds == f] = probe_probabilities(x[folds == f], fit_probe(x[folds != f], y[folds != f], l2))
    return WordProbe(words, fit_probe(x, y, l2), (mean, std)), out_of_fold


def fit_listwise(features: list[np.ndarray], targets: list[np.ndarray], temperature: float, l2: float) -> np.ndarray:
    """Linear weights over RANKER_FEATURES maximising each query's expected softmax(target / temperature) log-
    likelihood of the candidates' softmax scores (L-BFGS from the consensus alone)."""
    x = torch.from_numpy(np.concatenate(features))
    segment = torch.from_numpy(np.repeat(np.arange(len(features)), [len(f) for f in features]))
    target = torch.from_numpy(np.concatenate(targets).astype(np.float32)) / temperature
    n = len(features)

    def group_log_softmax(values: torch.Tensor) -> torch.Tensor:
        top = torch.zeros(n).scatter_reduce(0, segment, values, "amax", include_self=False)
        shifted = values - top[segment]
        return shifted - torch.log(torch.zeros(n).index_add(0, segment, torch.exp(shifted)))[segment]

    wanted = torch.exp(group_log_softmax(target))
    weights = torch.zeros(len(RANKER_FEATURES))
    weights[0] = 1.0
    weights.requires_grad_(True)
    optimizer = torch.optim.LBFGS([weights], max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = -(wanted * group_log_softmax(x @ weights)).sum() / n + l2 * (weights[1:] ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weights.detach().numpy()


def query_features(
    memory: CaptionMemory, features: CandidateFeatures, embeddings: np.ndarray, queries, word_p, k: int, exclude
) -> list[tuple[list[int], np.ndarray]]:
    """Each query's candidates and their features; ``exclude[q]``: the memory row of query ``q``'s own image, left
    out of its search (None: none)."""
    keys = memory.image_embeddings.float().numpy()
    out = []
    for q in queries:
        sims = keys @ embeddings[q]
        if exclude.get(int(q)) is not None:
            sims[exclude[int(q)]] = -np.inf
        _, candidates, weights, rank = neighbour_candidates(memory, sims, k)
        out.append((candidates, features.features(candidates, weights, rank, embeddings[q], word_p[q])))
    return out


def fit_candidate_ranker(
    memory: CaptionMemory,
    memory_images: np.ndarray,
    embeddings: np.ndarray,
    references: Sequence[Sequence[str]],
    queries: np.ndarray,
    caption_embeddings: np.ndarray,
    k: int,
    config: RankerConfig,
    log: Callable,
) -> tuple[CandidateRanker, WordProbe]:
    """The ranker of ``memory`` (row i holding image ``memory_images[i]``; ``caption_embeddings``, its captions'
    text embeddings), fitted on ``queries`` (images of the memory) each searching the memory without itself;
    ``embeddings`` and ``references`` are indexed by image. Also the word probe (over the memory's images), to build
    the ranker of another memory."""
    probe, out_of_fold = fit_word_probe(embeddings[memory_images], [references[i] for i in memory_images], config, log)
    word_p = dict(zip(memory_images.tolist(), out_of_fold))
    consensus = NgramConsensus(memory.captions)
    features = CandidateFeatures(consensus, caption_embeddings, probe.words)
    row_of = {int(img): r for r, img in enumerate(memory_images)}
    rows = query_features(memory, features, embeddings, queries, word_p, k, row_of)
    scorer = CiderD([[tokenize_caption(c) for c in references[i]] for i in memory_images])
    targets = []
    for q, (candidates, _) in zip(queries, rows):
        refs = scorer.references([tokenize_caption(c) for c in references[q]])
        targets.append(np.array([scorer.score(consensus.tokens[c], refs) for c in candidates], np.float32))
    held = set(
        np.random.default_rng(config.seed)
        .choice(len(rows), int(len(rows) * config.hold_fraction), replace=False)
        .tolist()
    )
    fit_part = [i for i in range(len(rows)) if i not in held]

    def held_out_cider(weights: np.ndarray) -> float:
        return float(np.mean([targets[i][int(np.argmax(rows[i][1] @ weights))] for i in sorted(held)]))

    consensus_only = np.eye(len(RANKER_FEATURES), dtype=np.float32)[0]
    best = (held_out_cider(consensus_only), None, None)
    log(f"ranker: {len(rows)} training queries, {len(held)} held out; consensus alone {best[0]:.4f} there")
    for temperature in config.temperatures:
        for l2 in config.l2s:
            weights = fit_listwise([rows[i][1] for i in fit_part], [targets[i] for i in fit_part], temperature, l2)
            score = held_out_cider(weights)
            log(f"ranker T {temperature}, L2 {l2}: held-out CIDEr-D {score:.4f}")
            if best[1] is None or score > best[0]:
                best = (score, temperature, l2)
    weights = fit_listwise([f for _, f in rows], targets, best[1], best[2])
    log(f"ranker: T {best[1]}, L2 {best[2]}; weights {dict(zip(RANKER_FEATURES, np.round(weights, 3).tolist()))}")
    return ranker_of(caption_embeddings, probe, weights), probe


def ranker_of(caption_embeddings: np.ndarray, probe: WordProbe, weights: np.ndarray) -> CandidateRanker:
    return CandidateRanker.from_parts(caption_embeddings, probe.words, probe.probe, probe.standardise, weights)
