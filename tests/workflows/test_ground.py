"""Grounding: phrases parsed into class and attributes, and the planted object picked among candidates."""

import numpy as np
import pytest

from rsvision.datasets.masks import DUBAI_COLORS
from rsvision.io import open_scene
from rsvision.workflows.ground import Candidates, class_regions, parse_phrase, pick

CLASSES = list(DUBAI_COLORS)


@pytest.mark.parametrize(
    "phrase, target, attribute",
    [
        ("the largest storage tank", "storage tank", ("size", "max")),
        ("the smallest tree", "tree", ("size", "min")),
        ("the leftmost tree", "tree", ("extreme", ("x", "min"))),
        ("the bottommost small vehicle", "small vehicle", ("extreme", ("y", "max"))),
        ("the largest tree on the right", "tree", ("half", ("x", 1))),
        ("the ship in the top right of the image", "ship", ("cell", (0, 2))),
        ("the plane in the center of the image", "plane", ("cell", (1, 1))),
        ("the water", "water", None),
        ("something shiny", None, None),
    ],
)
def test_parse_phrase(phrase, target, attribute):
    ref = parse_phrase(phrase)
    assert ref.target == target
    if attribute is not None:
        assert getattr(ref, attribute[0]) == attribute[1]


def boxes(*xyxy):
    b = np.array(xyxy, np.float64)
    return Candidates(b, np.linspace(0.9, 0.5, len(b)), (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), "planted")


def test_pick_by_size_position_and_cell():
    c = boxes([0, 0, 10, 10], [80, 80, 100, 100], [20, 40, 45, 70], [90, 0, 95, 5])
    assert pick(c, parse_phrase("the largest tree"), 100, 100) == 2
    assert pick(c, parse_phrase("the smallest tree"), 100, 100) == 3
    assert pick(c, parse_phrase("the rightmost tree"), 100, 100) == 3
    assert pick(c, parse_phrase("the largest tree on the right"), 100, 100) == 1
    assert pick(c, parse_phrase("the tree in the top left of the image"), 100, 100) == 0
    assert pick(c, parse_phrase("the tree"), 100, 100) == 0  # no attribute: the best score
    assert pick(c, parse_phrase("the tree in the bottom left of the image"), 100, 100) is None
    nothing = Candidates(np.zeros((0, 4)), np.zeros(0), np.zeros(0), "planted")
    assert pick(nothing, parse_phrase("the largest tree"), 100, 100) is None


def test_the_planted_largest_region_is_found(tmp_path, class_map_writer):
    water = CLASSES.index("Water")
    mask = np.full((120, 160), CLASSES.index("Road"), np.uint8)
    mask[10:20, 10:20] = water  # 100 px
    mask[60:110, 90:150] = water  # 3,000 px: the largest
    mask[70:80, 10:30] = water  # 200 px
    path = class_map_writer(tmp_path / "map.tif", mask)
    cands = class_regions(path, [water], open_scene(path), "planted")
    assert len(cands.boxes) == 3
    chosen = pick(cands, parse_phrase("the largest water"), 160, 120)
    assert cands.boxes[chosen].tolist() == [90, 60, 150, 110]
    chosen = pick(cands, parse_phrase("the smallest water on the left"), 160, 120)
    assert cands.boxes[chosen].tolist() == [10, 10, 20, 20]
