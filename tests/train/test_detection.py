"""Training detectors: the oriented detector over-fits a few generated images of rotated rectangles to AP50 0.9 or
more (which proves its head, loss, decoding and NMS, and the loop); the box augmentations move boxes with the
pixels; a run stopped after an epoch resumes to the uninterrupted run's result."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from rsvision.errors import RsvisionError
from rsvision.geometry.boxes import normalize_rbox, rbox_to_poly
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import build_model
from rsvision.train.detection import (
    BoxSamples,
    DetTrainConfig,
    d4_boxes,
    evaluate_detector,
    fit_detector,
    rotate_crop,
    sample_batch,
)

torch.set_num_threads(2)

CLASSES = ["bright", "dim"]
PREP = Preprocessing(
    bands=["red", "green", "blue"], scale=255.0, value_range=(0, 255), mean=[0.25] * 3, std=[0.25] * 3, input_size=96
)


def _fill(polygons, size) -> np.ndarray:
    canvas = Image.new("L", (size, size))
    draw = ImageDraw.Draw(canvas)
    for p in polygons:
        draw.polygon([tuple(xy) for xy in np.asarray(p).reshape(-1, 2)], fill=1)
    return np.asarray(canvas, dtype=bool)


def rectangles(seed: int, n_images: int = 4, size: int = 96, per_image: int = 3) -> BoxSamples:
    """Noise with bright (class 0) and dim (class 1) elongated rectangles at any angle, apart from each other."""
    rng = np.random.default_rng(seed)
    images, boxes, labels = [], [], []
    for _ in range(n_images):
        image = rng.normal(60, 15, (size, size))
        found: list[np.ndarray] = []
        for attempt in range(10_000):  # a first box in the middle may leave no room: start again
            if len(found) == per_image:
                break
            found = found if attempt % 100 else []
            r = normalize_rbox(
                np.array([*rng.uniform(20, size - 20, 2), rng.uniform(22, 34), rng.uniform(8, 12), rng.uniform(-2, 2)])
            )
            if all(np.hypot(*(r[:2] - q[:2])) > 28 for q in found):
                found.append(r)
        kinds = rng.integers(0, 2, per_image)
        for r, k in zip(found, kinds):
            image[_fill([rbox_to_poly(r)], size)] = rng.normal((200, 140)[k], 8)
        images.append(np.repeat(image.clip(0, 255)[None], 3, 0).astype(np.float32))
        boxes.append(np.stack(found))
        labels.append(kinds)
    return BoxSamples(images, boxes, labels)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / max(1, (a | b).sum())


def test_rotated_fcos_overfits_generated_rectangles(tmp_path):
    data = rectangles(0)
    torch.manual_seed(0)
    model = build_model("rotated_fcos", len(CLASSES), backbone="timm:resnet10t", channels=64, head_convs=2)
    # whole images, no flips: over-fitting, not generalising, is what proves the head, loss, decoding and NMS
    config = DetTrainConfig(epochs=3, steps=20, batch_size=4, crop=96, lr=2e-3, jitter=0.0, d4=False, warmup_epochs=0.5)
    result = fit_detector(
        model, PREP, data, data, config, tmp_path, classes=CLASSES, progress=False, log=lambda s: None
    )
    scores = evaluate_detector(model, PREP, data, CLASSES)
    assert scores["map50"] >= 0.9, result.history
    assert result.best_ap50 == pytest.approx(scores["map50"])


@pytest.mark.parametrize("k", range(8))
def test_d4_moves_boxes_with_the_pixels(k):
    data = rectangles(1, n_images=1)
    image, rb = torch.from_numpy(data.images[0]), data.boxes[0]
    turned, rb2 = d4_boxes(image, rb, k)
    assert _iou(turned[0].numpy() > 100, _fill(rbox_to_poly(rb2), 96)) > 0.85
    mask = torch.zeros(1, 96, 96)
    mask[0, 20:30, 10:40] = 1  # pixels x 10 .. 39, y 20 .. 29: the box (10, 20, 40, 30) exactly
    turned, xyxy = d4_boxes(mask, np.array([[10.0, 20.0, 40.0, 30.0]]), k)
    x1, y1, x2, y2 = xyxy[0].astype(int)
    assert turned.sum() == turned[0, y1:y2, x1:x2].sum() == 300


def test_rotation_by_any_angle_turns_boxes_as_le90_angles_turn():
    data = rectangles(2, n_images=1)
    image, rb = torch.from_numpy(data.images[0]), data.boxes[0]
    for angle in (0.3, -1.2, 2.5):
        turned, rb2 = rotate_crop(image, rb, angle)
        assert (rb2[:, 2] >= rb2[:, 3]).all()
        inside = (rb2[:, :2] > 15).all(1) & (rb2[:, :2] < 81).all(1)  # boxes turned out of the frame are cut
        assert _iou(turned[0].numpy() > 100, _fill(rbox_to_poly(rb2[inside]), 96)) > 0.8


def test_batches_keep_visible_boxes_and_oriented_rotation():
    data = rectangles(3, n_images=2, size=128)
    config = DetTrainConfig(crop=64, batch_size=6, rotate=True, min_visible=0.5)
    x, targets = sample_batch(data, config, torch.Generator().manual_seed(0))
    assert x.shape == (6, 3, 64, 64)
    for image, t in zip(x, targets):
        assert t["rboxes"].shape[1] == 5 and t["labels"].dtype == torch.int64
        for r in t["rboxes"].numpy():  # every box kept is there in the pixels
            assert (image[0].numpy()[_fill([rbox_to_poly(r)], 64)] > 100).mean() > 0.5


def test_a_stopped_run_resumes_to_the_same_result(tmp_path):
    data = rectangles(4, n_images=2, size=64, per_image=1)
    config = DetTrainConfig(epochs=2, steps=1, batch_size=2, crop=64, rotate=True)

    def run(work, log=lambda s: None):
        torch.manual_seed(0)
        # few candidates to decode: validation of an untrained model stays quick
        model = build_model("rotated_fcos", 2, backbone="timm:resnet10t", channels=32, head_convs=1, score_thresh=0.3)
        work.mkdir(exist_ok=True)
        return model, fit_detector(model, PREP, data, data, config, work, classes=CLASSES, progress=False, log=log)

    whole, whole_result = run(tmp_path / "whole")

    def stop(line):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "parts", log=stop)
    resumed, resumed_result = run(tmp_path / "parts")
    assert [r["loss"] for r in resumed_result.history] == [r["loss"] for r in whole_result.history]
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()))
    with pytest.raises(RsvisionError, match="other settings"):
        fit_detector(
            resumed,
            PREP,
            data,
            data,
            DetTrainConfig(epochs=3, steps=1, batch_size=2, crop=64, rotate=True),
            tmp_path / "parts",
            classes=CLASSES,
            progress=False,
        )


def test_boxes_of_the_wrong_kind_are_refused(tmp_path):
    data = rectangles(5, n_images=1)
    horizontal = BoxSamples(data.images, [np.array([[1.0, 2, 30, 40]])], [np.array([0])])
    model = build_model("rotated_fcos", 2, backbone="resnet18", channels=32, head_convs=1)
    with pytest.raises(RsvisionError, match="xyxy boxes"):
        fit_detector(model, PREP, horizontal, horizontal, DetTrainConfig(), tmp_path, classes=CLASSES, progress=False)
