"""Pictures: a confusion matrix and a class map over its scene, written atomically as PNG files."""

import json

import numpy as np
import rasterio
from PIL import Image

from rsvision.bench.plots import class_map_preview, plot_confusion


def test_plot_confusion(tmp_path):
    out = plot_confusion(np.array([[5, 1], [0, 4]]), ["a", "b"], tmp_path / "c.png", "test")
    with Image.open(out) as picture:
        assert picture.format == "PNG" and picture.width > 100
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]  # no temporary file left


def test_class_map_preview_shows_the_classes_present(tmp_path, make_raster):
    scene = make_raster("s.tif", np.random.default_rng(0).integers(0, 255, (3, 40, 60), dtype=np.uint8))
    ids = np.zeros((40, 60), np.uint8)
    ids[:, 30:] = 2
    with rasterio.open(scene) as ds:
        profile = dict(
            driver="GTiff", width=60, height=40, count=1, dtype="uint8", crs=ds.crs, transform=ds.transform, nodata=255
        )
    with rasterio.open(tmp_path / "m.tif", "w", **profile) as dst:
        dst.write(ids, 1)
        dst.write_colormap(1, {0: (255, 0, 0, 255), 1: (0, 255, 0, 255), 2: (0, 0, 255, 255)})
        dst.update_tags(classes=json.dumps(["red", "green", "blue"]))
    out = class_map_preview(scene, tmp_path / "m.tif", tmp_path / "p.png")
    with Image.open(out) as picture:
        rgb = np.asarray(picture.convert("RGB")).astype(int)
    assert picture.width > 60  # the legend sits right of the map
    reddish = (rgb[..., 0] > rgb[..., 2] + 60).sum()  # the left half, blended 45% with red
    bluish = (rgb[..., 2] > rgb[..., 0] + 60).sum()
    greenish = (rgb[..., 1] > rgb[..., 0] + 60) & (rgb[..., 1] > rgb[..., 2] + 60)
    assert reddish > 100 and bluish > 100 and greenish.sum() == 0  # green is not in the map nor in its legend


def test_pr_curve_detections_and_change_pictures(tmp_path):
    from rsvision.bench.plots import plot_change_example, plot_detections, plot_pr_curve

    curve = plot_pr_curve(np.array([0.2, 0.5, 0.8]), np.array([1.0, 0.8, 0.5]), np.array([0.9, 0.5, 0.2]),
                          tmp_path / "pr.png", "pr")  # fmt: skip
    image = np.full((3, 40, 60), 120, np.uint8)
    boxes = plot_detections(image, np.array([[5.0, 5, 20, 20]]), np.array([[6.0, 5, 21, 19]]), tmp_path / "d.png", "d")
    pair = np.full((6, 40, 60), 120, np.uint8)
    mask = np.zeros((40, 60), np.uint8)
    change = plot_change_example(pair, mask, mask, ["red", "green", "blue"], tmp_path / "c.png", "c")
    for path in (curve, boxes, change):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
