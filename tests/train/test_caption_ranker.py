"""The candidate ranker's parts learn what they are given: the word probe finds which words an embedding predicts,
the listwise scorer weighs the feature that tells the best candidate, and the fitted ranker chooses better than the
consensus on queries like those it was fitted on."""

import numpy as np
import torch

from rsvision.models.captioner import RANKER_FEATURES, CaptionMemory
from rsvision.tasks.captioning import RetrievalCaptioner
from rsvision.train.caption_ranker import (
    RankerConfig,
    fit_candidate_ranker,
    fit_listwise,
    fit_probe,
    probe_vocabulary,
    word_targets,
)


def test_vocabulary_and_targets_count_images_not_captions():
    refs = [["a red roof", "a red roof"]] * 30 + [["a green field"]] * 970
    assert probe_vocabulary(refs, 40) == ["a", "field", "green"]  # "red" is in 60 captions but 30 images
    assert probe_vocabulary(refs[:100], 40) == ["a", "field", "green", "red", "roof"]  # 100 images: 5 suffice
    y = word_targets([["a red roof"], ["a green field"]], ["a", "red"])
    assert y.tolist() == [[1, 1], [1, 0]]


def test_probe_learns_which_words_an_embedding_predicts():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0.5], 1).astype(np.float32)
    weight, bias = fit_probe(x, y, 1e-4)
    p = torch.sigmoid(torch.from_numpy(x) @ weight + bias).numpy()
    assert ((p > 0.5) == (y > 0.5)).mean() > 0.95


def test_listwise_scorer_weighs_the_feature_that_tells_the_best_candidate():
    rng = np.random.default_rng(1)
    features, targets = [], []
    for _ in range(200):
        f = rng.normal(size=(12, len(RANKER_FEATURES))).astype(np.float32)
        targets.append(f[:, 3] + 0.1 * rng.normal(size=12))  # the image-text column tells the target
        features.append(f)
    w = fit_listwise(features, targets, temperature=0.3, l2=0.0)
    assert np.argmax(np.abs(w)) == 3 and w[3] > 0
    hits = np.mean([np.argmax(f @ w) == np.argmax(t) for f, t in zip(features, targets)])
    assert hits > 0.8


def test_a_fitted_ranker_finds_the_captions_the_image_shows():
    """Harbours with or without boats, which one faint direction of the embedding shows: the nearest images mix
    both, so their captions' consensus often names the wrong one; the ranker's word probe reads the direction."""
    rng = np.random.default_rng(2)

    def harbours(n):
        boats = rng.random(n) < 0.5
        emb = rng.normal(size=(n, 16)).astype(np.float32)
        emb[:, 0] = np.where(boats, 0.6, -0.6)
        return boats, emb / np.linalg.norm(emb, axis=1, keepdims=True)

    boats, emb = harbours(200)
    refs = [["many boats in a harbour", "boats in a harbour"] if b else ["an empty harbour"] * 2 for b in boats]
    memory = CaptionMemory.from_captions(torch.from_numpy(emb), refs, "x", k=10)
    text = rng.normal(size=(len(memory.captions), 16)).astype(np.float32)
    ranker, probe = fit_candidate_ranker(
        memory, np.arange(200), emb, refs, np.arange(200), text, 10, RankerConfig(min_images=5), lambda *_: None
    )
    assert "boats" in probe.words
    new_boats, new_emb = harbours(100)
    consensus = RetrievalCaptioner(None, memory).caption_embeddings(new_emb)
    memory.ranker = ranker
    ranked = RetrievalCaptioner(None, memory).caption_embeddings(new_emb)

    def right(captions):
        return np.mean([("boats" in c.text) == b for c, b in zip(captions, new_boats)])

    assert right(ranked) > right(consensus) + 0.1 and right(ranked) > 0.9
