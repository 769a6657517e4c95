"""RSICD precomp captions joined to AID images, and the Karpathy-style caption JSON."""

import json

import pytest
from PIL import Image

from rsvision.datasets.captions import CaptionJsonDataset, RsicdDataset, read_rsicd_precomp
from rsvision.errors import AnnotationError, AnnotationWarning


def _aid_names(aid):
    return {p.name for p in aid.glob("*/*.jpg")}


@pytest.mark.parametrize("split, expected", [("train", 8973), ("test", 1027)])  # README
def test_rsicd_on_aid(shared, split, expected):
    precomp = shared("captions", "rsicd_precomp")
    aid = shared("AID")
    names = (precomp / f"{split}_filename.txt").read_text().split()
    caps = (precomp / f"{split}_caps.txt").read_text().splitlines()
    available = set(names) & _aid_names(aid)
    assert len(available) == expected
    with pytest.warns(
        AnnotationWarning, match=f"{len(set(names)) - expected} captioned images are not in the image folder"
    ):
        ds = RsicdDataset(precomp, split=split, images=aid)
    assert len(ds) == expected and {s.id for s in ds} == available
    assert all(len(s.targets["captions"]) == 5 for s in ds)
    by_name = dict(read_rsicd_precomp(precomp, split))
    assert len(by_name) == len(caps) // 5
    first = ds[0]
    if len(names) == len(caps):  # test layout: one name line per caption line
        lines = [c for n, c in zip(names, caps) if n == first.id]
    else:  # train layout: caption line i belongs to name i // 5
        i = names.index(first.id)
        lines = caps[5 * i : 5 * i + 5]
    assert first.targets["captions"] == lines
    assert first.targets["tokens"][0] == lines[0].split()
    assert first.image.parent.parent == aid


def test_rsicd_from_the_image_folder(shared):
    aid = shared("AID")
    shared("captions", "rsicd_precomp")
    with pytest.warns(AnnotationWarning):
        ds = RsicdDataset(aid, split="rsicd-test")
    assert len(ds) == 1027


def test_precomp_layout_mismatch(tmp_path):
    (tmp_path / "train_filename.txt").write_text("a.jpg\nb.jpg\n")
    (tmp_path / "train_caps.txt").write_text("one\ntwo\nthree\n")
    with pytest.raises(AnnotationError, match="3 caption lines do not fit the 2 names"):
        read_rsicd_precomp(tmp_path, "train")


def test_karpathy_json(tmp_path):
    (tmp_path / "imgs").mkdir()
    for name in ("a.jpg", "b.jpg"):
        Image.new("RGB", (4, 4)).save(tmp_path / "imgs" / name)
    data = {
        "images": [
            {"filename": "a.jpg", "split": "train", "sentences": [{"raw": "A plane .", "tokens": ["a", "plane"]}]},
            {
                "filename": "b.jpg",
                "split": "test",
                "sentences": [{"raw": "Two ships .", "tokens": ["two", "ships"]}, {"raw": "Ships ."}],
            },
            {"filename": "c.jpg", "split": "test", "sentences": [{"raw": "Gone ."}]},
        ],
        "dataset": "rsicd",
    }
    path = tmp_path / "dataset_rsicd.json"
    path.write_text(json.dumps(data))
    with pytest.warns(AnnotationWarning, match="1 captioned images are missing"):
        ds = CaptionJsonDataset(path, split="test")
    (s,) = ds.samples
    assert s.targets["captions"] == ["Two ships .", "Ships ."] and s.targets["tokens"] == [
        ["two", "ships"],
        ["Ships", "."],
    ]
    with pytest.raises(AnnotationError, match="no images in split 'val'"):
        CaptionJsonDataset(path, split="val")
    path.write_text(json.dumps({"images": [{"filename": "a.jpg"}]}))
    with pytest.raises(AnnotationError, match=r"images\[0\]: needs 'filename' and a 'sentences' list"):
        CaptionJsonDataset(path)
