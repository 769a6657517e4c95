"""Detectors by name: each builds for 3 and 4 bands, the band-adaptive stem adapts it, torchvision's resizing and
normalisation are off, class ids are 0-based in and out; the ProbIoU loss; the oriented detector's outputs are le90."""

import itertools
import math

import numpy as np
import pytest
import torch

from rsvision.errors import RsvisionError
from rsvision.models.detection import (
    DETECTION_BUILDERS,
    PassThroughTransform,
    is_rotated,
    level_strides,
    probiou_loss,
)
from rsvision.models.registry import RGB, build_model, list_models
from rsvision.models.stem import first_conv

torch.set_num_threads(1)

RGBN = ("red", "green", "blue", "nir")
SMALL = {"backbone": "resnet18", "channels": 64}


def _target(rotated: bool, labels=(0, 1)) -> dict:
    boxes = torch.tensor([[10.0, 12.0, 40.0, 30.0], [35.0, 40.0, 60.0, 62.0]])[: len(labels)]
    if rotated:
        boxes = torch.tensor([[25.0, 21.0, 30.0, 12.0, 0.3], [47.0, 51.0, 25.0, 10.0, -1.0]])[: len(labels)]
    return {"rboxes" if rotated else "boxes": boxes, "labels": torch.tensor(labels, dtype=torch.long)}


@pytest.mark.parametrize("name", sorted(DETECTION_BUILDERS))
def test_each_detector_builds_for_rgb_and_four_bands_through_the_stem(name):
    assert name in list_models()
    torch.manual_seed(0)
    rgb = build_model(name, 2, RGB, **SMALL)
    four = build_model(name, 2, RGBN, source_bands=RGB, source_state=rgb.state_dict(), **SMALL)
    assert first_conv(rgb).in_channels == 3 and first_conv(four).in_channels == 4
    # red, green, blue keep their filters (times 3/4, the stem's rule), nir takes red's, its nearest neighbour
    w3, w4 = first_conv(rgb).weight, first_conv(four).weight
    assert torch.allclose(w4[:, :3], w3 * 0.75) and torch.allclose(w4[:, 3], w3[:, 0] * 0.75)
    rotated = is_rotated(four)
    four.train()
    losses = four(torch.randn(2, 4, 64, 64), [_target(rotated), _target(rotated, labels=())])
    assert all(torch.isfinite(v) for v in losses.values())  # an image without objects is a negative
    four.eval()
    with torch.no_grad():
        (out,) = four(torch.randn(1, 4, 70, 90))  # any size: padded to the stride inside
    assert set(out) == {"rboxes" if rotated else "boxes", "scores", "labels"}
    assert out["labels"].numel() == 0 or 0 <= int(out["labels"].min()) <= int(out["labels"].max()) < 2


def test_torchvision_resizing_and_normalisation_are_off():
    model = build_model("fcos", 1, RGB, **SMALL)
    assert isinstance(model.transform, PassThroughTransform)
    x = torch.rand(3, 100, 130) * 50
    batch, _ = model.transform([x])
    assert batch.image_sizes == [(100, 130)] and batch.tensors.shape[-2:] == (128, 160)  # padded, not resized
    assert torch.equal(batch.tensors[0, :, :100, :130], x)


def test_faster_rcnn_takes_and_gives_zero_based_classes():
    torch.manual_seed(0)
    model = build_model("fasterrcnn", 1, RGB, **SMALL)
    assert model.roi_heads.box_predictor.cls_score.out_features == 2  # background inside
    model.train()
    losses = model(torch.randn(1, 3, 64, 64), [_target(False, labels=(0, 0))])  # class 0 is an object class
    assert set(losses) >= {"loss_classifier", "loss_box_reg"}
    model.eval()
    model.roi_heads.score_thresh = 0.0
    with torch.no_grad():
        (out,) = model(torch.randn(1, 3, 64, 64))
    assert len(out["labels"]) and set(out["labels"].tolist()) == {0}


def test_timm_and_mobilenet_backbones():
    timm_model = build_model("rotated_fcos", 3, RGBN, backbone="timm:efficientnet_lite0", channels=32)
    assert first_conv(timm_model).in_channels == 4
    assert level_strides(timm_model.backbone, 4) == [8, 16, 32, 64, 128]
    mobile = build_model("retinanet", 3, RGB, backbone="mobilenet_v3_large", channels=32)
    assert level_strides(mobile.backbone, 3)[0] >= 8
    with pytest.raises(RsvisionError, match="unknown detection backbone 'vgg16'"):
        build_model("fcos", 2, backbone="vgg16")


def test_probiou_loss_is_zero_for_one_box_and_grows_apart():
    box = torch.tensor([[50.0, 50.0, 40.0, 12.0, 0.4]])
    assert probiou_loss(box, box).item() < 1e-3
    same = torch.tensor([[50.0, 50.0, 12.0, 40.0, 0.4 - math.pi / 2]])  # the same rectangle, encoded otherwise
    assert probiou_loss(same, box).item() < 1e-3
    moved = [probiou_loss(box + torch.tensor([[d, 0, 0, 0, 0]]), box).item() for d in (1, 4, 10, 25)]
    turned = [probiou_loss(box + torch.tensor([[0, 0, 0, 0, a]]), box).item() for a in (0.1, 0.4, 0.8, 1.5)]
    for losses in (moved, turned):
        assert all(a < b for a, b in itertools.pairwise(losses)) and losses[0] > 0 and losses[-1] <= 1
    pred = box.clone().requires_grad_(True)
    probiou_loss(pred + torch.tensor([[3.0, 0, 0, 0, 0.2]]), box).sum().backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_oriented_outputs_are_le90():
    torch.manual_seed(0)
    model = build_model("rotated_fcos", 2, RGB, **SMALL).eval()
    model.score_thresh = 0.0
    with torch.no_grad():
        (out,) = model(torch.randn(1, 3, 64, 64))
    r = out["rboxes"].numpy()
    assert len(r) and (r[:, 2] >= r[:, 3]).all()
    assert (r[:, 4] >= -np.pi / 2).all() and (r[:, 4] < np.pi / 2).all()
    assert out["scores"].shape == out["labels"].shape == (len(r),)
