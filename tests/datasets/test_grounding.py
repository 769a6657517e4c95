"""RSVG / DIOR-RSVG grounding XML."""

import numpy as np
import pytest
from PIL import Image

from rsvision.datasets.grounding import RsvgDataset
from rsvision.errors import AnnotationError


def test_rsvg_sample(shared):
    root = shared("format_samples", "rsvg")
    images = shared("format_samples", "dior", "JPEGImage")
    ds = RsvgDataset(root, images=images)
    (s,) = ds.samples
    assert s.targets["phrase"] == "A green and brown golf field"
    np.testing.assert_array_equal(s.targets["boxes"], [[133, 237, 684, 672]])
    assert ds.classes == ("golffield",) and s.image == images / "00001.jpg"
    assert ds.issues == {}


def _xml(objs):
    body = "".join(
        f"<object><name>{n}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax>"
        f"</bndbox><description>{d}</description></object>"
        for n, b, d in objs
    )
    return (
        f"<annotation><filename>x.jpg</filename><size><width>100</width><height>100</height></size>{body}</annotation>"
    )


def test_split_indices_count_objects_in_numeric_file_order(tmp_path):
    ann = tmp_path / "Annotations"
    ann.mkdir()
    (ann / "10.xml").write_text(_xml([("ship", (1, 1, 5, 5), "third")]))
    (ann / "2.xml").write_text(_xml([("ship", (1, 1, 5, 5), "first"), ("dam", (2, 2, 9, 9), "second")]))
    (tmp_path / "test.txt").write_text("0\n2\n")
    (tmp_path / "JPEGImages").mkdir()
    Image.new("RGB", (100, 100)).save(tmp_path / "JPEGImages" / "x.jpg")
    ds = RsvgDataset(tmp_path, split="test")
    assert [s.targets["phrase"] for s in ds] == ["first", "third"]
    assert [s.id for s in ds] == ["2_0", "10_0"]
    (tmp_path / "bad.txt").write_text("7\n")
    with pytest.raises(AnnotationError, match="object index 7 is beyond the 3 objects"):
        RsvgDataset(tmp_path, split="bad")


def test_missing_description_is_an_error(tmp_path):
    (tmp_path / "1.xml").write_text(_xml([("ship", (1, 1, 5, 5), "x")]).replace("<description>x</description>", ""))
    with pytest.raises(AnnotationError, match="1.xml: <object> lacks <description>"):
        RsvgDataset(tmp_path)
