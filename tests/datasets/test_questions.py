"""RSVQA-style question generators (answers checked against planted masks and boxes), their RSVQA files, and the
train / test builder on tiny Dubai-, NEON- and OSCD-like folders in the real layouts (and on the real Dubai tiles)."""

import json
import re
import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image

from rsvision.datasets.masks import DUBAI_COLORS, parse_color
from rsvision.datasets.questions import (
    COUNT_BINS,
    PRESENCE_MIN_SHARE,
    SHARE_BINS,
    Question,
    box_questions,
    build_vqa_sets,
    change_questions,
    count_bin,
    landcover_noun,
    main,
    mask_questions,
    share_bin,
    write_rsvqa,
)
from rsvision.datasets.voc import write_voc
from rsvision.datasets.vqa import RsvqaDataset
from rsvision.errors import InputNotFoundError, OutputError
from rsvision.io import open_scene

DUBAI = tuple(DUBAI_COLORS)  # Water, Land (unpaved area), Road, Building, Vegetation, Unlabeled
UNLABELED = DUBAI.index("Unlabeled")
S2_ORDER = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
S2_RES = {"B02": 1, "B03": 1, "B04": 1, "B08": 1, "B05": 2, "B06": 2, "B07": 2, "B8A": 2, "B11": 2, "B12": 2}
OSCD_SIDE, OSCD_PIXEL, OSCD_ORIGIN = 264, 1e-4, (54.5, 24.4)


def _planted(counts: dict[int, int], width: int = 100) -> np.ndarray:
    """A mask holding ``counts[class]`` pixels of each class, row by row."""
    values = np.concatenate([np.full(n, c, dtype=np.uint8) for c, n in counts.items()])
    return values.reshape(-1, width)


def _by_text(questions: list[Question]) -> dict[str, Question]:
    return {q.question: q for q in questions}


def _check_comparisons(questions, counts, classes):
    """Every comparison's answer follows the pixel counts of the two classes it names."""
    noun_count = {landcover_noun(c): counts.get(i, 0) for i, c in enumerate(classes) if landcover_noun(c)}
    for q in (q for q in questions if q.type == "comparison"):
        a, b = re.fullmatch(r"(?:is|are) there more (.+) than (.+)\?", q.question).groups()
        assert q.answer == ("yes" if noun_count[a] > noun_count[b] else "no"), q


# ----------------------------------------------------------------------------- generators

PLANTED = {UNLABELED: 10000, 3: 6000, 2: 2000, 4: 1950, 0: 40, 1: 10}  # labelled: 10,000 pixels


def test_mask_questions_follow_the_mask():
    questions = mask_questions(_planted(PLANTED), DUBAI, ignore=UNLABELED)
    q = _by_text(questions)
    assert q["are there buildings?"].answer == "yes" and q["is there road?"].answer == "yes"
    assert q["is there water?"].answer == "no" and q["is there bare land?"].answer == "no"  # 0.4 %, 0.1 %
    # shares of the labelled pixels: the 10,000 Unlabeled ones would halve them
    assert q["what share of the image is buildings?"].answer == "more than 50%"
    assert q["what share of the image is road?"].answer == "between 10% and 25%"
    assert q["what share of the image is water?"].answer == "0%"
    assert q["are there more buildings than vegetation?"].answer == "yes"
    assert q["is there more road than buildings?"].answer == "no"
    # road 20.0 % and vegetation 19.5 %, water 0.4 % and bare land 0.1 %: closer than a point, not compared
    compared = {q.question for q in questions if q.type == "comparison"}
    assert len(compared) == 8 and not any("road than vegetation" in t or "water than bare land" in t for t in compared)
    assert {q.type for q in questions} == {"presence", "area", "comparison"} and len(questions) == 5 + 5 + 8
    assert not any("nlabeled" in q.question for q in questions)
    _check_comparisons(questions, PLANTED, DUBAI)


def test_mask_questions_drawn_order_and_ignore():
    rng = np.random.default_rng(0)
    flipped = [mask_questions(_planted(PLANTED), DUBAI, UNLABELED, rng=rng) for _ in range(8)]
    for questions in flipped:
        _check_comparisons(questions, PLANTED, DUBAI)
    answers = {q.answer for qs in flipped for q in qs if q.type == "comparison"}
    assert answers == {"yes", "no"}
    assert mask_questions(np.full((8, 8), UNLABELED), DUBAI, ignore=UNLABELED) == []
    # without an ignore index the Unlabeled pixels count: buildings are then 30 % of the image
    q = _by_text(mask_questions(_planted(PLANTED), DUBAI))
    assert q["what share of the image is buildings?"].answer == "between 25% and 50%"
    assert landcover_noun("Land (unpaved area)") == "bare land" and landcover_noun("Unlabeled") is None


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, 0), (1, 1), (10, 1), (11, 2), (50, 2), (51, 3), (100, 3), (101, 4)],
)
def test_box_questions_bins(n, expected):
    presence, count = box_questions(n, "trees")
    assert presence == Question("are there trees?", "yes" if n else "no", "presence")
    assert count == Question("how many trees are there?", COUNT_BINS[expected], "count")
    assert count_bin(n) == COUNT_BINS[expected]


def test_change_questions_at_the_threshold():
    mask = np.zeros((100, 100), dtype=np.uint8)
    mask.flat[:49] = 1  # 0.49 %
    changed, share = change_questions(mask)
    assert (changed.type, changed.answer, share.type, share.answer) == ("change", "no", "area", "0%")
    mask.flat[:50] = 1  # 0.5 %: PRESENCE_MIN_SHARE
    assert [q.answer for q in change_questions(mask)] == ["yes", "between 0% and 10%"]
    assert PRESENCE_MIN_SHARE == 0.005
    edges = [share_bin(f) for f in (0.1, 0.1001, 0.25, 0.5, 0.5001)]  # a bin holds its upper end
    assert edges == [SHARE_BINS[1], SHARE_BINS[2], SHARE_BINS[2], SHARE_BINS[3], SHARE_BINS[4]]


# ----------------------------------------------------------------------------- RSVQA files


def test_write_rsvqa_round_trip(tmp_path):
    (tmp_path / "Images").mkdir()
    for name in ("a", "b", "b_before"):
        Image.new("RGB", (4, 4)).save(tmp_path / "Images" / f"{name}.tif")
    items = [("a", box_questions(3)), ("b", change_questions(np.ones((4, 4))))]
    path = write_rsvqa(tmp_path, "rsvision", "val", items, first_id=100)
    assert path.name == "rsvision_split_val_questions.json"
    ds = RsvqaDataset(tmp_path, split="val")
    assert len(ds) == 4 and ds.classes == ("area", "change", "count", "presence")  # no sample for b_before
    assert [s.id for s in ds] == ["100", "101", "102", "103"]
    assert ds[1].targets == {"question": "how many trees are there?", "answer": "between 1 and 10", "type": "count"}
    assert ds[2].targets == {"question": "has anything changed?", "answer": "yes", "type": "change"}
    assert ds[0].image.name == "a.tif" and "before" not in ds[0].meta
    assert ds[3].image.name == "b.tif" and ds[3].meta["before"].name == "b_before.tif"
    images = json.loads((tmp_path / "rsvision_split_val_images.json").read_text())["images"]
    assert images[1]["questions_ids"] == [102, 103]
    with pytest.raises(InputNotFoundError, match="no image for questions"):
        write_rsvqa(tmp_path, "rsvision", "val", [("c", box_questions(1))])


# ----------------------------------------------------------------------------- builder on synthetic layouts


def _dubai_like(root):
    """Tiles 1 and 7, one 512 x 256 image each (two crops): left crop water | buildings, right crop road."""
    classes = [{"title": t, "color": c} for t, c in zip(DUBAI, ("#50E3C2", "#F5A623", "#DE597F", "#D0021B", "#417505"))]
    classes.append({"title": "Unlabeled", "color": "#9B9B9B"})  # the release's wrong colours: DUBAI_COLORS are used
    root.mkdir()
    (root / "classes.json").write_text(json.dumps({"classes": classes}))
    mask = np.zeros((256, 512, 3), dtype=np.uint8)
    mask[:, :128], mask[:, 128:256] = parse_color(DUBAI_COLORS["Water"]), parse_color(DUBAI_COLORS["Building"])
    mask[:, 256:] = parse_color(DUBAI_COLORS["Road"])
    for tile in ("Tile 1", "Tile 7"):
        for sub in ("images", "masks"):
            (root / tile / sub).mkdir(parents=True)
        Image.new("RGB", (512, 256), (90, 80, 70)).save(root / tile / "images" / "image_part_001.jpg")
        Image.fromarray(mask).save(root / tile / "masks" / "image_part_001.png")
    return root


NEON_WIDTH = 2100  # test strip from column 1680: one 400 px crop; train crops at 0, 400, 800, 1200


def _neon_like(root):
    """One 2100 x 400 image: 3 crowns in the first train crop, 12 in the test crop, one between the parts (its
    centre at column 1640, in no crop) and one past the test crop's end."""
    root.mkdir()
    Image.new("RGB", (NEON_WIDTH, 400), (30, 90, 40)).save(root / "yell_crop.jpg")
    centres = [(50, 50), (150, 200), (300, 300)] + [(1700 + 30 * i, 100 + 20 * i) for i in range(12)]
    centres += [(1640, 100), (2090, 100)]
    boxes = [(x - 5, y - 5, x + 5, y + 5) for x, y in centres]
    write_voc(root / "yell_crop.xml", "yell_crop.jpg", (NEON_WIDTH, 400), boxes, ["Tree"] * len(boxes))
    return root


def _band_file(folder, band, value):
    factor = S2_RES.get(band, 6)  # 10, 20 or 60 m
    side = OSCD_SIDE // factor
    transform = Affine.translation(*OSCD_ORIGIN) @ Affine.scale(OSCD_PIXEL * factor, -OSCD_PIXEL * factor)
    profile = dict(driver="GTiff", width=side, height=side, count=1, dtype="uint16", crs="EPSG:4326")
    path = folder / f"S2A_OPER_MSI_L1C_TL_MTI__20160120T104345_T39QZG_{band}.tif"
    with rasterio.open(path, "w", transform=transform, **profile) as dst:
        dst.write(np.full((1, side, side), value, dtype=np.uint16))


def _oscd_like(root):
    """abudhabi (a test city) and paris, 264 px on the 10 m grid (2 x 2 crops of 128), with labels; lasvegas
    without. Change: 10 % of crop (0, 0), none in (0, 128), 60 % of (128, 0)."""
    label = np.ones((OSCD_SIDE, OSCD_SIDE), dtype=np.uint8)
    label[:13, :126] = 2  # 1,638 of 16,384 pixels
    label[128:205, 0:128] = 2  # 9,856
    for city in ("abudhabi", "paris", "lasvegas"):
        for date, value in (("imgs_1", 1000), ("imgs_2", 2000)):
            (root / "images" / city / date).mkdir(parents=True)
            if city != "lasvegas":
                for band in S2_ORDER:
                    _band_file(root / "images" / city / date, band, value)
        if city != "lasvegas":
            (root / "labels" / city / "cm").mkdir(parents=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                profile = dict(driver="GTiff", width=OSCD_SIDE, height=OSCD_SIDE, count=1, dtype="uint8")
                with rasterio.open(root / "labels" / city / "cm" / f"{city}-cm.tif", "w", **profile) as dst:
                    dst.write(label[None])
    (root / "images" / "train.txt").write_text("abudhabi,paris,lasvegas")
    return root


def _img_ids(folder, split):
    return {s.meta["img_id"] for s in RsvqaDataset(folder, split=split)}


def test_build_vqa_sets_keeps_the_held_out_parts_in_test(tmp_path):
    out = tmp_path / "vqa"
    sources = dict(dubai=_dubai_like(tmp_path / "dubai"), neon=_neon_like(tmp_path / "neon"))
    counts = build_vqa_sets(out, **sources, oscd=_oscd_like(tmp_path / "oscd"))
    train, test = _img_ids(out, "train"), _img_ids(out, "test")
    assert not train & test
    assert {i for i in test if i.startswith("dubai")} == {
        "dubai_tile-7-image-part-001_0_0",
        "dubai_tile-7-image-part-001_0_256",
    }
    assert {i for i in train if i.startswith("dubai")} == {
        "dubai_tile-1-image-part-001_0_0",
        "dubai_tile-1-image-part-001_0_256",
    }
    assert {i for i in test if i.startswith("neon")} == {"neon_yell-crop_0_1680"}  # in the right 20 %: from 1680
    assert {i for i in train if i.startswith("neon")} == {f"neon_yell-crop_0_{c}" for c in (0, 400, 800, 1200)}
    assert {i for i in test if i.startswith("oscd")} == {f"oscd_abudhabi_{r}_{c}" for r in (0, 128) for c in (0, 128)}
    assert {i for i in train if i.startswith("oscd")} == {f"oscd_paris_{r}_{c}" for r in (0, 128) for c in (0, 128)}
    for split in ("train", "test"):
        ds = RsvqaDataset(out, split=split)
        assert sum(n for k, n in counts.items() if k.startswith(split)) == len(ds)
        assert all(s.image is not None and s.image.parent == out / "Images" for s in ds)
    answers = {(s.meta["img_id"], s.targets["question"]): s.targets["answer"] for s in RsvqaDataset(out, split="test")}
    assert answers["neon_yell-crop_0_1680", "how many trees are there?"] == "between 11 and 50"
    assert answers["oscd_abudhabi_0_0", "what share of the image has changed?"] == "between 0% and 10%"
    assert answers["oscd_abudhabi_0_128", "has anything changed?"] == "no"
    assert answers["oscd_abudhabi_128_0", "what share of the image has changed?"] == "more than 50%"
    assert answers["dubai_tile-7-image-part-001_0_0", "is there water?"] == "yes"
    assert answers["dubai_tile-7-image-part-001_0_256", "are there buildings?"] == "no"
    _check_oscd_files(out)


def _check_oscd_files(out):
    """Both dates of a crop as 13-band GeoTIFFs on the crop's grid, named so that open_scene finds the bands."""
    sample = next(s for s in RsvqaDataset(out, split="test") if s.meta["img_id"] == "oscd_abudhabi_128_0")
    assert sample.meta["before"] == out / "Images" / "oscd_abudhabi_128_0_before.tif"
    for path, value in ((sample.meta["before"], 1000), (sample.image, 2000)):
        scene = open_scene(path)
        assert scene.band_names == S2_ORDER and scene.grid.crs == "EPSG:4326"
        assert scene.grid.transform.almost_equals(Affine(OSCD_PIXEL, 0, 54.5, 0, -OSCD_PIXEL, 24.4 - 128 * OSCD_PIXEL))
        assert (scene.grid.width, scene.grid.height) == (128, 128) and int(scene.read(bands=["B02"]).mean()) == value


def test_build_replaces_only_a_question_set(tmp_path, capsys):
    neon = _neon_like(tmp_path / "neon")
    out = tmp_path / "vqa"
    build_vqa_sets(out, neon=neon)
    (out / "Images" / "stale.tif").write_bytes(b"")
    assert build_vqa_sets(out, neon=neon) == {
        "train/presence": 4,
        "train/count": 4,
        "test/presence": 1,
        "test/count": 1,
    }
    assert not (out / "Images" / "stale.tif").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no work folder left
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="holds other files than a question set"):
        build_vqa_sets(tmp_path / "other", neon=neon)
    with pytest.raises(SystemExit) as exit_info:
        main(["--neon", str(tmp_path / "missing"), "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: no such neon folder: {tmp_path / 'missing'}"]
    main(["--neon", str(neon), "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0].split() == ["train", "presence", "4"] and printed[-1].startswith("10 questions (train 8 on 4")


def test_build_on_the_real_dubai_tiles(shared, tmp_path):
    out = tmp_path / "vqa"
    counts = build_vqa_sets(out, dubai=shared("dubai_segmentation"))
    train, test = _img_ids(out, "train"), _img_ids(out, "test")
    assert train and test and not train & test
    assert all(i.startswith("dubai_tile-7-") for i in test) and not any(i.startswith("dubai_tile-7-") for i in train)
    assert counts["train/presence"] > 0 and counts["test/comparison"] > 0
