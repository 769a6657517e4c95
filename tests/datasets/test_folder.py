"""Image-folder classification datasets, named RSICD splits of AID, split files, stratified splits."""

import numpy as np
import pytest
from PIL import Image

from rsvision.datasets.base import stratified_split
from rsvision.datasets.folder import FolderDataset, is_band_folder, list_folder_images
from rsvision.errors import AnnotationError, AnnotationWarning


def test_aid_layout(shared):
    root = shared("AID")
    ds = FolderDataset(root)
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    assert ds.classes == tuple(folders) and len(folders) == 30
    assert len(ds) == len(list(root.glob("*/*.jpg"))) == 10000  # README
    counts = np.bincount([s.targets["label"] for s in ds])
    assert counts.tolist() == [len(list((root / c).glob("*.jpg"))) for c in folders]


@pytest.mark.parametrize("split, expected", [("rsicd-train", 8973), ("rsicd-test", 1027)])  # README
def test_aid_rsicd_splits(shared, split, expected):
    root = shared("AID")
    precomp = shared("captions", "rsicd_precomp")
    names = set((precomp / f"{split[6:]}_filename.txt").read_text().split())
    with pytest.warns(AnnotationWarning, match=f"{len(names) - expected} names of"):
        ds = FolderDataset(root, split=split)
    assert len(ds) == expected and {s.image.name for s in ds} <= names
    assert ds.split == split


def test_split_file_and_wrapper_folder(tmp_path):
    base = tmp_path / "UCMerced_LandUse" / "Images"
    for cls, n in (("beach", 3), ("forest", 2)):
        (base / cls).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (4, 4), (i, 0, 0)).save(base / cls / f"{cls}{i:02d}.png")
    ds = FolderDataset(tmp_path)
    assert ds.classes == ("beach", "forest") and len(ds) == 5
    assert ds.load_image(ds[0]).shape == (3, 4, 4)
    (tmp_path / "val.txt").write_text("forest/forest01.png\nbeach00.png\nbeach02\nbeach00.png\nmissing.png\n")
    with pytest.warns(AnnotationWarning, match="1 names of val.txt are not images"):
        val = FolderDataset(tmp_path, split="val", split_file=tmp_path / "val.txt")
    assert [s.id for s in val] == ["forest/forest01.png", "beach/beach00.png", "beach/beach02.png"]
    with pytest.raises(AnnotationError, match="unknown split 'val'"):
        FolderDataset(tmp_path, split="val")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnnotationError, match="no class subfolders"):
        FolderDataset(tmp_path / "empty")


def test_stratified_split():
    labels = np.repeat([0, 1, 2], [10, 5, 1])
    a, b = stratified_split(labels, 0.5, seed=0)
    assert np.intersect1d(a, b).size == 0 and np.union1d(a, b).tolist() == list(range(16))
    assert np.bincount(labels[a], minlength=3).tolist() == [5, 3, 1]  # 2.5 and 0.5 round up
    again = stratified_split(labels, 0.5, seed=0)
    assert np.array_equal(a, again[0]) and np.array_equal(b, again[1])
    assert not np.array_equal(a, stratified_split(labels, 0.5, seed=1)[0])


def test_band_folder_or_image_folder(tmp_path):
    bands = tmp_path / "bands"
    bands.mkdir()
    for b in ("B02", "B03"):
        (bands / f"T31_{b}.tif").write_bytes(b"")
    images = tmp_path / "images"
    (images / "cls").mkdir(parents=True)
    (images / "cls" / "x.png").write_bytes(b"")
    assert is_band_folder(bands) and not is_band_folder(images)
    (images / "a_B02.tif").write_bytes(b"")  # a band-like name does not make a folder of classes a scene
    assert not is_band_folder(images)
    (bands / ".hidden").mkdir()
    assert is_band_folder(bands)
    (bands / "T31_TCI.jp2").write_bytes(b"")  # beside band files, as open_scene sees it: left out of the stack
    assert is_band_folder(bands)
    assert [p.name for p in list_folder_images(images)] == ["a_B02.tif", "x.png"]
