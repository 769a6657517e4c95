"""COCO JSON: reader, writer round trip (checked with pycocotools), results files."""

import json

import numpy as np
import pytest
from PIL import Image

from rsvision.datasets.coco import CocoDataset, read_coco_results, write_coco, write_coco_results
from rsvision.datasets.dota import DOTA_V1_CLASSES, DotaDataset
from rsvision.errors import AnnotationError, AnnotationWarning
from rsvision.geometry import Detections


def _coco(tmp_path, annotations, images=None):
    data = {
        "images": images
        or [
            {"id": 7, "file_name": "a.jpg", "width": 100, "height": 80},
            {"id": 9, "file_name": "b.jpg", "width": 50, "height": 50},
        ],
        "annotations": annotations,
        "categories": [{"id": 3, "name": "ship"}, {"id": 1, "name": "plane"}],
    }
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    return path


def test_reader_maps_categories_and_boxes(tmp_path):
    path = _coco(
        tmp_path,
        [
            {"id": 1, "image_id": 7, "category_id": 3, "bbox": [10, 20, 30, 40], "area": 1000, "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 1, "bbox": [90, 70, 20, 20], "iscrowd": 1},
        ],
    )
    with pytest.warns(AnnotationWarning, match="1 boxes reached outside the image"):
        ds = CocoDataset(path)
    assert ds.classes == ("plane", "ship") and ds.category_ids == [1, 3]
    a, b = ds.samples
    np.testing.assert_array_equal(a.targets["boxes"], [[10, 20, 40, 60], [90, 70, 100, 80]])
    assert a.targets["labels"].tolist() == [1, 0] and a.targets["iscrowd"].tolist() == [False, True]
    assert a.targets["area"].tolist() == [1000, 400]
    assert len(b.targets["labels"]) == 0 and a.meta["image_id"] == 7 and a.id == "a"
    assert ds.coco["categories"][0]["name"] == "ship"


@pytest.mark.parametrize(
    "ann, message",
    [
        ({"id": 5, "image_id": 7, "category_id": 3, "bbox": [1, 2, -1, 4]}, "annotation id 5: bbox .* has a negative"),
        ({"id": 5, "image_id": 7, "category_id": 4, "bbox": [1, 2, 3, 4]}, "annotation id 5: unknown category_id 4"),
        (
            {"id": 5, "image_id": 8, "category_id": 3, "bbox": [1, 2, 3, 4]},
            "1 annotations name an image id not in 'images'",
        ),
        (
            {"id": 5, "image_id": 7, "category_id": 3, "bbox": [1, 2, 3]},
            r"annotation id 5: bbox must be \[x, y, w, h\]",
        ),
    ],
)
def test_reader_errors(tmp_path, ann, message):
    with pytest.raises(AnnotationError, match=message):
        CocoDataset(_coco(tmp_path, [ann]))


def test_boxes_without_area_are_dropped_and_counted(tmp_path):
    anns = [
        {"id": 1, "image_id": 7, "category_id": 3, "bbox": [1, 2, 0, 4]},  # zero width
        {"id": 2, "image_id": 7, "category_id": 1, "bbox": [120, 2, 5, 4]},  # wholly right of the 100 px image
        {"id": 3, "image_id": 7, "category_id": 1, "bbox": [90, 2, 20, 4]},  # clipped to x 90..100
    ]
    with pytest.warns(AnnotationWarning) as rec:
        ds = CocoDataset(_coco(tmp_path, anns))
    assert ds.issues == {"no_area": 2, "clipped": 1}
    assert sum("2 boxes had no area in the image" in str(w.message) for w in rec) == 1
    t = ds[0].targets
    np.testing.assert_array_equal(t["boxes"], [[90, 2, 100, 6]])
    assert t["labels"].tolist() == [ds.classes.index("plane")] and len(t["iscrowd"]) == len(t["area"]) == 1


def test_round_trip_through_the_writer_and_pycocotools(tmp_path):
    pycocotools = pytest.importorskip("pycocotools.coco")
    path = _coco(
        tmp_path,
        [
            {"id": 1, "image_id": 7, "category_id": 3, "bbox": [10, 20, 30, 40], "area": 1200, "iscrowd": 0},
            {"id": 2, "image_id": 9, "category_id": 1, "bbox": [1.5, 2.5, 3, 4], "area": 12, "iscrowd": 1},
        ],
    )
    ds = CocoDataset(path)
    out = write_coco(tmp_path / "out.json", ds, category_ids=ds.category_ids)
    back = CocoDataset(out)
    assert back.classes == ds.classes and back.category_ids == ds.category_ids
    for s, t in zip(ds, back):
        assert s.meta == t.meta
        for key in ("boxes", "labels", "iscrowd", "area"):
            np.testing.assert_array_equal(s.targets[key], t.targets[key])
    coco = pycocotools.COCO(str(out))
    assert sorted(coco.getImgIds()) == [7, 9] and len(coco.getAnnIds()) == 2
    assert coco.loadAnns(coco.getAnnIds(imgIds=[9]))[0]["bbox"] == [1.5, 2.5, 3, 4]


def test_rotated_sources_are_written_as_envelopes_with_segmentation(tmp_path):
    (tmp_path / "labelTxt").mkdir()
    (tmp_path / "images").mkdir()
    Image.new("RGB", (64, 48)).save(tmp_path / "images" / "p.png")
    (tmp_path / "labelTxt" / "p.txt").write_text("10 5 30 15 25 25 5 15 ship 0\n")
    ds = DotaDataset(tmp_path, classes=DOTA_V1_CLASSES)
    out = write_coco(tmp_path / "dota.json", ds)
    data = json.loads(out.read_text())
    assert data["images"] == [{"id": 1, "file_name": "p.png", "width": 64, "height": 48}]
    (ann,) = data["annotations"]
    assert ann["bbox"] == [5, 5, 25, 20] and ann["segmentation"] == [[10, 5, 30, 15, 25, 25, 5, 15]]
    assert ann["category_id"] == DOTA_V1_CLASSES.index("ship") + 1
    assert ann["area"] == pytest.approx(250.0)  # shoelace area of the quadrilateral


def test_results_round_trip(tmp_path):
    ds = CocoDataset(_coco(tmp_path, []))
    dets = {"a": Detections([0, 1], [0.9, 0.4], boxes=[[0, 0, 10, 5], [1, 1, 2, 2]])}
    out = write_coco_results(tmp_path / "res.json", dets, {s.id: s.meta["image_id"] for s in ds}, ds.category_ids)
    rows = json.loads(out.read_text())
    assert rows[0] == {"image_id": 7, "category_id": 1, "bbox": [0, 0, 10, 5], "score": 0.9}
    back = read_coco_results(out, ds)
    np.testing.assert_array_equal(back["a"].boxes, dets["a"].boxes)
    assert back["a"].labels.tolist() == [0, 1]
    raw = read_coco_results(out)
    assert raw[7].labels.tolist() == [1, 3]
    out.write_text(json.dumps([{"image_id": 99, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}]))
    with pytest.raises(AnnotationError, match="image_id 99 is not in the annotation file"):
        read_coco_results(out, ds)
