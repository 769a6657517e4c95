"""Dataset inference: every readable sample in dataset order with the card's preprocessing, the same numbers
whatever the batch size, failures recorded with their reasons; features and images/s."""

import numpy as np
import pytest
import torch
from PIL import Image

from rsvision.datasets import FolderDataset
from rsvision.errors import UnreadableRasterError, WeightsError
from rsvision.models.classifier import Classifier, feature_model
from rsvision.models.inference import extract_features, images_per_second, map_dataset, predict_dataset

torch.set_num_threads(1)


@pytest.fixture
def classifier(tmp_path, tiny_classifier):
    (tmp_path / "w").mkdir()
    return Classifier(tiny_classifier(tmp_path / "w"))


@pytest.fixture
def dataset(tmp_path):
    """Two classes of images of several sizes, and one file that is no PNG."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for c in ("blue", "red"):
        (root / c).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (30 + 3 * i, 36, 3)).astype(np.uint8)).save(root / c / f"{i}.png")
    (root / "blue" / "2.png").write_bytes(b"\x89PNG broken")
    return FolderDataset(root)


def _readable(dataset):
    return [(i, s) for i, s in enumerate(dataset) if s.id != "blue/2.png"]


def test_probabilities_of_the_readable_samples_in_order(classifier, dataset):
    out = predict_dataset(classifier, dataset, batch_size=3)
    readable = _readable(dataset)
    assert out.indices.tolist() == [i for i, _ in readable]
    expected = classifier.predict_proba([dataset.load_image(s) for _, s in readable])
    np.testing.assert_allclose(out.probabilities, expected, atol=1e-6)
    (failure,) = out.failures
    assert failure[0] == "blue/2.png" and "cannot read" in failure[1]


def test_batch_size_and_tta(classifier, dataset):
    one = predict_dataset(classifier, dataset, batch_size=1, tta=True)
    many = predict_dataset(classifier, dataset, batch_size=64, tta=True)
    np.testing.assert_allclose(one.probabilities, many.probabilities, atol=1e-6)
    images = [dataset.load_image(dataset[int(i)]) for i in many.indices]
    np.testing.assert_allclose(many.probabilities, classifier.predict_proba(images, tta=True), atol=1e-6)
    plain = predict_dataset(classifier, dataset)
    assert not np.allclose(plain.probabilities, many.probabilities)


class Listed:
    """Not a datasets.Dataset: anything with samples and load_image will do."""

    def __init__(self, images):
        self.samples = [type("S", (), {"id": f"s{i}", "image": f"mem://{i}"})() for i in range(len(images))]
        self.images = images

    def __len__(self):
        return len(self.samples)

    def __iter__(self):
        return iter(self.samples)

    def load_image(self, sample):
        image = self.images[int(sample.id[1:])]
        if image is None:
            raise UnreadableRasterError(f"{sample.image}: gone")
        return image


def test_any_image_source_and_what_the_card_refuses(classifier):
    rng = np.random.default_rng(1)
    good = rng.integers(0, 256, (3, 32, 32)).astype(np.uint8)
    source = Listed([good, None, np.zeros((4, 32, 32), np.uint8), good.astype(np.float32) / 255])
    out = predict_dataset(classifier, source)
    assert out.indices.tolist() == [0]
    reasons = dict(out.failures)
    assert reasons["s1"] == "mem://1: gone"
    assert "4 bands given without names" in reasons["s2"] and "already scaled" in reasons["s3"]
    empty = predict_dataset(classifier, Listed([None]))
    assert empty.values.shape == (0, 3) and empty.indices.shape == (0,)


def test_map_dataset_applies_any_forward(classifier):
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (3, 32, 32)).astype(np.uint8) for _ in range(5)]
    out = map_dataset(classifier, Listed(images), lambda x: x.mean((2, 3)), width=3, batch_size=2)
    expected = np.stack([classifier.weights.preprocess(im).mean((2, 3))[0].numpy() for im in images])
    np.testing.assert_allclose(out.values, expected, atol=1e-6)


def test_features_are_the_head_input(classifier, dataset):
    feats = extract_features(classifier, dataset, batch_size=2)
    assert feats.values.shape == (7, 64) and len(feats.failures) == 1
    net = feature_model(classifier)
    x = classifier.weights.preprocess(dataset.load_image(dataset[0]))
    with torch.no_grad():
        np.testing.assert_allclose(feats.values[0], net(x)[0].numpy(), atol=1e-5)
        logits = classifier.model.fc(torch.from_numpy(feats.values[:1]))
    np.testing.assert_allclose(
        logits.softmax(-1).numpy(), predict_dataset(classifier, dataset).probabilities[:1], atol=1e-5
    )


def test_probabilities_need_a_head(classifier, dataset):
    classifier.weights = classifier.weights.model_copy(update={"classes": []})
    with pytest.raises(WeightsError, match="has no classifier head"):
        predict_dataset(classifier, dataset)


def test_images_per_second_leaves_the_thread_count(classifier):
    before = torch.get_num_threads()
    speed = images_per_second(classifier.model, 3, 32, batch_size=4, threads=before + 1, seconds=0.2)
    assert speed > 0 and torch.get_num_threads() == before
