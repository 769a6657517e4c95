"""The detection predictor: one Detections per tile in tile pixels (xyxy, or le90 rotated boxes for an oriented
model), the score threshold, the bands the engine reads, the card's classes and value checks; built from a weights
file, a model of another task refused."""

import numpy as np
import pytest
import torch
from rasterio.windows import Window
from torch import nn

from rsvision.errors import NormalisationError, WeightsError
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import build_model
from rsvision.models.weights import Task, save_weights
from rsvision.tasks.base import BoxPredictor, TileBatch
from rsvision.tasks.classification import BandChoice
from rsvision.tasks.detection import Detector, load_detector

torch.set_num_threads(1)

PREP = Preprocessing(
    bands=["red", "green", "blue"], scale=255.0, value_range=(0, 255), mean=[0.5] * 3, std=[0.25] * 3, input_size=64
)


class Fixed(nn.Module):
    """Two objects per image where the brightest pixel of the first band is; records what it was given."""

    def __init__(self, rotated: bool):
        super().__init__()
        self.rotated = rotated
        self.conv = nn.Conv2d(3, 1, 1)
        self.seen = None

    def forward(self, x):
        self.seen = x
        out = []
        for image in x:
            y, xx = divmod(int(image[0].argmax()), image.shape[-1])
            if self.rotated:
                boxes = torch.tensor([[xx, y, 10.0, 4.0, 0.5], [5.0, 5.0, 6.0, 2.0, -0.2]])
            else:
                boxes = torch.tensor([[xx - 2.0, y - 2.0, xx + 2.0, y + 2.0], [0.0, 0.0, 4.0, 4.0]])
            key = "rboxes" if self.rotated else "boxes"
            out.append({key: boxes, "scores": torch.tensor([0.9, 0.2]), "labels": torch.tensor([1, 0])})
        return out


def _card(tmp_path, module, task=Task.DETECTION, name="det"):
    return save_weights(
        module,
        tmp_path,
        name,
        task=task,
        architecture="rotated_fcos",
        architecture_kwargs={"backbone": "resnet18", "channels": 32, "head_convs": 1},
        preprocessing=PREP,
        classes=["car", "ship"],
        licence="test",
        command="test",
    )


def _batch(n=2, size=32):
    images = np.full((n, 3, size, size), 10, np.float32)
    images[0, 0, 7, 20] = 250  # the first tile's object at x 20, y 7
    if n > 1:
        images[1, 0, 30, 3] = 250
    masks = np.zeros((n, size, size), bool)
    return TileBatch(images, masks, [Window(size * i, 0, size, size) for i in range(n)])


@pytest.mark.parametrize("rotated", [False, True])
def test_one_detections_per_tile_in_tile_pixels_above_the_score(tmp_path, rotated):
    module = Fixed(rotated)
    detector = Detector(
        _card(tmp_path, build_model("rotated_fcos", 2, backbone="resnet18", channels=32, head_convs=1)), module
    )
    assert isinstance(detector, BoxPredictor) and detector.rotated is rotated and detector.tile_size == 64
    assert detector.class_names == ["car", "ship"] and detector.score == 0.3
    first, second = detector.predict(_batch())
    assert len(first) == len(second) == 1  # the 0.2 object is under the default score
    assert first.labels.tolist() == [1] and first.scores.tolist() == pytest.approx([0.9])
    if rotated:
        assert (
            first.boxes is None and first.rboxes[0, :2].tolist() == [20, 7] and second.rboxes[0, :2].tolist() == [3, 30]
        )
    else:
        assert first.rboxes is None and first.boxes[0].tolist() == [18, 5, 22, 9]
    assert torch.allclose(module.seen[0, 1, 0, 0], torch.tensor((10 / 255 - 0.5) / 0.25))  # the card's normalisation
    low = Detector(detector.weights, module, score=0.1)
    assert len(low.predict(_batch())[0]) == 2 and low.fingerprint() != detector.fingerprint()


def test_the_engine_reads_the_chosen_bands_and_values_are_checked(tmp_path):
    module = Fixed(False)
    card = _card(tmp_path, build_model("rotated_fcos", 2, backbone="resnet18", channels=32, head_convs=1))
    detector = Detector(card, module, BandChoice(["B04", "B03", "B02"], "wavelength"))
    assert detector.bands == ["B04", "B03", "B02"]  # the scene's bands in the card's order: the engine reads these
    with pytest.raises(NormalisationError, match="outside the model's raw range"):
        Detector(card, module).predict(
            TileBatch(np.full((1, 3, 8, 8), 300, np.float32), np.zeros((1, 8, 8), bool), [Window(0, 0, 8, 8)])
        )


def test_a_detector_from_its_weights_file(tmp_path):
    torch.manual_seed(0)
    net = build_model("rotated_fcos", 2, backbone="resnet18", channels=32, head_convs=1)
    card = _card(tmp_path, net)
    detector, note = load_detector(str(tmp_path / "det.safetensors"), scene_bands=["red", "green", "blue"], score=0.0)
    assert note == "" and detector.rotated and detector.weights.sha256 == card.sha256
    (tile,) = detector.predict(_batch(1, 64))
    assert tile.rboxes.shape[1] == 5 and ((tile.rboxes[:, 2] >= tile.rboxes[:, 3]).all())
    _card(tmp_path, net, task=Task.SEGMENTATION, name="seg")
    with pytest.raises(WeightsError, match="is a segmentation model; detect needs a detection model"):
        load_detector(str(tmp_path / "seg.safetensors"))
