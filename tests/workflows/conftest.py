"""Box predictors that need no model, and generated scenes with bright objects for them to find.

``BrightBoxes`` finds each 8-connected region of bright pixels (band 1 over 128) of a tile and returns its
enclosing box (``xyxy``) or, with ``rotated=True``, its minimum-area rotated rectangle (le90): what a perfect
detector of those objects would say, tile by tile, including the cut pieces at tile edges that the engine must
drop in favour of the whole object seen by a neighbouring tile.
"""

import json

import numpy as np
import pytest
import rasterio
import shapely
from scipy import ndimage

from rsvision.datasets.masks import DUBAI_COLORS
from rsvision.geometry import Detections, polygons_to_rboxes, rbox_to_poly
from rsvision.tasks.base import BoxPredictor

CLASSES = ["tree", "car"]


class BrightBoxes(BoxPredictor):
    """Bright regions as boxes; class 1 (``car``) when band 2 is bright too, else 0 (``tree``). Score: the
    region's mean brightness in band 1 over 255."""

    class_names = CLASSES
    iou_threshold = 0.3

    def __init__(self, rotated: bool = False, tile_size: int | None = None):
        self.rotated, self.tile_size = rotated, tile_size

    def predict(self, batch):
        return [self._tile(image) for image in batch.images]

    def _tile(self, image: np.ndarray) -> Detections:
        regions, n = ndimage.label(image[0] > 128, structure=np.ones((3, 3)))
        if n == 0:
            return Detections.empty(self.rotated)
        slices = ndimage.find_objects(regions)
        index = np.arange(1, n + 1)
        scores = np.asarray(ndimage.mean(image[0], regions, index)) / 255
        labels = (np.asarray(ndimage.mean(image[1], regions, index)) > 128).astype(np.int64)
        if not self.rotated:
            boxes = [[s[1].start, s[0].start, s[1].stop, s[0].stop] for s in slices]
            return Detections(labels, scores, boxes=np.asarray(boxes, dtype=np.float64))
        hulls = [_pixel_hull(regions[s] == i + 1, s[0].start, s[1].start) for i, s in enumerate(slices)]
        return Detections(labels, scores, rboxes=polygons_to_rboxes(hulls))


def _pixel_hull(mask: np.ndarray, row0: int, col0: int):
    """The convex hull of the pixels (as unit squares) of ``mask``, in tile pixels."""
    rows, cols = np.nonzero(mask)
    corners = np.concatenate([np.stack([cols + dx, rows + dy], 1) for dx in (0, 1) for dy in (0, 1)])
    return shapely.convex_hull(shapely.multipoints(corners + np.array([col0, row0])))


def draw_objects(shape, rboxes, labels, seed=0):
    """A (3, H, W) uint8 image of dark noise with each rotated box filled: bright in band 1, and in band 2 too
    for class 1."""
    h, w = shape
    rng = np.random.default_rng(seed)
    image = rng.integers(10, 60, (3, h, w)).astype(np.uint8)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    for (cx, cy, bw, bh, angle), label in zip(rboxes, labels):
        c, s = np.cos(angle), np.sin(angle)
        u = (xx - cx) * c + (yy - cy) * s  # along the box's w axis
        v = -(xx - cx) * s + (yy - cy) * c
        inside = (np.abs(u) <= bw / 2) & (np.abs(v) <= bh / 2)
        image[0][inside] = 230
        if label == 1:
            image[1][inside] = 220
    return image


def scatter_objects(shape, n, seed=0, size=(10, 40), rotated=False, gap=6):
    """``n`` boxes (le90) that keep ``gap`` pixels apart and inside the image, and their labels."""
    rng = np.random.default_rng(seed)
    h, w = shape
    boxes, shapes = [], []
    for _ in range(200 * n):  # bounded: a scene too small for n objects fails, not hangs
        if len(boxes) == n:
            break
        bw, bh = np.sort(rng.uniform(*size, 2))[::-1]
        angle = rng.uniform(-np.pi / 2, np.pi / 2) if rotated else 0.0
        margin = np.hypot(bw, bh) / 2 + 1  # inside the image at any angle
        cx, cy = rng.uniform(margin, w - margin), rng.uniform(margin, h - margin)
        poly = shapely.Polygon(rbox_to_poly(np.array([cx, cy, bw, bh, angle])).reshape(4, 2))
        if any(poly.distance(other) < gap for other in shapes):
            continue
        boxes.append([cx, cy, bw, bh, angle])
        shapes.append(poly)
    assert len(boxes) == n, f"no room for {n} objects in {shape}"
    return np.asarray(boxes), rng.integers(0, 2, n)


@pytest.fixture
def object_scene(make_raster):
    """``object_scene(name, shape, n, rotated=False, **raster)`` -> (path, le90 boxes drawn, labels)."""

    def make(name, shape, n, rotated=False, seed=0, **raster):
        boxes, labels = scatter_objects(shape, n, seed=seed, rotated=rotated)
        image = draw_objects(shape, boxes, labels, seed=seed)
        return make_raster(name, image, **raster), boxes, labels

    return make


@pytest.fixture
def bright_boxes():
    """The :class:`BrightBoxes` predictor class (its classes: ``tree``, ``car``)."""
    return BrightBoxes


LANDCOVER_CLASSES = list(DUBAI_COLORS)  # a class map's names, as the built-in segmenter writes them


def write_class_map(path, mask: np.ndarray):
    """A one-band class-map GeoTIFF (no georeference) naming its classes in its ``classes`` tag, as segment does."""
    profile = dict(driver="GTiff", width=mask.shape[1], height=mask.shape[0], count=1, dtype="uint8", nodata=255)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(mask, 1)
        ds.update_tags(classes=json.dumps(LANDCOVER_CLASSES))
    return path


@pytest.fixture
def class_map_writer():
    return write_class_map
