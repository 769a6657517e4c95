"""Referring expressions from boxes (each checked to pick the one object its template says), their RSVG files read
back by RsvgDataset, and the grounding-set builder on tiny DOTA8- and NEON-like folders (and on the real data)."""

import re

import numpy as np
import pytest
from PIL import Image

from rsvision.datasets import referring
from rsvision.datasets.grounding import RsvgDataset
from rsvision.datasets.referring import (
    CELLS,
    KINDS,
    POSITION_MARGIN,
    SIZE_MARGIN,
    TEMPLATES,
    Expression,
    build_grounding_set,
    class_noun,
    main,
    referring_expressions,
    write_rsvg,
)
from rsvision.datasets.registry import guess_format
from rsvision.datasets.voc import write_voc
from rsvision.errors import OutputError

W, H = 1000, 600


def _box(cx, cy, w, h):
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _by_phrase(expressions):
    return {e.phrase: e.box for e in expressions}


def _template_matches(phrase: str, nouns: set[str]) -> list[tuple[str, str, str]]:
    """(template name, noun, cell) of every template that reads ``phrase`` with one of ``nouns``."""
    found = []
    for name, template in TEMPLATES.items():
        pattern = re.escape(template).replace(re.escape("{noun}"), "(?P<noun>.+)")
        pattern = pattern.replace(re.escape("{cell}"), f"(?P<cell>{'|'.join(CELLS)})")
        m = re.fullmatch(pattern, phrase)
        if m and m["noun"] in nouns:
            found.append((name, m["noun"], m.groupdict().get("cell") or ""))
    return found


def _check(e: Expression, boxes: np.ndarray, labels, width, height):
    """The expression reads as exactly one template, and the object it names is the only one that fits it."""
    nouns = {class_noun(label) for label in labels}
    ((name, noun, cell),) = _template_matches(e.phrase, nouns)
    members = [i for i, label in enumerate(labels) if class_noun(label) == noun]
    (k,) = [i for i in members if tuple(boxes[i]) == e.box]
    assert e.label == labels[k] and e.kind in KINDS
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    others = [i for i in members if i != k]
    if name == "single":
        assert others == [] and e.kind == "single"
        assert CELLS[3 * min(int(3 * cy[k] / height), 2) + min(int(3 * cx[k] / width), 2)] == cell
        return
    assert others
    if name.startswith("largest_"):
        left = name.endswith("left")
        half = [i for i in others if (cx[i] < width / 2) == left]
        assert (cx[k] < width / 2) == left and half and e.kind == "size+position"
        assert all(area[k] >= (1 + SIZE_MARGIN) * area[i] - 1e-6 for i in half)
        assert any(area[i] * (1 + SIZE_MARGIN) > area[k] for i in others)  # not the overall largest
        return
    rules = {
        "largest": lambda i: area[k] >= (1 + SIZE_MARGIN) * area[i] - 1e-6,
        "smallest": lambda i: area[i] >= (1 + SIZE_MARGIN) * area[k] - 1e-6,
        "leftmost": lambda i: cx[i] - cx[k] >= POSITION_MARGIN * width - 1e-6,
        "rightmost": lambda i: cx[k] - cx[i] >= POSITION_MARGIN * width - 1e-6,
        "topmost": lambda i: cy[i] - cy[k] >= POSITION_MARGIN * height - 1e-6,
        "bottommost": lambda i: cy[k] - cy[i] >= POSITION_MARGIN * height - 1e-6,
    }
    assert all(rules[name](i) for i in others), e
    assert e.kind == ("size" if name in ("largest", "smallest") else "position")


# ----------------------------------------------------------------------------- generator


def test_class_noun():
    assert class_noun("storage-tank") == "storage tank" and class_noun("small-vehicle") == "small vehicle"
    assert class_noun("Tree") == "tree" and class_noun("ground-track-field") == "ground track field"
    assert class_noun("Expressway-Service-area") == "expressway service area"
    assert class_noun("BasketballCourt") == "basketball court" and class_noun("golffield") == "golffield"


@pytest.mark.parametrize(
    ("sides", "largest", "smallest"),
    [
        ((12.5, 10, 8), 0, 2),  # areas 156, 100, 64: each beats the runner-up by more than 20 %
        ((11, 10, 9.6), 0, None),  # 121 vs 100 is 21 %, but 100 vs 92 is not: no smallest
        ((10.6, 10, 9.2), None, None),  # 112 vs 100, 100 vs 85: both within 20 %
        ((np.sqrt(120), 10, np.sqrt(100 / 1.2)), 0, 2),  # exactly 20 %: "by >= 20 %" is met
    ],
)
def test_largest_and_smallest_need_the_margin(sides, largest, smallest):
    centres = [(500, 300), (505, 305), (510, 310)]  # within 5 % of each other: no position phrases
    boxes = np.array([_box(x, y, s, s) for (x, y), s in zip(centres, sides)])
    expressions = referring_expressions(boxes, ["plane"] * 3, W, H)
    picked = _by_phrase(expressions)
    assert picked.get("the largest plane") == (None if largest is None else tuple(boxes[largest]))
    assert picked.get("the smallest plane") == (None if smallest is None else tuple(boxes[smallest]))
    assert {e.kind for e in expressions} <= {"size"}
    for e in expressions:
        _check(e, boxes, ["plane"] * 3, W, H)


def test_extreme_positions_skip_near_ties():
    # x centres 100, 140 (4 % of 1000 apart: no leftmost), 700; y centres 50, 300, 280 (20 px = 3.3 % of 600)
    boxes = np.array([_box(100, 50, 20, 20), _box(140, 300, 20, 20), _box(700, 280, 20, 20)])
    picked = _by_phrase(referring_expressions(boxes, ["ship"] * 3, W, H))
    assert "the leftmost ship" not in picked and picked["the rightmost ship"] == tuple(boxes[2])
    assert picked["the topmost ship"] == tuple(boxes[0]) and "the bottommost ship" not in picked
    boxes[1] = _box(151, 340, 20, 20)  # now 51 px right of the first and 60 px below the third: both named
    picked = _by_phrase(referring_expressions(boxes, ["ship"] * 3, W, H))
    assert picked["the leftmost ship"] == tuple(boxes[0]) and picked["the bottommost ship"] == tuple(boxes[1])


@pytest.mark.parametrize("cell", range(9))
def test_a_single_object_is_placed_in_its_cell(cell):
    row, col = divmod(cell, 3)
    box = _box((col + 0.5) * W / 3, (row + 0.5) * H / 3, 40, 30)
    boxes = np.array([box, _box(100, 100, 10, 10), _box(900, 500, 30, 30)])
    labels = ["storage-tank", "small-vehicle", "small-vehicle"]
    expressions = referring_expressions(boxes, labels, W, H)
    singles = [e for e in expressions if e.kind == "single"]
    assert singles == [Expression(f"the storage tank in the {CELLS[cell]} of the image", box, "storage-tank", "single")]
    assert not any("storage tank" in e.phrase for e in expressions if e.kind != "single")  # no "largest" of one
    for e in expressions:
        _check(e, boxes, labels, W, H)


def test_largest_on_a_side():
    # left half: 40x40 beats 30x30; right half: 60x60 is the overall largest, so "on the right" would repeat it
    boxes = np.array([_box(100, 100, 40, 40), _box(300, 400, 30, 30), _box(800, 300, 60, 60), _box(700, 500, 25, 25)])
    picked = _by_phrase(referring_expressions(boxes, ["tennis-court"] * 4, W, H))
    assert picked["the largest tennis court on the left"] == tuple(boxes[0])
    assert (
        picked["the largest tennis court"] == tuple(boxes[2]) and "the largest tennis court on the right" not in picked
    )
    # two equal largest, one per side: "the largest" is ambiguous, each side's largest is not
    boxes[2] = _box(800, 300, 40, 40)
    expressions = referring_expressions(boxes, ["tennis-court"] * 4, W, H)
    picked = _by_phrase(expressions)
    assert "the largest tennis court" not in picked
    assert picked["the largest tennis court on the left"] == tuple(boxes[0])
    assert picked["the largest tennis court on the right"] == tuple(boxes[2])
    assert {e.kind for e in expressions if "on the" in e.phrase} == {"size+position"}


def test_random_scenes_name_one_object_each():
    rng = np.random.default_rng(0)
    names = ["plane", "ship", "storage-tank", "Tree"]
    kinds = set()
    for _ in range(200):
        n = int(rng.integers(1, 9))
        xy = rng.uniform(0, [W, H], size=(n, 2))
        wh = rng.uniform(5, 120, size=(n, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1)
        labels = list(rng.choice(names, n))
        for e in referring_expressions(boxes, labels, W, H):
            _check(e, boxes, labels, W, H)
            kinds.add(e.kind)
    assert kinds == set(KINDS)


def test_nouns_group_classes_and_flat_boxes_are_left_out():
    boxes = np.array([_box(100, 100, 50, 50), _box(900, 500, 10, 10), (5, 5, 5, 20)])
    expressions = referring_expressions(boxes, ["Tree", "tree", "Tree"], W, H)
    assert {e.phrase for e in expressions} >= {"the largest tree", "the smallest tree", "the leftmost tree"}
    assert all(e.box != (5, 5, 5, 20) for e in expressions)
    assert referring_expressions(np.zeros((0, 4)), [], W, H) == []
    with pytest.raises(ValueError, match="2 boxes but 1 labels"):
        referring_expressions(boxes[:2], ["Tree"], W, H)


# ----------------------------------------------------------------------------- RSVG files


def test_write_rsvg_round_trip(tmp_path):
    source = tmp_path / "scene.JPG"
    Image.new("RGB", (W, H), (10, 20, 30)).save(source, format="JPEG")
    array = np.zeros((3, 40, 50), dtype=np.uint8)
    array[0, 5, 7] = 200
    boxes = np.array([_box(100.25, 100, 50, 50), _box(800, 500, 10, 10.5)])
    first = referring_expressions(boxes, ["plane", "plane"], W, H)
    second = [Expression("the ship in the top left of the image", (1.0, 2.0, 9.5, 8.0), "ship", "single")]
    out = tmp_path / "set"
    paths = write_rsvg(out, [("a", source, W, H, first), ("b", array, 50, 40, second)])
    assert [p.name for p in paths] == ["a.xml", "b.xml"] and guess_format(out) == "rsvg"
    ds = RsvgDataset(out)
    assert len(ds) == len(first) + 1 and ds.issues == {}
    for sample, e in zip(ds, [*first, *second]):
        assert sample.targets["phrase"] == e.phrase and ds.classes[sample.targets["labels"][0]] == e.label
        np.testing.assert_allclose(sample.targets["boxes"][0], e.box, atol=0.005)
    assert ds[0].image == out / "JPEGImages" / "a.jpg" and ds[0].image.read_bytes() == source.read_bytes()
    assert ds[-1].image == out / "JPEGImages" / "b.png" and (ds[-1].meta["width"], ds[-1].meta["height"]) == (50, 40)
    assert np.array_equal(np.asarray(Image.open(ds[-1].image)).transpose(2, 0, 1), array)  # PNG: lossless
    assert not [p for p in out.rglob(".*")]  # no temporary file left


# ----------------------------------------------------------------------------- builder on synthetic layouts

DOTA_SIDE = 256


def _obb(cls, x0, y0, x1, y1):
    """A YOLO-OBB line for an axis-aligned rectangle in pixels of the DOTA-like images."""
    c = np.array([x0, y0, x1, y0, x1, y1, x0, y1]) / DOTA_SIDE
    return f"{cls} " + " ".join(f"{v:.6f}" for v in c)


def _dota_like(root):
    """dota8's layout: images/{train,val} and labels/{train,val}, YOLO-OBB lines with DOTA-v1.0 class indices.
    val: two planes (0) and a storage tank (2); train: a ship (1) that must never be named."""
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        Image.new("RGB", (DOTA_SIDE, DOTA_SIDE), (50, 60, 70)).save(root / "images" / split / f"{split}1.jpg")
    lines = [_obb(0, 10, 10, 70, 70), _obb(0, 200, 200, 220, 220), _obb(2, 118, 118, 138, 138)]
    (root / "labels" / "val" / "val1.txt").write_text("\n".join(lines) + "\n")
    (root / "labels" / "train" / "train1.txt").write_text(_obb(1, 10, 10, 50, 50) + "\n")
    return root


NEON_WIDTH = 2100  # test strip from column 1680, 420 px wide: one 400 px crop (rows 0-400)


def _neon_like(root):
    """A 2100 x 400 image (one test crop at column 1680) and a 1000 x 400 one (test strip 200 px: no crop)."""
    root.mkdir()
    trees = [
        (100, 100, 300, 300),  # train part: the largest of all, never in the set
        (1650, 100, 1700, 150),  # centre 1675: validation strip, not test
        (1670, 300, 1720, 350),  # centre 1695: test strip, clipped to it -> crop (0, 300, 40, 350)
        (1900, 50, 1980, 130),  # -> (220, 50, 300, 130)
        (1800, 200, 1810, 210),  # -> (120, 200, 130, 210)
        (2085, 100, 2095, 110),  # centre at crop column 410: in the strip, past the crop
    ]
    Image.new("RGB", (NEON_WIDTH, 400), (30, 90, 40)).save(root / "yell_a.jpg")
    write_voc(root / "yell_a.xml", "yell_a.jpg", (NEON_WIDTH, 400), trees, ["Tree"] * len(trees))
    Image.new("RGB", (1000, 400), (30, 90, 40)).save(root / "yell_b.jpg")
    narrow = [(850, 10, 900, 60), (920, 200, 940, 220)]
    write_voc(root / "yell_b.xml", "yell_b.jpg", (1000, 400), narrow, ["Tree"] * len(narrow))
    return root


def _phrases(ds):
    return {(s.meta["annotation"].stem, s.targets["phrase"]): tuple(s.targets["boxes"][0]) for s in ds}


def test_build_uses_dota_val_and_the_neon_test_strip(tmp_path, monkeypatch):
    monkeypatch.setattr(referring, "NEON_CROP", 400)  # the synthetic images are laid out for 400 px crops
    out = tmp_path / "grounding"
    counts = build_grounding_set(out, dota=_dota_like(tmp_path / "dota8"), neon=_neon_like(tmp_path / "neon"))
    ds = RsvgDataset(out)
    got = _phrases(ds)
    assert {stem for stem, _ in got} == {"dota_val1", "neon_yell-a_0_1680"}
    assert got["dota_val1", "the storage tank in the center of the image"] == (118, 118, 138, 138)
    assert got["dota_val1", "the largest plane"] == got["dota_val1", "the topmost plane"] == (10, 10, 70, 70)
    assert got["dota_val1", "the smallest plane"] == got["dota_val1", "the rightmost plane"] == (200, 200, 220, 220)
    assert not any("ship" in phrase for _, phrase in got)
    crop = {phrase: box for (stem, phrase), box in got.items() if stem.startswith("neon")}
    assert crop == {
        "the largest tree": (220, 50, 300, 130),
        "the smallest tree": (120, 200, 130, 210),
        "the leftmost tree": (0, 300, 40, 350),  # clipped at the strip's first column
        "the rightmost tree": (220, 50, 300, 130),
        "the topmost tree": (220, 50, 300, 130),
        "the bottommost tree": (0, 300, 40, 350),
        "the largest tree on the left": (0, 300, 40, 350),
    }
    assert counts == {
        "dota/single": 1,
        "dota/size": 2,
        "dota/position": 4,
        "neon/size": 2,
        "neon/position": 4,
        "neon/size+position": 1,
    }
    assert ds.classes == ("Tree", "plane", "storage-tank")
    assert (out / "JPEGImages" / "dota_val1.jpg").read_bytes() == (tmp_path / "dota8/images/val/val1.jpg").read_bytes()
    with Image.open(out / "JPEGImages" / "neon_yell-a_0_1680.png") as im:
        assert im.size == (400, 400)


def test_build_replaces_only_a_grounding_set(tmp_path, capsys):
    dota = _dota_like(tmp_path / "dota8")
    out = tmp_path / "grounding"
    build_grounding_set(out, neon=_neon_like(tmp_path / "neon"))
    assert build_grounding_set(out, dota=dota) == {"dota/single": 1, "dota/size": 2, "dota/position": 4}
    assert [p.name for p in (out / "Annotations").iterdir()] == ["dota_val1.xml"]  # the earlier set is gone
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no work folder left
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="holds other files than a grounding set"):
        build_grounding_set(tmp_path / "other", dota=dota)
    with pytest.raises(SystemExit) as exit_info:
        main(["--dota", str(tmp_path / "missing"), "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: no such dota folder: {tmp_path / 'missing'}"]
    main(["--dota", str(dota), "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0].split() == ["dota", "single", "1"] and printed[-1].startswith("7 expressions (dota 7 on 1 image)")


def test_build_on_the_real_data(shared, tmp_path):
    dota, neon = shared("dota", "dota8"), shared("neon_trees")
    out = tmp_path / "grounding"
    with pytest.warns(UserWarning, match="clipped"):  # dota8's corners past the image edge (see the data README)
        counts = build_grounding_set(out, dota=dota, neon=neon)
    assert any(k.startswith("dota/") for k in counts) and any(k.startswith("neon/") for k in counts)
    stems = {p.stem for p in (out / "Annotations").iterdir()}
    val = {"dota_" + re.sub("[^a-z0-9]+", "-", p.stem.lower()) for p in (dota / "images" / "val").iterdir()}
    assert {s for s in stems if s.startswith("dota_")} <= val
    for stem in (s for s in stems if s.startswith("neon_")):
        image = re.search(r"neon_(.+)_\d+_(\d+)$", stem)
        width = 2299 if "crop2" in image[1] else 1249
        start = round(0.8 * width)
        assert int(image[2]) >= start and (int(image[2]) - start) % referring.NEON_CROP == 0  # crops of the test strip
    assert len(RsvgDataset(out)) == sum(counts.values())
