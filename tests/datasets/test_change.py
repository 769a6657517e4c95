"""Change triplets (LEVIR-CD, DSIFN samples; generated CDD), SECOND (generated) and OSCD."""

import warnings

import numpy as np
import pytest
import rasterio
from PIL import Image

from rsvision.datasets import guess_format, open_dataset
from rsvision.datasets.change import FROM_TO_CLASSES, OscdDataset, SecondDataset, TripletDataset
from rsvision.errors import AnnotationError, AnnotationWarning


@pytest.mark.parametrize("folder", ["samples_LEVIR", "samples_DSIFN"])
def test_real_triplets(shared, folder):
    root = shared("change_samples", folder)
    listed = (root / "list" / "demo.txt").read_text().split()
    ds = TripletDataset(root, split="demo")
    assert [s.id + ".png" for s in ds] == listed and len(ds) == 5
    assert len(TripletDataset(root)) == len(list((root / "A").glob("*.png")))
    for s in ds:
        a, b = s.image
        assert a.parent.name == "A" and b.parent.name == "B" and a.name == b.name
        mask = ds.load_mask(s)
        raw = np.asarray(Image.open(s.targets["mask"]))
        assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
        assert int(mask.sum()) == int((raw == 255).sum())
        assert ds.load_image(s, 1).shape == (3, 256, 256)


def test_triplet_errors_and_grey_labels(tmp_path):
    for d in ("A", "B", "label"):
        (tmp_path / d).mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "A" / "x.png")
    with pytest.raises(AnnotationError, match="x: missing from A/ or B/"):
        TripletDataset(tmp_path)
    Image.new("RGB", (4, 4)).save(tmp_path / "B" / "x.png")
    with pytest.raises(AnnotationError, match="x: no label in"):
        TripletDataset(tmp_path)
    Image.fromarray(np.array([[0, 255, 200, 10]] * 4, dtype=np.uint8)).save(tmp_path / "label" / "x.png")
    ds = TripletDataset(tmp_path)
    with pytest.warns(AnnotationWarning, match="8 label pixels are neither 0 nor 255"):
        mask = ds.load_mask(ds[0])
    assert mask[0].tolist() == [0, 1, 1, 0]
    with pytest.raises(Exception, match="no split 'val'"):
        TripletDataset(tmp_path, split="val")


def test_oscd(shared):
    root = shared("oscd")
    cities = (root / "images" / "train.txt").read_text().strip().split(",")
    ds = OscdDataset(root, split="train")
    assert [s.id for s in ds] == cities and len(ds) == 10
    for s in ds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(s.targets["mask"]) as src:
                raw = src.read(1)
        mask = ds.load_mask(s)
        assert set(np.unique(raw)) == {1, 2}  # README: 1 = no change, 2 = change
        assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
        assert int(mask.sum()) == int((raw == 2).sum())
        assert s.meta["date_1"] < s.meta["date_2"]
        assert len(list(s.image[0].glob("*.tif"))) == len(list(s.image[1].glob("*.tif"))) == 13


def test_oscd_pixels_on_the_older_grid(shared):
    root = shared("oscd")
    ds = OscdDataset(root, cities=["abudhabi"])  # the newer date is on a slightly different grid
    (s,) = ds.samples
    before, after, mask = ds.load_image(s, 0), ds.load_image(s, 1), ds.load_mask(s)
    assert before.shape == after.shape == (13, *mask.shape)


def test_oscd_pairs_coregistered_by_their_pixels(shared):
    """Beihai's two dates share one grid but are misregistered by about 0.8 px (by image correlation alone);
    co-registered, its second date correlates better with the first and the shift is recorded."""
    root = shared("oscd")
    plain, moved = OscdDataset(root, cities=["beihai"]), OscdDataset(root, cities=["beihai"], coregister=True)
    first = np.ma.getdata(plain.load_image(plain[0], 0))[3].astype(float)  # B04
    correlations = [
        np.corrcoef(first.ravel(), np.ma.getdata(d.load_image(d[0], 1))[3].astype(float).ravel())[0, 1]
        for d in (plain, moved)
    ]
    assert plain.shifts == {} and moved.shifts["beihai"].dx > 0.5 and moved.shifts["beihai"].dy > 0.5
    assert correlations[1] > correlations[0] + 0.02


def test_oscd_label_values_are_checked(tmp_path):
    (tmp_path / "images" / "c" / "imgs_1").mkdir(parents=True)
    (tmp_path / "images" / "c" / "imgs_2").mkdir(parents=True)
    (tmp_path / "labels" / "c" / "cm").mkdir(parents=True)
    path = tmp_path / "labels" / "c" / "cm" / "c-cm.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="GTiff", width=3, height=2, count=1, dtype="uint8") as dst:
            dst.write(np.array([[[0, 1, 1], [1, 2, 1]]], dtype=np.uint8))
    ds = OscdDataset(tmp_path)
    assert ds[0].id == "c"
    with pytest.raises(AnnotationError, match=r"c-cm.tif: label values \[0\] are neither 1 \(no change\) nor 2"):
        ds.load_mask(ds[0])


def test_cdd_layout(tmp_path, make_change_layout):
    root = make_change_layout(tmp_path / "cdd", "cdd")
    assert guess_format(root) == "triplets"
    ds = open_dataset(root)  # every split subfolder of subset/, the ids prefixed by the split
    assert [s.id for s in ds] == ["train/00000", "train/00001", "test/00000", "test/00001"]
    test = TripletDataset(root, split="test")
    assert [s.id for s in test] == ["00000", "00001"]
    for s in test:
        a, b = s.image
        assert (a.parent.name, b.parent.name, s.targets["mask"].parent.name) == ("A", "B", "OUT")
        raw = np.asarray(Image.open(s.targets["mask"]))
        np.testing.assert_array_equal(test.load_mask(s), raw // 255)
    assert len(TripletDataset(root / "subset" / "train")) == 2


def test_second_layout(tmp_path, make_change_layout):
    root = make_change_layout(tmp_path / "second", "second")
    assert guess_format(root) == "second" and guess_format(root / "train") == "second"
    ds = open_dataset(root, split="train")
    assert isinstance(ds, SecondDataset) and [s.id for s in ds] == ["00000", "00001"]
    s = ds[0]
    assert [p.parent.name for p in (*s.image, s.targets["mask"], s.targets["mask2"])] == [
        "im1",
        "im2",
        "label1",
        "label2",
    ]
    label1 = np.asarray(Image.open(s.targets["mask"]))
    truth = (label1 != 255).any(-1)
    assert truth[0, 0] and 1 < truth.sum() < truth.size
    np.testing.assert_array_equal(ds.load_mask(s), truth.astype(np.uint8))
    expected = np.where(truth, 1 + 4 * 6 + 3, 0)  # building (4) -> water (3)
    expected[0, 0] = 1 + 0 * 6 + 5  # low vegetation (0) -> playground (5)
    np.testing.assert_array_equal(ds.load_from_to(s), expected)
    before, after = ds.load_semantic(s, 0), ds.load_semantic(s, 1)
    assert before[0, 0] == 0 and after[0, 0] == 5 and (before[~truth] == 255).all() and (after[~truth] == 255).all()
    names = ds.from_to_classes()
    assert names is FROM_TO_CLASSES and len(names) == 37 and names[0] == "no change"
    assert names[28] == "building -> water" and names[6] == "low vegetation -> playground"


def test_second_unknown_colour_and_disagreeing_dates(tmp_path, make_change_layout):
    root = make_change_layout(tmp_path / "second", "second")
    label = root / "test" / "label1" / "00000.png"
    arr = np.asarray(Image.open(label)).copy()
    arr[1, 2] = (1, 2, 3)
    arr[3, 3] = (4, 5, 6)
    Image.fromarray(arr).save(label)
    ds = SecondDataset(root, split="test")
    with pytest.raises(AnnotationError, match=r"00000.png: colour \(1, 2, 3\) at x=2, y=1 is not a SECOND class"):
        ds.load_mask(ds[0])
    label2 = root / "test" / "label2" / "00001.png"
    arr = np.asarray(Image.open(label2)).copy()
    arr[0, 0] = (255, 255, 255)
    Image.fromarray(arr).save(label2)
    with pytest.raises(AnnotationError, match="one date says change and the other not at x=0, y=0"):
        ds.load_from_to(ds[1])


def test_a_folder_without_both_dates_names_every_accepted_folder(tmp_path):
    """A SECOND folder with im1/ but no im2/ is told the names it can use, SECOND's among them."""
    (tmp_path / "im1").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "im1" / "00000.png")
    with pytest.raises(AnnotationError, match=r"needs one of A/, .*im1/.* and one of B/, .*im2/"):
        SecondDataset(tmp_path)
