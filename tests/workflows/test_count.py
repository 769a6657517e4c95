"""`count_objects` / `count_scene`: counts per zone equal a shapely spatial join of the boxes' centres (zones in
the scene's CRS or another), grid cells hold each centre once with densities per hectare over the cell's area in
the scene, and a grid the CRS cannot hold, or bad zones, are refused before the detector runs."""

import numpy as np
import pyproj
import pytest
import shapely
from affine import Affine

from rsvision.errors import InputNotFoundError, RsvisionError
from rsvision.io import open_scene
from rsvision.io.vectors import VectorLayer, read_vectors
from rsvision.workflows.count import count_objects, count_scene, grid_cells
from rsvision.workflows.detect import detect_scene

UTM = Affine(0.5, 0, 500010, 0, -0.5, 4000030)  # EPSG:32633, 0.5 m; not on whole tens of metres
CLASSES = ["tree", "car"]


@pytest.fixture
def found(object_scene, bright_boxes):
    path, _, _ = object_scene("s.tif", (400, 500), 40, rotated=True, seed=5, transform=UTM)
    return path, detect_scene(path, bright_boxes(rotated=True), quiet=True)


def _zones(rng, bounds, n=6):
    """Random rectangles and triangles over ``bounds``, some overlapping."""
    left, bottom, right, top = bounds
    zones = []
    for _ in range(n):
        x, y = rng.uniform(left, right - 40), rng.uniform(bottom, top - 40)
        w, h = rng.uniform(30, 150, 2)
        zones.append(shapely.Polygon([(x, y), (x + w, y), (x + w, y + h)]) if rng.random() < 0.3 else
                     shapely.box(x, y, x + w, y + h))  # fmt: skip
    return zones


def _joined(boxes, zones, classes):
    """Counts per zone and class by shapely: zone.intersects(centre) for every pair."""
    centres = [g.centroid for g in boxes.geometries]
    names = boxes.columns["class"]
    return np.array([[sum(z.intersects(c) and n == k for c, n in zip(centres, names)) for k in classes] for z in zones])


def test_counts_per_zone_equal_a_spatial_join(found):
    _, result = found
    zones = _zones(np.random.default_rng(0), _scene_bounds(result))
    counts = count_objects(result, zones=VectorLayer(zones, {"name": [f"z{i}" for i in range(6)]}, "EPSG:32633"))
    expected = _joined(result.layer, zones, CLASSES)
    got = np.stack([counts.columns[f"count_{c}"] for c in CLASSES], axis=1)
    np.testing.assert_array_equal(got, expected)
    assert expected.sum() > 0
    np.testing.assert_array_equal(counts.columns["count"], expected.sum(1))
    np.testing.assert_array_equal(counts.columns["name"], [f"z{i}" for i in range(6)])
    areas = np.array([z.area for z in zones])
    np.testing.assert_allclose(counts.columns["area"], areas)
    np.testing.assert_allclose(counts.columns["density_ha"], expected.sum(1) / (areas / 1e4))


def test_zones_in_another_crs_are_reprojected(found, tmp_path):
    _, result = found
    zones = _zones(np.random.default_rng(1), _scene_bounds(result))
    to_lonlat = pyproj.Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    lonlat = [shapely.transform(z, lambda xy: np.column_stack(to_lonlat.transform(*xy.T))) for z in zones]
    VectorLayer(lonlat, {"id": np.arange(6)}, "EPSG:4326").write(tmp_path / "zones.geojson")
    counts = count_objects(result, zones=tmp_path / "zones.geojson")
    got = np.stack([counts.columns[f"count_{c}"] for c in CLASSES], axis=1)
    np.testing.assert_array_equal(got, _joined(result.layer, zones, CLASSES))


def test_grid_cells_hold_each_centre_once(found):
    _, result = found
    bounds = _scene_bounds(result)
    counts = count_objects(result, grid=50, extent=bounds)
    assert counts.columns["count"].sum() == len(result.layer)
    cells = counts.geometries
    assert np.isclose(shapely.area(shapely.union_all(cells)), shapely.box(*bounds).area)  # the extent, once
    # whole cells sit on multiples of 50 m; cells at the scene's edge are cut to it
    whole = np.isclose(counts.columns["area"], 2500)
    assert whole.any() and (~whole).any()
    assert np.allclose(np.array([c.bounds for c in cells[whole]]) % 50, 0)
    expected = _joined(result.layer, list(cells), CLASSES)  # no centre lies on a cell edge here
    got = np.stack([counts.columns[f"count_{c}"] for c in CLASSES], axis=1)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(counts.columns["density_ha"], got.sum(1) / (counts.columns["area"] / 1e4))


def test_grid_is_half_open_and_lines_up():
    boxes = VectorLayer(
        [shapely.box(99, 99, 101, 101), shapely.box(9, 9, 11, 11)], {"class": ["tree", "tree"]}, "EPSG:32633"
    )
    counts = count_objects(boxes, grid=100, extent=(0, 0, 250, 200))
    by_cell = {(r, c): n for r, c, n in zip(counts.columns["row"], counts.columns["col"], counts.columns["count"])}
    assert by_cell[(0, 1)] == 1  # the centre (100, 100) counts in the cell north-east of the corner
    assert by_cell[(1, 0)] == 1 and sum(by_cell.values()) == 2
    assert len(grid_cells((0, 0, 250, 200), 100, boxes.crs)) == 6


def test_grids_the_crs_cannot_hold_are_refused():
    lonlat = VectorLayer([shapely.box(10, 50, 10.001, 50.001)], {"class": ["tree"]}, "EPSG:4326")
    with pytest.raises(RsvisionError, match="geographic: give --zones, or reproject"):
        count_objects(lonlat, grid=100)
    pixels = VectorLayer([shapely.box(0, 0, 5, 5)], {"class": ["tree"]}, None)
    with pytest.raises(RsvisionError, match="no georeference"):
        count_objects(pixels, grid=100)
    with pytest.raises(RsvisionError, match="one of them"):
        count_objects(pixels)
    with pytest.raises(RsvisionError, match="positive"):
        count_objects(lonlat, grid=-5)


def test_count_scene_writes_a_geopackage(object_scene, bright_boxes, tmp_path):
    path, truth, labels = object_scene("c.tif", (300, 300), 15, transform=UTM)
    result = count_scene(path, bright_boxes(), tmp_path / "counts.gpkg", grid=40, quiet=True)
    layer = read_vectors(tmp_path / "counts.gpkg")
    assert layer.crs.to_epsg() == 32633
    assert layer.columns["count"].sum() == result.counted == len(truth)
    assert layer.columns["count_car"].sum() == (labels == 1).sum()
    from_file = count_objects(detect_scene(path, bright_boxes(), quiet=True).layer, grid=40, extent=_bounds(path))
    np.testing.assert_array_equal(from_file.columns["count"], layer.columns["count"])


def test_bad_zones_leave_no_output_and_run_nothing(object_scene, bright_boxes, tmp_path):
    class Never(bright_boxes):
        def predict(self, batch):
            raise AssertionError("the detector must not run")

    path, _, _ = object_scene("n.tif", (100, 100), 2, transform=UTM)
    with pytest.raises(InputNotFoundError):
        count_scene(path, Never(), tmp_path / "o.gpkg", zones=tmp_path / "missing.gpkg")
    with pytest.raises(RsvisionError, match="zones have no CRS"):
        count_scene(path, Never(), tmp_path / "o.gpkg", zones=VectorLayer([shapely.box(0, 0, 1, 1)], {}, None))
    with pytest.raises(RsvisionError, match="unknown vector format"):
        count_scene(path, Never(), tmp_path / "o.csv", grid=10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.tif"]


def _scene_bounds(result):
    return tuple(shapely.total_bounds(result.layer.geometries) + np.array([-20, -20, 20, 20]))


def _bounds(path):
    with open_scene(path) as scene:
        return tuple(scene.bounds)
