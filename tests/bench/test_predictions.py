"""Readers of prediction files: classification CSV, JSON records, similarity matrices, mask folders."""

import numpy as np
import pytest
from PIL import Image

from rsvision.bench.predictions import (
    is_box,
    is_text,
    list_masks,
    read_binary_mask,
    read_classification_csv,
    read_label_mask,
    read_records,
    read_similarity,
)
from rsvision.errors import AnnotationError, InputNotFoundError


def test_classification_csv(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("path,class,score,top5\nA/a.jpg,beach,0.9,beach:0.9;port:0.05\n\nb.jpg,port,0.5,\n")
    rows = read_classification_csv(p)
    assert [(r.path, r.label, r.top5, r.line) for r in rows] == [
        ("A/a.jpg", "beach", ["beach", "port"], 2),
        ("b.jpg", "port", None, 4),
    ]
    p.write_text("path,class\nweird:name.jpg,a\n")
    assert read_classification_csv(p)[0].top5 is None
    with pytest.raises(InputNotFoundError, match="no such predictions CSV"):
        read_classification_csv(tmp_path / "none.csv")


@pytest.mark.parametrize(
    "text, message",
    [
        ("image,label\na.jpg,x\n", "needs 'path' and 'class' columns"),
        ("path,class\na.jpg,\n", "p.csv:2: empty path or class"),
        ("path,class,score,top5\na.jpg,x,1,x-0.5\n", "p.csv:2: top5 must be 'class:score;"),
        ("path,class\n", "no prediction rows"),
    ],
)
def test_classification_csv_errors(tmp_path, text, message):
    p = tmp_path / "p.csv"
    p.write_text(text)
    with pytest.raises(AnnotationError, match=message):
        read_classification_csv(p)


def test_records(tmp_path):
    p = tmp_path / "r.json"
    fields = {"id": (is_text, "text"), "box": (is_box, "a box")}
    p.write_text('[{"id": "a", "box": [0, 0, 1, 2]}]')
    assert read_records(p, fields) == [{"id": "a", "box": [0, 0, 1, 2]}]
    for text, message in [
        ("{", "not valid JSON"),
        ('{"id": 1}', "expected a JSON list"),
        ("[]", "no predictions"),
        ('[{"id": "a"}]', "item 0 lacks 'box'"),
        ("[3]", "item 0 is not an object"),
        ('[{"id": "a", "box": [2, 0, 1, 1]}]', "item 0: 'box' must be a box"),
    ]:
        p.write_text(text)
        with pytest.raises(AnnotationError, match=message):
            read_records(p, fields)


def test_similarity(tmp_path):
    np.save(tmp_path / "s.npy", np.eye(2, 4, dtype=np.float32))
    assert read_similarity(tmp_path / "s.npy").shape == (2, 4)
    np.save(tmp_path / "s.npy", np.ones(3))
    with pytest.raises(AnnotationError, match="expected a 2-D numeric"):
        read_similarity(tmp_path / "s.npy")
    np.save(tmp_path / "s.npy", np.array([[np.nan]]))
    with pytest.raises(AnnotationError, match="NaN"):
        read_similarity(tmp_path / "s.npy")
    (tmp_path / "s.npy").write_text("text")
    with pytest.raises(AnnotationError, match="not a .npy array"):
        read_similarity(tmp_path / "s.npy")


def test_masks(tmp_path):
    (tmp_path / "Tile 1").mkdir()
    Image.fromarray(np.array([[0, 255], [255, 0]], np.uint8)).save(tmp_path / "Tile 1" / "m.png")
    Image.fromarray(np.array([[0, 1], [1, 7]], np.uint8)).save(tmp_path / "n.png")
    (tmp_path / "notes.txt").write_text("not a mask")
    files = list_masks(tmp_path)
    assert list(files) == [("Tile 1", "m"), ("n",)]
    np.testing.assert_array_equal(read_binary_mask(files[("Tile 1", "m")]), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(read_label_mask(files[("n",)]), [[0, 1], [1, 7]])
    with pytest.raises(AnnotationError, match=r"n.png: a change mask holds 0/1 or 0/255, this one holds \[0, 1, 7\]"):
        read_binary_mask(files[("n",)])
    Image.new("RGB", (2, 2)).save(tmp_path / "rgb.png")
    with pytest.raises(AnnotationError, match="one band of class indices, this one has 3"):
        read_label_mask(tmp_path / "rgb.png")
    Image.new("L", (2, 2)).save(tmp_path / "n.tif")
    with pytest.raises(AnnotationError, match="n.png and n.tif predict the same sample n"):
        list_masks(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnnotationError, match="no mask images"):
        list_masks(tmp_path / "empty")
