"""YOLO and YOLO-OBB labels: real DOTA8 counts, generated files, malformed lines."""

import math

import numpy as np
import pytest
from PIL import Image

from rsvision.datasets.dota import DOTA_V1_CLASSES
from rsvision.datasets.yolo import YoloDataset
from rsvision.errors import AnnotationError, AnnotationWarning


def test_dota8(shared):
    root = shared("dota", "dota8")
    rows = [
        line.split()
        for f in sorted((root / "labels").rglob("*.txt"))
        for line in f.read_text().splitlines()
        if line.strip()
    ]
    outside = sum(any(not 0 <= float(v) <= 1 for v in r[1:]) for r in rows)
    assert (len(rows), outside) == (133, 17)  # README: 133 objects, 17 with corners outside [0, 1]
    with pytest.warns(AnnotationWarning, match="17 objects had normalised values outside"):
        ds = YoloDataset(root, classes=DOTA_V1_CLASSES)
    assert ds.format == "yolo-obb" and ds.issues == {"clipped": 17}
    assert len(ds) == 8
    labels = np.concatenate([s.targets["labels"] for s in ds])
    np.testing.assert_array_equal(np.sort(labels), np.sort([int(r[0]) for r in rows]))
    for s in ds:
        p, r = s.targets["polygons"], s.targets["rboxes"]
        assert (p >= 0).all() and (p <= 1024).all()
        assert (r[:, 2] >= r[:, 3]).all() and (r[:, 3] > 0).all()
        assert (r[:, 4] >= -math.pi / 2).all() and (r[:, 4] < math.pi / 2).all()
    with pytest.warns(AnnotationWarning):
        val = YoloDataset(root, split="val", classes=DOTA_V1_CLASSES)
    assert len(val) == 4 and sum(len(s.targets["labels"]) for s in val) == sum(
        1 for f in (root / "labels" / "val").glob("*.txt") for line in f.read_text().splitlines() if line.strip()
    )


def _layout(root, name, text, size=(200, 100), split="train"):
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size).save(root / "images" / split / f"{name}.jpg")
    if text is not None:
        (root / "labels" / split / f"{name}.txt").write_text(text)


def test_yolo_boxes_are_denormalised(tmp_path):
    _layout(tmp_path, "a", "1 0.5 0.5 0.2 0.4\n0 0.05 0.1 0.2 0.2\n")
    _layout(tmp_path, "b", None)  # no label file: no objects
    (tmp_path / "classes.txt").write_text("car\nship\n")
    with pytest.warns(AnnotationWarning, match="a.txt:2"):
        ds = YoloDataset(tmp_path)
    assert ds.format == "yolo" and ds.classes == ("car", "ship")
    a, b = ds.samples
    np.testing.assert_allclose(a.targets["boxes"][0], [80, 30, 120, 70])
    np.testing.assert_allclose(a.targets["boxes"][1], [0, 0, 30, 20])  # x from -10 clipped to 0
    assert ds.issues == {"clipped": 1}
    assert a.targets["labels"].tolist() == [1, 0] and len(b.targets["labels"]) == 0


def test_yaml_names_and_obb(tmp_path):
    _layout(tmp_path, "a", "2 0.1 0.1 0.3 0.1 0.3 0.3 0.1 0.3\n")
    (tmp_path / "data.yaml").write_text("names:\n  0: a\n  1: b\n  2: c\n")
    ds = YoloDataset(tmp_path)
    assert ds.classes == ("a", "b", "c") and ds.format == "yolo-obb"
    np.testing.assert_allclose(ds[0].targets["rboxes"][0], [40, 20, 40, 20, 0], atol=1e-12)


@pytest.mark.parametrize(
    "text, message",
    [
        ("0 0.5 0.5 0.2\n", r"a.txt:1: expected 5 \(YOLO\) or 9"),
        ("0 0.5 0.5 0.2 0.2\n0 1 2 3 4 5 6 7 8\n", "a.txt:2: expected 'class cx cy w h'"),
        ("0 0.5 zero 0.2 0.2\n", "a.txt:1: non-numeric"),
        ("5 0.5 0.5 0.2 0.2\n", "a.txt:1: class index 5 is out of range of 2 classes"),
    ],
)
def test_malformed(tmp_path, text, message):
    _layout(tmp_path, "a", text)
    with pytest.raises(AnnotationError, match=message):
        YoloDataset(tmp_path, classes=["x", "y"])


def test_boxes_without_area_are_dropped_and_counted(tmp_path):
    _layout(tmp_path, "a", "0 0.5 0.5 0 0.2\n0 1.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n")
    with pytest.warns(AnnotationWarning, match="2 boxes had no area in the image .*a.txt:1"):
        ds = YoloDataset(tmp_path, classes=["x", "y"])
    assert ds.issues == {"clipped": 1, "no_area": 2}
    assert ds[0].targets["labels"].tolist() == [1] and len(ds[0].targets["boxes"]) == 1
