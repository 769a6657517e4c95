import numpy as np
import pytest

from rsvision.errors import MetricInputError
from rsvision.metrics import retrieval
from rsvision.metrics.retrieval import retrieval_recall, retrieval_recall_from_similarity


def _protocol(sim, t2i, ks):
    """The usual evaluation loop (argsort each row, best rank of a ground-truth item)."""
    i2t = []
    for i in range(sim.shape[0]):
        order = np.argsort(-sim[i])
        i2t.append(min(int(np.flatnonzero(order == t)[0]) for t in np.flatnonzero(t2i == i)))
    t2i_ranks = [int(np.flatnonzero(np.argsort(-sim[:, t]) == t2i[t])[0]) for t in range(sim.shape[1])]
    out = {f"i2t_r{k}": float(np.mean(np.array(i2t) < k)) for k in ks}
    out.update({f"t2i_r{k}": float(np.mean(np.array(t2i_ranks) < k)) for k in ks})
    out["mean_recall"] = float(np.mean(list(out.values())))
    return out


def test_hand_case_known_ranks():
    sim = np.array(
        [
            [0.9, 0.1, 0.8, 0.2],  # image 0 owns texts 0, 1: best own 0.9 is first -> rank 0
            [0.7, 0.3, 0.6, 0.5],  # image 1 owns texts 2, 3: best own 0.6, beaten by 0.7 -> rank 1
        ]
    )
    t2i = np.array([0, 0, 1, 1])
    # texts: 0 -> rank 0, 1 -> rank 1 (0.3 > 0.1), 2 -> rank 1 (0.8 > 0.6), 3 -> rank 0
    out = retrieval_recall_from_similarity(sim, t2i, ks=(1, 2))
    assert out == {"i2t_r1": 0.5, "i2t_r2": 1.0, "t2i_r1": 0.5, "t2i_r2": 1.0, "mean_recall": 0.75}


def test_matches_standard_protocol_five_captions():
    rng = np.random.default_rng(0)
    n_img = 40
    t2i = np.repeat(np.arange(n_img), 5)
    sim = rng.normal(size=(n_img, 5 * n_img))
    sim[t2i, np.arange(5 * n_img)] += rng.uniform(0, 3, 5 * n_img)  # some signal
    assert retrieval_recall_from_similarity(sim, t2i) == pytest.approx(_protocol(sim, t2i, (1, 5, 10)))


def test_ties_count_against_the_model():
    out = retrieval_recall_from_similarity(np.zeros((3, 6)), np.repeat(np.arange(3), 2), ks=(1,))
    assert out["i2t_r1"] == 0.0 and out["t2i_r1"] == 0.0


def test_embeddings_use_cosine_and_blocks(monkeypatch):
    rng = np.random.default_rng(2)
    img = rng.normal(size=(30, 8))
    txt = np.repeat(img, 5, axis=0) * rng.uniform(0.5, 4, (150, 1)) + rng.normal(scale=0.8, size=(150, 8))
    t2i = np.repeat(np.arange(30), 5)
    cos = (img / np.linalg.norm(img, axis=1, keepdims=True)) @ (txt / np.linalg.norm(txt, axis=1, keepdims=True)).T
    expected = _protocol(cos, t2i, (1, 5, 10))
    monkeypatch.setattr(retrieval, "_BLOCK", 7)
    assert retrieval_recall(img, txt, t2i) == pytest.approx(expected)


def test_retrieval_errors():
    with pytest.raises(MetricInputError, match="image 1 has no text"):
        retrieval_recall_from_similarity(np.zeros((2, 2)), np.array([0, 0]))
    with pytest.raises(MetricInputError, match="one image index per text"):
        retrieval_recall_from_similarity(np.zeros((2, 2)), np.array([0, 1, 1]))
    with pytest.raises(MetricInputError, match=r"\(N, D\)"):
        retrieval_recall(np.zeros((2, 3)), np.zeros((2, 4)), np.array([0, 1]))
