"""D4 on tensors and test-time augmentation: the 8 elements are the 8 symmetries of the square, the TTA mean is
over exactly those views, and Classifier.probabilities is the softmax (optionally D4-averaged) of its network."""

import itertools

import numpy as np
import pytest
import torch

from rsvision.models.classifier import Classifier
from rsvision.models.tta import d4_dense_mean, d4_inverse, d4_mean, d4_transform, dense_views

torch.set_num_threads(1)


def _square(n=4):
    return torch.arange(n * n, dtype=torch.float32).reshape(1, 1, n, n)


def test_d4_has_eight_distinct_elements_closed_under_composition():
    x = _square()
    views = [d4_transform(x, k) for k in range(8)]
    assert torch.equal(views[0], x)
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8
    for a, b in itertools.product(range(8), repeat=2):  # a group: every composition is again one of the 8
        composed = d4_transform(d4_transform(x, a), b)
        assert any(torch.equal(composed, v) for v in views), (a, b)
    with pytest.raises(ValueError, match="8 elements"):
        d4_transform(x, 8)


def test_elements_are_rotations_then_a_flip():
    a = np.arange(9).reshape(3, 3)
    t = torch.from_numpy(a)
    assert np.array_equal(d4_transform(t, 1).numpy(), np.rot90(a, 1))
    assert np.array_equal(d4_transform(t, 6).numpy(), np.fliplr(np.rot90(a, 2)))


def test_d4_mean_is_the_mean_over_the_eight_views():
    x = torch.rand(2, 3, 5, 5)
    fn = lambda v: v[..., 0, :2].sum(-1)  # not invariant: looks at one corner
    expected = sum(fn(d4_transform(x, k)) for k in range(8)) / 8
    torch.testing.assert_close(d4_mean(fn, x), expected)
    assert not torch.allclose(d4_mean(fn, x), fn(x))
    with pytest.raises(ValueError, match="square"):
        d4_mean(fn, torch.rand(1, 3, 4, 5))


def test_d4_inverse_undoes_each_element():
    x = torch.rand(2, 3, 5, 5)
    for k in range(8):
        torch.testing.assert_close(d4_inverse(d4_transform(x, k), k), x, rtol=0, atol=0)


def test_dense_views_keep_the_shape():
    assert dense_views(6, 6) == tuple(range(8))
    x = torch.rand(1, 2, 4, 7)
    for k in dense_views(4, 7):
        assert d4_transform(x, k).shape == x.shape


def test_d4_dense_mean_turns_each_view_back_onto_the_input():
    # an equivariant map (per pixel) comes back unchanged; a shifting one is averaged over the views, unshifted
    for shape in ((1, 2, 6, 6), (2, 2, 4, 7)):
        x = torch.rand(*shape)
        torch.testing.assert_close(d4_dense_mean(lambda v: 2 * v, x), 2 * x)
        shift = lambda v: torch.roll(v, 1, dims=-1)  # not equivariant under flips
        views = dense_views(*shape[-2:])
        expected = sum(d4_inverse(shift(d4_transform(x, k)), k) for k in views) / len(views)
        torch.testing.assert_close(d4_dense_mean(shift, x), expected)
        assert not torch.allclose(expected, shift(x))


@pytest.fixture
def classifier(tmp_path, tiny_classifier):
    return Classifier(tiny_classifier(tmp_path))


def test_probabilities_are_the_networks_softmax(classifier):
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        logits = classifier.model(x)
        views = [classifier.model(d4_transform(x, k)).softmax(-1) for k in range(8)]
    p = classifier.probabilities(x)
    torch.testing.assert_close(p, logits.softmax(-1))
    torch.testing.assert_close(classifier.probabilities(x, tta=True), torch.stack(views).mean(0))
    assert not torch.allclose(classifier.probabilities(x, tta=True), p)  # an untrained net is not D4-invariant


def test_predict_proba_runs_the_same_forward(classifier):
    images = [np.random.default_rng(i).integers(0, 256, (3, 40, 40)).astype(np.uint8) for i in range(2)]
    x = classifier.preprocess(images)
    for tta in (False, True):
        np.testing.assert_allclose(classifier.predict_proba(images, tta=tta), classifier.probabilities(x, tta).numpy())
