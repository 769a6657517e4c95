"""Resolving -m MODEL: weights files, pooled features, and third-party checkpoints (timm, TorchGeo) made here in
their formats."""

import numpy as np
import pytest
import torch

from rsvision.errors import WeightsError
from rsvision.models import Classifier, Preprocessing, build_model, save_weights
from rsvision.models.classifier import feature_model, load_classifier
from rsvision.models.weights import Task
from rsvision.workflows.classify import classify_folder

torch.set_num_threads(1)


def test_feature_model_is_the_network_before_its_head(tmp_path):
    torch.manual_seed(0)
    net = build_model("resnet18", num_classes=4, width=0.125)
    prep = Preprocessing(
        bands=["red", "green", "blue"], scale=255, value_range=(0, 255), mean=[0.4] * 3, std=[0.2] * 3, input_size=32
    )
    record = save_weights(
        net,
        tmp_path,
        "net",
        architecture="resnet18",
        architecture_kwargs={"width": 0.125},
        preprocessing=prep,
        classes=list("abcd"),
        licence="-",
        command="-",
    )
    clf = load_classifier(tmp_path / "net.safetensors")
    feats = feature_model(clf)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        f = feats(x)
        assert f.shape == (2, 64) and torch.allclose(clf.model.fc(f), clf.model(x), atol=1e-5)
    assert isinstance(clf.model.fc, torch.nn.Linear)  # the classifier itself keeps its head
    assert record.name == "net"


def test_timm_checkpoint(tmp_path):
    import timm

    torch.manual_seed(0)
    net = timm.create_model("test_resnet", num_classes=3).eval()
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, tmp_path / "t.pth")
    clf = load_classifier(f"timm:test_resnet:{tmp_path / 't.pth'}")
    assert clf.classes == ["class_0", "class_1", "class_2"] and clf.weights.input_size == 160
    image = np.random.default_rng(0).integers(0, 256, (3, 100, 120)).astype(np.uint8)
    x = torch.nn.functional.interpolate(
        torch.from_numpy(image[None] / 255.0).float(), size=(160, 160), mode="bilinear", antialias=True
    )
    x = (x - 0.5) / 0.5  # test_resnet's mean and std
    with torch.no_grad():
        expected = net(x).softmax(-1).numpy()
    assert np.allclose(clf.predict_proba([image]), expected, atol=1e-5)
    assert feature_model(clf)(x).shape[-1] == net.num_features
    with pytest.raises(WeightsError, match="named timm:ARCH:PATH"):
        load_classifier("timm:test_resnet")


def test_torchgeo_checkpoint_is_a_feature_extractor(tmp_path):
    torch.manual_seed(0)
    net = build_model(
        "resnet18",
        num_classes=0,
        bands=["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"],
    )
    torch.save(net.state_dict(), tmp_path / "s2.pth")
    spec = f"torchgeo:resnet18:{tmp_path / 's2.pth'}"
    with pytest.raises(WeightsError, match=r"^-m torchgeo:\S+ is an embedding model; classify needs a classification"):
        load_classifier(spec)
    clf = load_classifier(spec, task=Task.EMBEDDING, needed_by="eval probe")
    assert clf.classes == [] and clf.weights.preprocessing.scale == 10000 and len(clf.weights.bands) == 13
    assert clf.weights.task == Task.EMBEDDING
    assert isinstance(clf, Classifier) and feature_model(clf) is clf.model
    with pytest.raises(WeightsError, match="has no classifier head: it gives features"):
        classify_folder(tmp_path, clf, tmp_path / "out.csv")
