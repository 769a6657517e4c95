"""Box and tile-record outputs: objects across tile edges come out once, in map coordinates; one record per tile."""

import numpy as np
import pyarrow.parquet as pq
import pyogrio.raw
import pytest
import shapely
from affine import Affine

from rsvision.engine import run
from rsvision.errors import OutputError, PredictorError
from rsvision.geometry import boxes_to_polygons, map_to_pixel, normalize_rbox, pixel_to_map, rbox_to_poly
from rsvision.io import open_scene
from rsvision.tasks import BoxPredictor, Detections, TilePredictor

TRANSFORM = Affine(0.5, 0, 300000, 0, -0.5, 5000000)


def objects_xyxy(rng, n, height, width):
    """Small boxes (at most 30 px, under the 40 px overlap) anywhere, some on the scene border; classes 0-2."""
    size = rng.uniform(6, 30, (n, 2))
    x1 = rng.uniform(0, width - size[:, 0])
    y1 = rng.uniform(0, height - size[:, 1])
    boxes = np.stack([x1, y1, x1 + size[:, 0], y1 + size[:, 1]], axis=1)
    boxes[0, [0, 2]] = 0, 20  # touching the left border
    boxes[1] = [width - 20, height - 15, width, height]  # the bottom-right corner
    boxes[2] = boxes[3] + [2, 2, 2, 2]  # two objects of different classes nearly on top of each other
    labels = np.arange(n) % 3
    labels[2] = (labels[3] + 1) % 3
    return boxes, labels


class ClippingDetector(BoxPredictor):
    """A perfect detector that sees what a tile shows: objects cut by the tile edge come out cut, scoring higher
    than whole ones so that NMS alone would keep the wrong box."""

    def __init__(self, boxes, labels, rotated=False):
        self.objects, self.labels, self.rotated = boxes, labels, rotated
        self.polys = np.asarray(boxes_to_polygons(boxes), dtype=object)

    def predict(self, batch):
        out = []
        for w in batch.windows:
            frame = shapely.box(w.col_off, w.row_off, w.col_off + w.width, w.row_off + w.height)
            seen = shapely.intersection(self.polys, frame)
            idx = np.flatnonzero(shapely.area(seen) > 0)
            whole = shapely.contains(frame, self.polys[idx])
            shift = [w.col_off, w.row_off]
            if self.rotated:
                boxes = np.array(
                    [o if ok else visible_part(o, p) for o, ok, p in zip(self.objects[idx], whole, seen[idx])]
                ).reshape(-1, 5)
                boxes[:, :2] -= shift
            else:
                boxes = shapely.bounds(seen[idx]) - np.tile(shift, 2)
            scores = np.where(whole, 0.6, 0.9)
            out.append(Detections(self.labels[idx], scores, **{"rboxes" if self.rotated else "boxes": boxes}))
        return out


def visible_part(rbox, polygon):
    """The part of a rotated object a tile shows, as a box with the object's orientation."""
    cx, cy, _, _, a = rbox
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    local = (np.asarray(polygon.exterior.coords) - [cx, cy]) @ rot  # into the object's frame
    lo, hi = local.min(axis=0), local.max(axis=0)
    centre = np.array([cx, cy]) + rot @ ((lo + hi) / 2)
    return normalize_rbox(np.array([*centre, *(hi - lo), a]))


@pytest.fixture
def scene(make_raster):
    return make_raster("scene.tif", np.full((3, 500, 600), 7, np.uint8), transform=TRANSFORM)


def _read(path):
    meta, _, geoms, fields = pyogrio.raw.read(path)
    return shapely.from_wkb(geoms), dict(zip(meta["fields"], fields))


def test_boxes_across_tile_edges_reported_once(scene, tmp_path):
    boxes, labels = objects_xyxy(np.random.default_rng(1), 120, 500, 600)
    out = tmp_path / "boxes.gpkg"
    run(scene, ClippingDetector(boxes, labels), out, tile=128, overlap=40, batch=4, quiet=True)
    geoms, cols = _read(out)
    assert len(geoms) == len(boxes)
    expected = boxes_to_polygons(boxes, TRANSFORM)
    got = sorted(zip(shapely.bounds(geoms).round(6).tolist(), cols["class_id"].tolist()))
    want = sorted(zip(shapely.bounds(expected).round(6).tolist(), labels.tolist()))
    assert got == want
    assert np.all(cols["score"] == 0.6)  # every object from the tile where it is whole


def test_rotated_boxes_across_tile_edges_reported_once(scene, tmp_path):
    rng = np.random.default_rng(2)
    xyxy, labels = objects_xyxy(rng, 80, 500, 600)
    xyxy, labels = xyxy[3:], labels[3:]  # rotated objects must fit inside the scene
    centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    side = np.sort(xyxy[:, 2:] - xyxy[:, :2], axis=1)[:, ::-1] * 0.7
    rboxes = np.column_stack([centre, side, rng.uniform(-np.pi / 2, np.pi / 2, len(centre))])
    result = run(scene, ClippingDetector(rboxes, labels, rotated=True), None, tile=128, overlap=40, quiet=True)
    geoms, cols = result.features
    assert len(geoms) == len(rboxes)
    expected = shapely.polygons(rbox_to_poly(rboxes).reshape(-1, 4, 2))
    got = shapely.polygons(np.stack(pixel_corners(geoms), axis=0))
    iou = shapely.area(shapely.intersection(got[:, None], expected[None])) / shapely.area(
        shapely.union(got[:, None], expected[None])
    )
    assert np.array_equal(np.sort(iou.argmax(axis=1)), np.arange(len(rboxes))) and iou.max(axis=1).min() > 0.999
    assert np.array_equal(cols["class_id"], labels[iou.argmax(axis=1)])


def pixel_corners(geoms):
    out = []
    for g in geoms:
        xy = np.asarray(g.exterior.coords)[:4]
        out.append(np.column_stack(map_to_pixel(TRANSFORM, xy[:, 0], xy[:, 1])))
    return out


class Tagger(TilePredictor):
    def predict(self, batch):
        means = batch.images.mean(axis=(1, 2, 3))
        return {
            "tag": np.where(means > 50, "bright", "dark"),
            "score": means / 255,
            "embedding": batch.images.mean(axis=(2, 3)),
        }


def test_one_record_per_tile_with_footprint(make_raster, tmp_path):
    data = np.full((3, 300, 400), 200, np.uint8)
    data[:, :, :100] = 0  # nodata tiles give no record
    path = make_raster("t.tif", data, transform=TRANSFORM, nodata=0)
    out = tmp_path / "tiles.parquet"
    result = run(path, Tagger(), out, tile=100, overlap=0, quiet=True)
    table = pq.read_table(out)
    assert table.num_rows == result.tiles - result.skipped == 9
    assert set(table["tag"].to_pylist()) == {"bright"}
    assert np.allclose(np.stack(table["embedding"].to_numpy(zero_copy_only=False)), 200)
    geoms = shapely.from_wkb(table["geometry"].to_pylist())
    scene = open_scene(path)
    for g, r, c in zip(geoms, table["row_off"].to_pylist(), table["col_off"].to_pylist()):
        west, north = pixel_to_map(TRANSFORM, c, r)
        east, south = pixel_to_map(TRANSFORM, c + 100, r + 100)
        assert g.bounds == (west, south, east, north)
        assert scene.bounds[0] <= west and east <= scene.bounds[2]


def test_vectors_per_tile_need_parquet(make_raster, tmp_path):
    path = make_raster("t.tif", np.full((3, 200, 200), 9, np.uint8))
    with pytest.raises(OutputError, match=r"column 'embedding' holds a vector per tile; write it to a \.parquet"):
        run(path, Tagger(), tmp_path / "tiles.gpkg", tile=100, overlap=0, quiet=True)
    assert not list(tmp_path.glob("*.gpkg")) and not list(tmp_path.glob(".tiles*"))


def test_class_ids_must_match_class_names(scene, tmp_path):
    boxes, labels = objects_xyxy(np.random.default_rng(3), 10, 500, 600)
    detector = ClippingDetector(boxes, labels + 5)
    detector.class_names = ["car", "ship"]
    with pytest.raises(PredictorError, match=r"class ids must be in \[0, 2\)"):
        run(scene, detector, tmp_path / "b.gpkg", tile=128, overlap=40, quiet=True)
    assert not list(tmp_path.glob("*b.gpkg*"))


def test_class_names_column(scene, tmp_path):
    boxes, labels = objects_xyxy(np.random.default_rng(4), 12, 500, 600)
    detector = ClippingDetector(boxes, labels)
    detector.class_names = ["car", "ship", "plane"]
    geoms, cols = _read(run(scene, detector, tmp_path / "b.geojson", tile=128, overlap=40, quiet=True).output)
    assert len(geoms) == 12
    assert sorted(cols["class"].tolist()) == sorted(np.array(["car", "ship", "plane"])[labels].tolist())
