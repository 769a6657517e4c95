"""Colour-coded masks (Dubai) and index masks."""

import json
import warnings

import numpy as np
import pytest
from PIL import Image

from rsvision.datasets.masks import DUBAI_COLORS, ColorMaskDataset, IndexMaskDataset, parse_color
from rsvision.errors import AnnotationError, AnnotationWarning


def test_dubai_all_tiles(shared):
    root = shared("dubai_segmentation")
    ds = ColorMaskDataset(root)  # classes.json's wrong colours are recognised and replaced
    assert ds.colors == {k: parse_color(v) for k, v in DUBAI_COLORS.items()}
    assert len(ds) == 63 and {s.id.split("/")[0] for s in ds} == {f"Tile {i}" for i in range(1, 8)}
    table = {parse_color(c): i for i, c in enumerate(DUBAI_COLORS.values())}
    black_total, unknown_files = 0, {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for s in ds:
            with Image.open(s.targets["mask"]) as im:
                rgb = np.asarray(im.convert("RGB")).astype(np.uint32)
            code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
            # independent census: pixels of each table colour and of black must account for every pixel
            colours = {
                c: int(np.count_nonzero(code == ((c[0] << 16) | (c[1] << 8) | c[2]))) for c in [*table, (0, 0, 0)]
            }
            assert sum(colours.values()) == code.size  # no colour outside the table except black
            expected = np.zeros(len(table), dtype=np.int64)
            for colour, n in colours.items():
                expected[table.get(colour, ds.ignore_index)] += n
            mask = ds.load_mask(s)
            assert mask.shape == code.shape and mask.dtype == np.uint8
            np.testing.assert_array_equal(np.bincount(mask.ravel(), minlength=len(table)), expected)
            n_black = colours[(0, 0, 0)]
            black_total += n_black
            if n_black:
                unknown_files[s.id] = n_black
    assert ds.classes[ds.ignore_index] == "Unlabeled"
    assert ds.issues == {"unknown_color_pixels": black_total}
    assert unknown_files["Tile 7/image_part_009"] == 2725  # README
    messages = [str(w.message) for w in caught if w.category is AnnotationWarning]
    assert len(messages) == len(unknown_files) and all("(#000000)" in m for m in messages)


def test_palette_masks_are_converted_to_rgb(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.new("RGB", (3, 2)).save(tmp_path / "images" / "a.jpg")
    pal = Image.fromarray(np.array([[0, 1, 2], [1, 1, 3]], dtype=np.uint8), mode="P")
    # palette order differs from the class order, as in Dubai tiles 2 and 4
    pal.putpalette([0x6E, 0xC1, 0xE4, 0xE2, 0xA9, 0x29, 0x9B, 0x9B, 0x9B, 0x12, 0x34, 0x56] + [0] * 756)
    pal.save(tmp_path / "masks" / "a.png")
    ds = ColorMaskDataset(tmp_path, colors=DUBAI_COLORS)
    with pytest.warns(AnnotationWarning, match=r"1 pixels of unknown colour \(#123456\) set to index 5"):
        mask = ds.load_mask(ds[0])
    assert mask.tolist() == [[2, 0, 5], [0, 0, 5]]


def test_colour_table_errors(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.new("RGB", (2, 2)).save(tmp_path / "images" / "a.jpg")
    Image.new("RGB", (2, 2), (1, 2, 3)).save(tmp_path / "masks" / "a.png")
    with pytest.raises(AnnotationError, match="need a colour table"):
        ColorMaskDataset(tmp_path)
    (tmp_path / "classes.json").write_text(json.dumps({"classes": [{"title": "x", "color": "#FF0000"}]}))
    ds = ColorMaskDataset(tmp_path)
    assert ds.ignore_index == 255
    with pytest.raises(AnnotationError, match="4 of 4 pixels have colours outside the colour table"):
        ds.load_mask(ds[0])
    with pytest.raises(AnnotationError, match="not #RRGGBB"):
        ColorMaskDataset(tmp_path, colors={"x": "#FF00"})


def test_index_masks(tmp_path):
    for sub in ("t1", "t2"):
        (tmp_path / sub / "images").mkdir(parents=True)
        (tmp_path / sub / "masks").mkdir()
        Image.new("RGB", (3, 1)).save(tmp_path / sub / "images" / "a.png")
        Image.fromarray(np.array([[0, 2, 7]], dtype=np.uint8)).save(tmp_path / sub / "masks" / "a.png")
    with pytest.raises(AnnotationError, match="need class names"):
        IndexMaskDataset(tmp_path)
    ds = IndexMaskDataset(tmp_path, classes=["a", "b", "c"])
    assert [s.id for s in ds] == ["t1/a", "t2/a"]
    with pytest.warns(AnnotationWarning, match="1 pixels have values outside the 3 classes; set to 255"):
        assert ds.load_mask(ds[0]).tolist() == [[0, 2, 255]]
    Image.new("RGB", (3, 1)).save(tmp_path / "t2" / "images" / "b.png")
    with pytest.raises(AnnotationError, match="1 images have no mask"):
        IndexMaskDataset(tmp_path, classes=["a", "b", "c"])
