"""DOTA labelTxt reading and writing, task-1 result files."""

import math
import warnings

import numpy as np
import pytest
from PIL import Image

from rsvision.datasets.dota import DOTA_V1_CLASSES, DotaDataset, read_task1, write_labeltxt, write_task1
from rsvision.errors import AnnotationError, AnnotationWarning
from rsvision.geometry import Detections


def _objects(path):
    """Independent count: lines with 9 or 10 fields are objects (header lines have one field)."""
    rows = [line.split() for line in path.read_text().splitlines()]
    return [r for r in rows if len(r) in (9, 10)]


def test_devkit_example(shared):
    root = shared("dota", "devkit_example")
    rows = _objects(root / "labelTxt" / "P1888.txt")
    ds = DotaDataset(root, classes=DOTA_V1_CLASSES)
    (s,) = ds.samples
    t = s.targets
    assert len(t["labels"]) == len(rows) == 64
    names = [ds.classes[i] for i in t["labels"]]
    assert names == [r[8] for r in rows]
    assert names.count("large-vehicle") == 50 and names.count("small-vehicle") == 14
    assert t["difficult"].sum() == sum(int(r[9]) for r in rows)
    np.testing.assert_array_equal(t["polygons"], np.array([[float(v) for v in r[:8]] for r in rows]))
    assert s.meta["imagesource"] == "GoogleEarth" and s.meta["gsd"] == pytest.approx(0.266170468393)
    with Image.open(root / "images" / "P1888.png") as im:
        assert (s.meta["width"], s.meta["height"]) == im.size
    assert ds.issues == {}  # every corner inside the 712 x 557 image
    r = t["rboxes"]
    assert (r[:, 2] >= r[:, 3]).all() and (r[:, 4] >= -math.pi / 2).all() and (r[:, 4] < math.pi / 2).all()
    np.testing.assert_allclose(t["boxes"][:, 0], t["polygons"][:, 0::2].min(1))


def test_crop_without_image(shared):
    root = shared("format_samples", "dota_crop")
    rows = _objects(root / "labelTxt" / "P2805__1024__0___0.txt")
    with pytest.warns(AnnotationWarning, match="1 label files have no image"):
        ds = DotaDataset(root, classes=DOTA_V1_CLASSES)
    t = ds[0].targets
    assert len(t["labels"]) == len(rows) == 4
    assert {ds.classes[i] for i in t["labels"]} == {"plane"}
    assert ds[0].image is None and ds.issues == {"no_image": 1}


def _write(root, name, text, size=(100, 80)):
    (root / "labelTxt").mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    (root / "labelTxt" / f"{name}.txt").write_text(text)
    Image.new("RGB", size).save(root / "images" / f"{name}.png")


def test_headers_optional_difficult_and_empty_file(tmp_path):
    _write(
        tmp_path,
        "a",
        "imagesource:GoogleEarth\ngsd:null\n10 10 20 10 20 20 10 20 plane\n30 30 40 30 40 40 30 40 ship 1\n",
    )
    _write(tmp_path, "b", "")
    ds = DotaDataset(tmp_path)
    assert ds.classes == ("plane", "ship")  # sorted names found
    a, b = ds.samples
    assert a.meta["gsd"] is None
    assert a.targets["difficult"].tolist() == [False, True]
    assert len(b.targets["labels"]) == 0 and b.targets["rboxes"].shape == (0, 5)


@pytest.mark.parametrize(
    "line, message",
    [
        ("10 10 20 10 20 20 10 20", "a.txt:2: expected"),
        ("10 10 20 10 20 x 10 20 plane 0", "a.txt:2: non-numeric"),
        ("10 10 10 10 10 10 10 10 plane 0", "a.txt:2: degenerate polygon"),
        ("10 10 20 10 20 20 10 20 plane 0 extra", "a.txt:2: expected"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, line, message):
    _write(tmp_path, "a", f"gsd:0.5\n{line}\n")
    with pytest.raises(AnnotationError, match=message):
        DotaDataset(tmp_path)


def test_unknown_class_with_fixed_list(tmp_path):
    _write(tmp_path, "a", "10 10 20 10 20 20 10 20 spaceship 0\n")
    with pytest.raises(AnnotationError, match="a.txt:1: unknown class 'spaceship'"):
        DotaDataset(tmp_path, classes=DOTA_V1_CLASSES)


def test_corners_outside_are_clipped_once_per_dataset(tmp_path):
    _write(
        tmp_path,
        "a",
        "-5 10 20 10 20 20 -5 20 plane 0\n90 10 120 10 120 20 90 20 plane 0\n10 10 20 10 20 20 10 20 plane 0\n",
    )
    _write(tmp_path, "b", "90 70 110 70 110 90 90 90 plane 0\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = DotaDataset(tmp_path)
    assert [str(w.message) for w in caught if w.category is AnnotationWarning] == [
        f"{tmp_path}: 3 objects had corners outside the image and were clipped to it"
        f" (first: {tmp_path / 'labelTxt' / 'a.txt'}:1)"
    ]
    assert ds.issues == {"clipped": 3}
    np.testing.assert_array_equal(ds[0].targets["polygons"][0], [0, 10, 20, 10, 20, 20, 0, 20])
    np.testing.assert_array_equal(ds[1].targets["polygons"][0], [90, 70, 100, 70, 100, 80, 90, 80])
    _write(tmp_path, "c", "200 200 210 200 210 210 200 210 plane 0\n")
    with pytest.raises(AnnotationError, match="c.txt:1: polygon .* lies outside"):
        DotaDataset(tmp_path)


def test_labeltxt_round_trip(tmp_path):
    _write(
        tmp_path / "src",
        "a",
        "imagesource:GoogleEarth\ngsd:0.25\n10.5 10 20 10 20 20 10 20 plane 0\n30 30 40 30 40 40 30 40 ship 1\n",
    )
    ds = DotaDataset(tmp_path / "src", classes=DOTA_V1_CLASSES)
    write_labeltxt(tmp_path / "out" / "labelTxt", ds)
    (tmp_path / "out" / "images").mkdir()
    Image.new("RGB", (100, 80)).save(tmp_path / "out" / "images" / "a.png")
    back = DotaDataset(tmp_path / "out", classes=DOTA_V1_CLASSES)
    for key in ("polygons", "labels", "difficult"):
        np.testing.assert_array_equal(back[0].targets[key], ds[0].targets[key])
    assert back[0].meta["gsd"] == 0.25 and back[0].meta["imagesource"] == "GoogleEarth"


def test_task1_round_trip(tmp_path):
    classes = ["plane", "ship", "harbor"]
    rboxes = np.array([[50, 50, 40, 20, 0.3], [10, 10, 8, 4, -1.0], [70, 20, 30, 10, 1.2]])
    dets = {
        "P0001": Detections([0, 1, 0], [0.5, 0.9, 0.75], rboxes=rboxes),
        "P0002": Detections([1], [0.1], boxes=[[1, 2, 11, 12]]),
    }
    files = write_task1(tmp_path, dets, classes)
    assert [f.name for f in files] == ["Task1_plane.txt", "Task1_ship.txt", "Task1_harbor.txt"]
    assert (tmp_path / "Task1_harbor.txt").read_text() == ""
    plane_lines = (tmp_path / "Task1_plane.txt").read_text().splitlines()
    assert [line.split()[:2] for line in plane_lines] == [["P0001", "0.75"], ["P0001", "0.5"]]  # by score
    back, names = read_task1(tmp_path, classes)
    assert names == classes and sorted(back) == ["P0001", "P0002"]
    got = back["P0001"]
    np.testing.assert_array_equal(np.sort(got.scores), np.sort(dets["P0001"].scores))
    for i in range(3):
        j = np.flatnonzero(got.scores == dets["P0001"].scores[i])[0]
        assert got.labels[j] == dets["P0001"].labels[i]
        np.testing.assert_allclose(got.polygons[j], dets["P0001"].as_polygons()[i], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(back["P0002"].polygons, [[1, 2, 11, 2, 11, 12, 1, 12]])


def test_task1_reader_errors(tmp_path):
    (tmp_path / "Task1_plane.txt").write_text("P1 0.9 1 2 3 4 5 6 7\n")
    with pytest.raises(AnnotationError, match="Task1_plane.txt:1: expected"):
        read_task1(tmp_path)
    (tmp_path / "Task1_plane.txt").write_text("P1 0.9 1 2 3 4 5 6 7 8\n")
    with pytest.raises(AnnotationError, match="unknown class 'plane'"):
        read_task1(tmp_path, ["ship"])
    back, names = read_task1(tmp_path)
    assert names == ["plane"] and len(back["P1"]) == 1
