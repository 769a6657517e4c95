"""Named datasets, format guessing and open_dataset."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rsvision.datasets import registry
from rsvision.datasets.registry import FORMATS, REGISTRY, guess_format, open_dataset
from rsvision.errors import AnnotationError, AnnotationWarning, InputNotFoundError

DESIGN_FORMATS = [
    "folder", "voc", "dior-r", "hrsc", "dota", "yolo", "yolo-obb", "coco", "oscd", "triplets", "color-mask",
    "index-mask", "rsicd", "rsvqa", "rsvg",
]  # fmt: skip


def test_every_design_format_has_a_reader():
    assert set(DESIGN_FORMATS) <= set(FORMATS)
    assert all(info.format in FORMATS for info in REGISTRY.values())


@pytest.mark.parametrize(
    "parts, expected",
    [
        (("AID",), "folder"),
        (("dota", "dota8"), "yolo-obb"),
        (("dota", "devkit_example"), "dota"),
        (("format_samples", "dota_crop"), "dota"),
        (("format_samples", "dior"), "dior-r"),
        (("format_samples", "hrsc"), "hrsc"),
        (("format_samples", "rsvg"), "rsvg"),
        (("neon_trees",), "voc"),
        (("change_samples", "samples_LEVIR"), "triplets"),
        (("oscd",), "oscd"),
        (("dubai_segmentation",), "color-mask"),
        (("captions", "rsicd_precomp"), "rsicd"),
    ],
)
def test_guess_real_layouts(shared, parts, expected, monkeypatch):
    path = shared(*parts)
    monkeypatch.setenv("RSVISION_DATA", "/nonexistent")  # guess from the files, not from the registry
    assert guess_format(path) == expected


def test_guess_generated_layouts(tmp_path):
    coco = tmp_path / "ann.json"
    coco.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    assert guess_format(coco) == "coco"
    caps = tmp_path / "caps.json"
    caps.write_text(json.dumps({"images": [{"filename": "a.jpg", "sentences": []}]}))
    assert guess_format(caps) == "caption-json"
    yolo = tmp_path / "yolo"
    (yolo / "labels" / "train").mkdir(parents=True)
    (yolo / "images" / "train").mkdir(parents=True)
    (yolo / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    assert guess_format(yolo) == "yolo"
    seg = tmp_path / "seg"
    (seg / "images").mkdir(parents=True)
    (seg / "masks").mkdir()
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(seg / "masks" / "a.png")
    assert guess_format(seg) == "index-mask"
    (tmp_path / "nothing").mkdir()
    with pytest.raises(AnnotationError, match="nothing is an empty folder: no images or annotations"):
        guess_format(tmp_path / "nothing")
    (tmp_path / "nothing" / "notes.txt").write_text("x")
    with pytest.raises(AnnotationError, match="cannot guess the dataset format"):
        guess_format(tmp_path / "nothing")


def test_open_by_name_uses_registered_classes_and_split(shared, monkeypatch):
    root = shared()
    monkeypatch.setenv("RSVISION_DATA", str(root))
    with pytest.warns(AnnotationWarning):
        dota8 = open_dataset("dota8")
    assert dota8.classes[0] == "plane" and len(dota8.classes) == 15
    oscd = open_dataset("oscd")
    assert oscd.split == "train" and len(oscd) == 10
    dubai = open_dataset(root / "dubai_segmentation")  # a registered location gets the registered options
    assert dubai.colors["Water"] == (0xE2, 0xA9, 0x29)
    with pytest.warns(AnnotationWarning):
        rsicd = open_dataset("rsicd")
    assert len(rsicd) == 1027 and rsicd.split == "test"
    with pytest.warns(AnnotationWarning):
        assert len(open_dataset(root / "AID", split="rsicd-train")) == 8973


def test_open_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("RSVISION_DATA", str(tmp_path))
    with pytest.raises(InputNotFoundError, match="dataset 'dota8' is not at"):
        open_dataset("dota8")
    with pytest.raises(InputNotFoundError, match="no such dataset path or name: nope"):
        open_dataset("nope")
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    with pytest.raises(AnnotationError, match="unknown format 'jpeg'"):
        open_dataset(tmp_path, format="jpeg")
    with pytest.raises(AnnotationError, match="format 'triplets' takes no option 'classes'"):
        open_dataset(tmp_path, format="triplets", classes=["a"])


def test_data_root_from_an_argument_or_the_environment_only(monkeypatch, tmp_path):
    monkeypatch.setenv("RSVISION_DATA", str(tmp_path))
    assert registry.data_root() == tmp_path and registry.data_root("/x") == Path("/x")
    assert registry.dataset_path("aid") == tmp_path / "AID"
    monkeypatch.delenv("RSVISION_DATA")
    assert registry.data_root() is None
    with pytest.raises(InputNotFoundError, match="no data root is set: set RSVISION_DATA"):
        open_dataset("dota8")


def test_a_registered_layout_is_known_by_its_path_without_a_data_root(shared, monkeypatch):
    monkeypatch.delenv("RSVISION_DATA", raising=False)
    dubai = open_dataset(shared("dubai_segmentation"))  # the mask colours that differ from classes.json
    assert dubai.colors["Water"] == (0xE2, 0xA9, 0x29)
    with pytest.warns(AnnotationWarning):
        rsicd = open_dataset(shared("captions", "rsicd_precomp"))  # its images found beside it, in AID/
    assert len(rsicd) == 1027
