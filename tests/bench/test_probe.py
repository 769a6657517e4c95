"""Linear probe and k-NN: the logistic regression reaches the optimum of its objective (checked with scipy and by
its gradient), k-NN equals a plain loop with the tie rule, and the protocol's split and keys."""

import numpy as np
import pytest
import torch

from rsvision.bench.probe import _objective, fit_logistic_regression, knn_predict, probe_features
from rsvision.datasets import stratified_split

torch.set_num_threads(1)


def _data(seed=0, n=90, d=6, k=3, spread=1.0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n // k)
    x = rng.normal(size=(n, d)) * spread + np.eye(k, d)[y] * 1.5
    return x, y


def test_logistic_regression_reaches_the_optimum():
    x, y = _data()
    w, b = fit_logistic_regression(x, y, 3, c=0.7)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    loss = _objective(wt, bt, torch.from_numpy(x), torch.from_numpy(y), 0.7)
    loss.backward()
    assert wt.grad.abs().max() < 1e-4 and bt.grad.abs().max() < 1e-4  # stationary point of a convex objective

    optimize = pytest.importorskip("scipy.optimize")

    def f(theta):  # the same objective, written in numpy for scipy
        W, B = theta[:18].reshape(6, 3), theta[18:]
        z = x @ W + B
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -0.7 * logp[np.arange(len(y)), y].sum() + 0.5 * (W * W).sum()

    ref = optimize.minimize(f, np.zeros(21), method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-14, "maxiter": 5000})
    assert np.isclose(f(np.concatenate([w.ravel(), b])), ref.fun, rtol=1e-8)
    assert np.allclose(w, ref.x[:18].reshape(6, 3), atol=1e-3)


def test_separable_data_is_learnt():
    x, y = _data(spread=0.05)
    w, b = fit_logistic_regression(x, y, 3)
    assert ((x @ w + b).argmax(1) == y).all()


def _knn_loop(train, labels, query, k):
    t = train / np.linalg.norm(train, axis=1, keepdims=True)
    out = []
    for q in query:
        sim = t @ (q / np.linalg.norm(q))
        near = sorted(range(len(t)), key=lambda i: -sim[i])[:k]
        votes = [labels[i] for i in near]
        best = max(votes.count(c) for c in set(votes))
        out.append(next(v for v in votes if votes.count(v) == best))  # the nearest among the tied classes
    return np.array(out)


@pytest.mark.parametrize("k", [1, 4, 5, 20])
def test_knn_equals_a_plain_loop(k):
    rng = np.random.default_rng(k)
    train, labels = rng.normal(size=(60, 8)), rng.integers(0, 4, 60)
    query = rng.normal(size=(25, 8))
    assert np.array_equal(knn_predict(train, labels, query, k, chunk=7), _knn_loop(train, labels, query, k))


def test_knn_tie_goes_to_the_nearest():
    train = np.array([[1.0, 0.0], [1.0, 0.3], [1.0, 0.6], [1.0, 0.9]])
    labels = np.array([1, 0, 0, 1])
    assert knn_predict(train, labels, np.array([[1.0, 0.05]]), k=4)[0] == 1  # 2 : 2, nearest is class 1
    assert knn_predict(train, labels, np.array([[1.0, 0.35]]), k=4)[0] == 0


def test_probe_protocol():
    x, y = _data(n=60, spread=0.05)
    out = probe_features(x, y, 3)
    train, test = stratified_split(y, 0.5, seed=0)
    assert out["linear_accuracy"] == 1.0 and out["knn_accuracy"] == 1.0
    assert (out["n_train"], out["n_test"], out["feature_dim"], out["k"]) == (len(train), len(test), 6, 20)
    rng = np.random.default_rng(0)
    noise = probe_features(rng.normal(size=(300, 16)), np.repeat(np.arange(3), 100), 3)
    assert noise["linear_accuracy"] < 0.55 and noise["knn_accuracy"] < 0.55  # chance is 1/3
