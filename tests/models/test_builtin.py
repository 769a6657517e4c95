"""The shipped weights: card, checksum, and a real-data sanity check on part of AID's rsicd-test split, for every
built-in AID classifier (the from-scratch ResNet and the ImageNet-pretrained EfficientNet-Lite0)."""

import warnings

import numpy as np
import pytest
import torch

from rsvision.models import DEFAULT_CLASSIFIER, Classifier, builtin_weights

torch.set_num_threads(1)

AID_MODELS = {"aid_resnet18w05": "aid_classifier", "aid_efficientnet_lite0": "aid_lite0"}  # name -> its recipe


@pytest.fixture(params=sorted(AID_MODELS))
def record(request):
    cards = builtin_weights()
    if request.param not in cards:
        pytest.skip(
            f"built-in weights {request.param} not trained yet "
            f"(python -m rsvision.train.recipes {AID_MODELS[request.param]})"
        )
    return cards[request.param]


def test_the_default_is_built_in():
    assert DEFAULT_CLASSIFIER in builtin_weights()


def test_card_is_complete(record):
    record.verify()
    assert record.bands == ["red", "green", "blue"] and len(record.classes) == 30
    test = next(m for m in record.metrics if m.split == "rsicd-test")
    assert set(test.values) >= {"overall_accuracy", "average_accuracy", "kappa"}
    assert (record.weights_path.parent / record.notes["confusion_matrix_png"]).is_file()
    assert record.command.startswith(f"python -m rsvision.train.recipes {AID_MODELS[record.name]} ")
    assert record.weights_path.stat().st_size < 12_000_000


def test_classifies_real_aid_test_images(record, shared):
    from rsvision.datasets.folder import FolderDataset

    root = shared("AID")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = FolderDataset(root, split="rsicd-test")
    assert list(test.classes) == record.classes
    labels = np.array([s.targets["label"] for s in test])
    picked = np.concatenate([np.flatnonzero(labels == c)[:3] for c in range(30)])
    images = [test.load_image(test[int(i)]) for i in picked]
    probs = Classifier(record).predict_proba(images)
    # the card reports the whole split; 90 images give a loose check that file and preprocessing fit
    assert (probs.argmax(1) == labels[picked]).mean() >= 0.75
