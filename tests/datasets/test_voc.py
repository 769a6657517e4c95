"""Pascal VOC (NEON trees), DIOR-R and HRSC2016 XML readers."""

import math
import re

import numpy as np
import pytest
from PIL import Image

from rsvision.datasets.voc import DiorRDataset, HrscDataset, VocDataset
from rsvision.errors import AnnotationError, AnnotationWarning


def _regex_boxes(path):
    """Independent reading of VOC boxes with a regular expression."""
    text = path.read_text()
    pattern = r"<xmin>([\d.]+)</xmin>\s*<ymin>([\d.]+)</ymin>\s*<xmax>([\d.]+)</xmax>\s*<ymax>([\d.]+)</ymax>"
    return np.array(re.findall(pattern, text), dtype=float), text.count("<object>")


def test_neon_trees(shared):
    root = shared("neon_trees")
    ds = VocDataset(root, classes=["Tree"])
    assert ds.issues == {}
    counts = {}
    for s in ds:
        boxes, n_objects = _regex_boxes(s.meta["annotation"])
        np.testing.assert_array_equal(s.targets["boxes"], boxes)
        counts[s.id] = len(s.targets["labels"])
        assert n_objects == len(boxes)
        with Image.open(s.image) as im:
            assert (s.meta["width"], s.meta["height"]) == im.size
    assert sorted(counts.values()) == [279, 574]  # README
    assert ds.classes == ("Tree",)


def test_dior_r_sample(shared):
    root = shared("format_samples", "dior")
    ds = DiorRDataset(root)
    (s,) = ds.samples
    assert ds.classes == ("golffield",) and s.image.name == "00001.jpg"
    np.testing.assert_array_equal(s.targets["polygons"], [[133, 237, 684, 237, 684, 672, 133, 672]])
    np.testing.assert_allclose(s.targets["rboxes"], [[408.5, 454.5, 551, 435, 0]], atol=1e-9)
    np.testing.assert_array_equal(s.targets["boxes"], [[133, 237, 684, 672]])
    split = DiorRDataset(root, split_file=root / "demo.txt")
    assert [x.id for x in split] == ["00001"]


def test_hrsc_sample(shared):
    root = shared("format_samples", "hrsc")
    with pytest.warns(AnnotationWarning, match="no image"):
        ds = HrscDataset(root, split="demo")
    (s,) = ds.samples
    text = (root / "FullDataSet" / "Annotations" / "100000006.xml").read_text()
    mbox = [float(re.search(f"<mbox_{k}>([-\\d.]+)<", text).group(1)) for k in ("cx", "cy", "w", "h", "ang")]
    np.testing.assert_array_equal(s.targets["rboxes"][0], mbox)  # already le90: w >= h, angle in [-pi/2, pi/2)
    assert s.targets["class_ids"].tolist() == [100000013] and ds.classes == ("ship",)
    assert (s.meta["width"], s.meta["height"]) == (1172, 816)
    # the bow (header_x, header_y) lies at one end of the long axis: the angle turns clockwise with y down
    cx, cy, w, h, a = mbox
    ends = [(cx + sgn * w / 2 * math.cos(a), cy + sgn * w / 2 * math.sin(a)) for sgn in (1, -1)]
    assert min(math.dist(e, (143, 776)) for e in ends) < h / 2 + 5


def _voc(objects, size=(100, 80)):
    body = "".join(
        f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for n, d, b in objects
    )
    size_xml = f"<size><width>{size[0]}</width><height>{size[1]}</height></size>"
    return f"<annotation><filename>a.jpg</filename>{size_xml}{body}</annotation>"


def test_generated_voc_split_clip_and_difficult(tmp_path):
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "ImageSets" / "Main").mkdir(parents=True)
    (tmp_path / "Annotations" / "a.xml").write_text(
        _voc([("car", 0, (10, 10, 50, 40)), ("ship", 1, (90, 70, 120, 90))])
    )
    (tmp_path / "Annotations" / "b.xml").write_text(_voc([]))
    (tmp_path / "ImageSets" / "Main" / "test.txt").write_text("a\n")
    with pytest.warns(AnnotationWarning) as rec:
        ds = VocDataset(tmp_path, split="test")
    messages = sorted(str(w.message) for w in rec)
    assert any("1 boxes reached outside the image" in m for m in messages)
    assert any("1 annotation files have no image" in m for m in messages)
    (s,) = ds.samples
    assert ds.classes == ("car", "ship")
    np.testing.assert_array_equal(s.targets["boxes"], [[10, 10, 50, 40], [90, 70, 100, 80]])
    assert s.targets["difficult"].tolist() == [False, True]


@pytest.mark.parametrize(
    "objects, classes, message",
    [
        ([("car", 0, (50, 10, 10, 40))], None, "a.xml: object 1: degenerate box"),
        ([("tank", 0, (10, 10, 20, 20))], ["car"], "a.xml: object 1: unknown class 'tank'"),
        ([("car", 0, (10, "ten", 20, 20))], None, "a.xml: <ymin> is not a number"),
    ],
)
def test_generated_voc_errors(tmp_path, objects, classes, message):
    (tmp_path / "a.xml").write_text(_voc(objects))
    with pytest.raises(AnnotationError, match=message):
        VocDataset(tmp_path, classes=classes)


def test_boxes_without_area_are_dropped_and_counted(tmp_path):
    objects = [("car", 0, (150, 10, 160, 40)), ("car", 0, (20, 10, 20, 40)), ("ship", 0, (10, 10, 30, 40))]
    (tmp_path / "a.xml").write_text(_voc(objects))
    with pytest.warns(AnnotationWarning, match="2 boxes had no area in the image .* dropped .*a.xml: object 1"):
        ds = VocDataset(tmp_path)
    assert ds.issues["no_area"] == 2
    (s,) = ds.samples
    np.testing.assert_array_equal(s.targets["boxes"], [[10, 10, 30, 40]])
    assert [ds.classes[i] for i in s.targets["labels"]] == ["ship"] and s.targets["difficult"].tolist() == [False]


def test_wrong_root_element_and_empty_file(tmp_path):
    (tmp_path / "a.xml").write_text("<HRSC_Image/>")
    with pytest.raises(AnnotationError, match="expected <annotation>"):
        VocDataset(tmp_path)
    (tmp_path / "a.xml").write_text("")
    with pytest.raises(AnnotationError, match="a.xml: empty XML file"):
        VocDataset(tmp_path)


def test_dior_class_spelling_is_matched_case_insensitively(tmp_path):
    xml = (
        _voc([("expressway-service-area", 0, (1, 1, 5, 5))])
        .replace("<bndbox>", "<robndbox>")
        .replace("</bndbox>", "</robndbox>")
    )
    xml = xml.replace(
        "<xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax>",
        "".join(
            f"<{k}>{v}</{k}>"
            for k, v in zip(
                (
                    "x_left_top",
                    "y_left_top",
                    "x_right_top",
                    "y_right_top",
                    "x_right_bottom",
                    "y_right_bottom",
                    "x_left_bottom",
                    "y_left_bottom",
                ),
                (1, 1, 5, 1, 5, 5, 1, 5),
            )
        ),
    )
    (tmp_path / "a.xml").write_text(xml)
    Image.new("RGB", (100, 80)).save(tmp_path / "a.jpg")
    ds = DiorRDataset(tmp_path, classes=["airplane", "Expressway-Service-area"])
    assert ds[0].targets["labels"].tolist() == [1]
