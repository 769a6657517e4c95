import json

import numpy as np
import pytest
import torch

from rsvision.errors import BandCountError, InputNotFoundError, NormalisationError, WeightsError
from rsvision.models import Preprocessing, build_model
from rsvision.models.classifier import Classifier
from rsvision.models.registry import build_from_weights
from rsvision.models.weights import Weights, builtin_weights, save_weights

torch.set_num_threads(1)
CLASSES = ["a", "b", "c"]
PREP = Preprocessing(
    bands=["red", "green", "blue"],
    scale=255.0,
    value_range=(0, 255),
    mean=[0.4, 0.41, 0.37],
    std=[0.21, 0.19, 0.19],
    input_size=32,
)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = build_model("resnet18", len(CLASSES), width=0.25).eval()
    record = save_weights(
        model,
        tmp_path,
        "tiny",
        half=False,
        architecture="resnet18",
        architecture_kwargs={"width": 0.25},
        preprocessing=PREP,
        classes=CLASSES,
        licence="Apache-2.0",
        command="python -m rsvision.train.recipes tiny",
    )
    return model, record, tmp_path


def test_round_trip_and_sha256(saved):
    model, record, folder = saved
    assert (folder / "tiny.safetensors").is_file() and (folder / "tiny.json").is_file()
    again = Weights.load(folder / "tiny.safetensors")
    assert again == record and again.bands == ["red", "green", "blue"] and again.input_size == 32
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(build_from_weights(again)(x), model(x))
    assert builtin_weights(folder)["tiny"].sha256 == record.sha256


def test_sha256_mismatch_is_refused(saved):
    _, _record, folder = saved
    path = folder / "tiny.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256 .* does not match"):
        build_from_weights(Weights.load(folder / "tiny.json"))


def test_card_errors(saved, tmp_path):
    _, _, folder = saved
    card = json.loads((folder / "tiny.json").read_text())
    del card["classes"]
    (folder / "bad.json").write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="bad.json: invalid card \\(classes"):
        Weights.load(folder / "bad.json")
    with pytest.raises(InputNotFoundError):
        Weights.load(tmp_path / "nothing.safetensors")


def test_half_storage_halves_the_file(saved, tmp_path):
    model, record, _ = saved
    (tmp_path / "h").mkdir()
    half = save_weights(model, tmp_path / "h", "tiny", **record.model_dump(exclude={"name", "file", "sha256"}))
    assert half.weights_path.stat().st_size < 0.6 * record.weights_path.stat().st_size
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(build_from_weights(half)(x), model(x), atol=2e-2, rtol=2e-2)


def test_preprocess_applies_the_record():
    image = np.random.default_rng(0).integers(0, 256, (3, 48, 40), dtype=np.uint8)
    x = PREP(image)
    assert x.shape == (1, 3, 32, 32)
    resized = torch.nn.functional.interpolate(
        torch.from_numpy(image).float()[None], size=(32, 32), mode="bilinear", antialias=True
    )
    expected = (resized / 255 - torch.tensor(PREP.mean).view(1, 3, 1, 1)) / torch.tensor(PREP.std).view(1, 3, 1, 1)
    torch.testing.assert_close(x, expected, atol=1e-5, rtol=1e-5)
    # bands are matched by name: a BGR image named as such gives the same tensor
    torch.testing.assert_close(PREP(image[::-1].copy(), bands=["blue", "green", "red"]), x)


def test_wrong_normalisation_is_refused(saved):
    _, record, _ = saved
    image = np.random.default_rng(1).integers(0, 256, (3, 32, 32), dtype=np.uint8)
    record.preprocess(image, mean=PREP.mean, std=PREP.std)  # the record's own values are accepted
    with pytest.raises(NormalisationError, match="mean .* differs"):  # ImageNet statistics instead
        record.preprocess(image, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    with pytest.raises(NormalisationError, match="scale"):
        record.preprocess(image, scale=10000)
    with pytest.raises(NormalisationError, match="already scaled"):  # pixels already divided by 255
        record.preprocess(image.astype(np.float32) / 255)
    with pytest.raises(NormalisationError, match="outside the model's raw range"):  # already standardised
        record.preprocess(PREP(image)[0].numpy())
    with pytest.raises(NormalisationError, match="outside the model's raw range"):  # 16-bit reflectance
        record.preprocess(np.full((3, 32, 32), 3000, dtype=np.uint16))


def test_band_errors(saved):
    _, record, _ = saved
    with pytest.raises(BandCountError, match="4 bands given without names"):
        record.preprocess(np.zeros((4, 32, 32), np.uint8))
    with pytest.raises(BandCountError, match="needs bands blue"):
        record.preprocess(np.zeros((3, 32, 32), np.uint8), bands=["red", "green", "nir"])
    with pytest.raises(BandCountError, match="too small"):
        record.preprocess(np.zeros((3, 1, 1), np.uint8))


def test_classifier_predicts_with_the_record(saved):
    model, record, _ = saved
    images = [np.random.default_rng(i).integers(0, 256, (3, 40 + i, 36), dtype=np.uint8) for i in range(3)]
    clf = Classifier(record)
    probs = clf.predict_proba(images)
    expected = torch.cat([model(PREP(im)) for im in images]).softmax(-1)
    np.testing.assert_allclose(probs, expected.detach().numpy(), atol=1e-5)
    tta = clf.predict_proba(images, tta=True)
    np.testing.assert_allclose(tta.sum(1), 1, atol=1e-5)
    pred = clf.classify(images, top=2)
    assert pred[0].label == CLASSES[int(probs[0].argmax())] and len(pred[0].top) == 2
