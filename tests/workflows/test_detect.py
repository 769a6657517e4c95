"""`detect_scene`: bright objects drawn on generated georeferenced scenes are found by a model-free box predictor
through the engine; boxes come out as polygons in the scene's CRS with class, score, area and their le90
parameters, which round-trip pixel -> map -> pixel; a scene cut into tiles gives the same boxes as one tile;
DOTA labelTxt / task-1 and COCO files read back to the same pixel boxes; bad input is refused before any file."""

import json

import numpy as np
import pyproj
import pytest
import shapely
from affine import Affine
from PIL import Image

from rsvision.datasets.coco import CocoDataset
from rsvision.datasets.dota import DotaDataset, read_task1, write_labeltxt
from rsvision.errors import InputNotFoundError, OutputError, PredictorError, RsvisionError, WeightsError
from rsvision.geometry import box_iou, boxes_to_polygons, polygons_to_rboxes, rbox_to_poly, rotated_iou
from rsvision.io.vectors import read_vectors
from rsvision.workflows.detect import detect_scene, load_detector

CLASSES = ["tree", "car"]  # BrightBoxes' classes
UTM = Affine(0.5, 0, 500000, 0, -0.5, 4000000)  # EPSG:32633, 0.5 m


def _match(found, truth, rotated):
    """IoU of every found box with every drawn one."""
    return rotated_iou(found, truth) if rotated else box_iou(found, truth)


@pytest.mark.parametrize("rotated", [False, True])
def test_boxes_as_polygons_in_the_scene_crs(bright_boxes, object_scene, tmp_path, rotated):
    path, truth, labels = object_scene("s.tif", (240, 320), 12, rotated=rotated, transform=UTM)
    result = detect_scene(path, bright_boxes(rotated), tmp_path / "boxes.gpkg", quiet=True)
    layer = read_vectors(tmp_path / "boxes.gpkg")
    assert len(layer) == len(truth) == len(result.detections)
    assert layer.crs.to_epsg() == 32633
    assert set(layer.columns) >= {"class_id", "class", "score", "area", "cx", "cy", "w", "h", "angle"}
    boxes = result.detections.rboxes if rotated else result.detections.boxes
    iou = _match(boxes, truth if rotated else _xyxy(truth), rotated)
    assert (iou.max(1) > 0.7).all()  # each found box is one drawn object (pixelised edges)
    names = np.array(CLASSES)[labels[iou.argmax(1)]]
    assert (layer.columns["class"] == names).all()
    cols = layer.columns
    np.testing.assert_allclose(cols["area"], cols["w"] * cols["h"] * 0.25, rtol=1e-9)  # 0.5 m pixels
    assert (cols["w"] >= cols["h"]).all() and ((cols["angle"] >= -np.pi / 2) & (cols["angle"] < np.pi / 2)).all()
    assert set(result.counts) <= set(CLASSES) and sum(result.counts.values()) == len(truth)


@pytest.mark.parametrize("rotated", [False, True])
def test_pixel_map_pixel_round_trip(bright_boxes, object_scene, rotated):
    transform = Affine(0.3, 0.1, 600000, 0.1, -0.3, 5000000)  # a rotated grid: map axes are not pixel axes
    path, _, _ = object_scene("r.tif", (200, 200), 8, rotated=rotated, transform=transform)
    result = detect_scene(path, bright_boxes(rotated), quiet=True)
    cols = result.layer.columns
    params = np.stack([cols[k] for k in ("cx", "cy", "w", "h", "angle")], axis=1)
    again = boxes_to_polygons(params, transform)  # pixel -> map
    for a, b in zip(again, result.layer.geometries):
        assert shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), tolerance=1e-6)
    back = polygons_to_rboxes(result.layer.geometries, transform)  # map -> pixel
    np.testing.assert_allclose(back[:, :4], params[:, :4], atol=1e-6)
    np.testing.assert_allclose(rbox_to_poly(back), rbox_to_poly(params), atol=1e-6)


@pytest.mark.parametrize("rotated", [False, True])
def test_tiles_give_the_boxes_of_the_whole_image(bright_boxes, object_scene, rotated):
    path, truth, _ = object_scene("big.tif", (900, 1100), 70, rotated=rotated, seed=3, transform=UTM)
    tiled = detect_scene(path, bright_boxes(rotated), tile=200, overlap=64, quiet=True).detections
    whole = detect_scene(path, bright_boxes(rotated), tile=1100, quiet=True).detections
    assert len(whole) == len(truth)
    assert len(tiled) == len(whole)
    key = (lambda d: d.rboxes) if rotated else (lambda d: d.boxes)
    iou = _match(key(tiled), key(whole), rotated)
    best = iou.argmax(1)
    assert len(set(best.tolist())) == len(whole)  # one to one
    assert (iou.max(1) > 0.99).all()
    np.testing.assert_array_equal(tiled.labels, whole.labels[best])


@pytest.mark.filterwarnings("ignore:.*label files have no image")
def test_dota_labeltxt_written_and_read_back(bright_boxes, object_scene, tmp_path):
    path, _, _ = object_scene("d.tif", (256, 256), 10, rotated=True, transform=UTM)
    folder = tmp_path / "dota"
    folder.mkdir()
    result = detect_scene(path, bright_boxes(True), folder / "d.txt", format="dota", quiet=True)
    data = DotaDataset(folder, classes=CLASSES)
    sample = data[0] if hasattr(data, "__getitem__") else next(iter(data))
    assert sample.meta["gsd"] == 0.5 and sample.meta["imagesource"] == "d.tif"
    np.testing.assert_array_equal(sample.targets["polygons"], result.detections.as_polygons())
    names = np.array(data.classes)[sample.targets["labels"]]
    np.testing.assert_array_equal(names, result.layer.columns["class"])
    again = tmp_path / "again"
    write_labeltxt(again, [sample], data.classes)
    assert (again / "d.txt").read_text() == (folder / "d.txt").read_text()


def test_dota_task1_into_a_folder(bright_boxes, object_scene, tmp_path):
    path, _, _ = object_scene("t.tif", (200, 240), 9, rotated=True)
    out = tmp_path / "task1"
    out.mkdir()
    result = detect_scene(path, bright_boxes(True), out, quiet=True)
    assert result.format == "dota"
    found, _ = read_task1(out, CLASSES)
    dets = found["t"]
    order = np.lexsort((dets.scores, dets.labels))
    mine = np.lexsort((result.detections.scores, result.detections.labels))
    np.testing.assert_array_equal(dets.polygons[order], result.detections.as_polygons()[mine])
    np.testing.assert_array_equal(dets.scores[order], result.detections.scores[mine])


@pytest.mark.parametrize("rotated", [False, True])
def test_coco_json_reads_back(bright_boxes, object_scene, tmp_path, rotated):
    path, _, _ = object_scene("c.tif", (160, 200), 7, rotated=rotated)
    result = detect_scene(path, bright_boxes(rotated), tmp_path / "c.json", quiet=True)
    data = CocoDataset(tmp_path / "c.json")
    sample = data[0] if hasattr(data, "__getitem__") else next(iter(data))
    np.testing.assert_allclose(sample.targets["boxes"], result.detections.as_boxes(), atol=1e-9)
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["images"][0] == {"id": 1, "file_name": "c.tif", "width": 200, "height": 160}
    assert [a["score"] for a in doc["annotations"]] == result.detections.scores.tolist()
    assert ("segmentation" in doc["annotations"][0]) == rotated


@pytest.mark.parametrize("name", ["b.geojson", "b.parquet"])
def test_geojson_and_geoparquet(bright_boxes, object_scene, tmp_path, name):
    path, truth, _ = object_scene("g.tif", (160, 160), 6, transform=UTM)
    result = detect_scene(path, bright_boxes(), tmp_path / name, quiet=True)
    layer = read_vectors(tmp_path / name)
    assert len(layer) == len(truth) and layer.crs.to_epsg() == 32633
    for a, b in zip(layer.geometries, result.layer.geometries):
        assert shapely.equals_exact(a, b, tolerance=1e-6)
    np.testing.assert_array_equal(layer.columns["class"], result.layer.columns["class"])


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_areas_without_georeference_and_on_a_geographic_grid(bright_boxes, object_scene):
    with pytest.warns(UserWarning, match="georeference"):
        path, _, _ = object_scene("p.tif", (120, 120), 4, crs=None)
        pixels = detect_scene(path, bright_boxes(), quiet=True)
    cols = pixels.layer.columns
    np.testing.assert_allclose(cols["area"], cols["w"] * cols["h"])
    degrees = Affine(1e-5, 0, 10.0, 0, -1e-5, 50.0)
    path, _, _ = object_scene("ll.tif", (120, 120), 4, crs="EPSG:4326", transform=degrees)
    geo = detect_scene(path, bright_boxes(), quiet=True)
    geod = pyproj.Geod(ellps="WGS84")
    expected = [abs(geod.geometry_area_perimeter(g)[0]) for g in geo.layer.geometries]
    np.testing.assert_allclose(geo.layer.columns["area"], expected)
    assert 0.5 < expected[0] / (geo.layer.columns["w"][0] * geo.layer.columns["h"][0] * 0.79) < 1.5  # ~0.79 m^2/px


def test_score_and_class_filters_and_preview(bright_boxes, object_scene, tmp_path):
    path, _, labels = object_scene("f.tif", (200, 200), 10, transform=UTM)
    result = detect_scene(path, bright_boxes(), classes=["car"], preview=tmp_path / "p.png", quiet=True)
    assert (result.layer.columns["class"] == "car").all() and len(result.layer) == (labels == 1).sum()
    assert result.describe() == f"{(labels == 1).sum()} car"
    with Image.open(tmp_path / "p.png") as picture:
        assert picture.width > 200 and picture.height >= 190
    assert len(detect_scene(path, bright_boxes(), score=0.95, quiet=True).layer) == 0  # scores are 230 / 255


def test_bad_outputs_are_refused_before_the_run(bright_boxes, object_scene, tmp_path):
    path, _, _ = object_scene("x.tif", (96, 96), 1)
    with pytest.raises(OutputError, match="unknown format 'shp'"):
        detect_scene(path, bright_boxes(), tmp_path / "o.shp", format="shp")
    with pytest.raises(OutputError, match="unknown format '.shp'"):
        detect_scene(path, bright_boxes(), tmp_path / "o.shp")
    with pytest.raises(OutputError, match="--format coco writes .json"):
        detect_scene(path, bright_boxes(), tmp_path / "o.gpkg", format="coco")
    with pytest.raises(OutputError, match="folder .*nowhere does not exist"):
        detect_scene(path, bright_boxes(), tmp_path / "nowhere" / "o.gpkg")
    with pytest.raises(OutputError, match="preview is a PNG"):
        detect_scene(path, bright_boxes(), tmp_path / "o.gpkg", preview=tmp_path / "p.jpg")
    with pytest.raises(InputNotFoundError):
        detect_scene(tmp_path / "missing.tif", bright_boxes(), tmp_path / "o.gpkg")
    with pytest.raises(RsvisionError, match="unknown class 'boat'"):
        detect_scene(path, bright_boxes(), tmp_path / "o.gpkg", classes=["boat"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tif"]


def test_a_failing_predictor_leaves_no_file(bright_boxes, object_scene, tmp_path):
    class Broken(bright_boxes):
        def predict(self, batch):
            return []  # not one Detections per tile

    path, _, _ = object_scene("y.tif", (300, 300), 3)
    with pytest.raises(PredictorError):
        detect_scene(path, Broken(), tmp_path / "o.gpkg", preview=tmp_path / "p.png", tile=128, quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["y.tif"]


def test_an_existing_output_survives_a_failed_run(bright_boxes, object_scene, tmp_path):
    path, _, _ = object_scene("z.tif", (160, 160), 2)
    detect_scene(path, bright_boxes(), tmp_path / "o.gpkg", quiet=True)
    before = (tmp_path / "o.gpkg").read_bytes()

    class Broken(bright_boxes):
        def predict(self, batch):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        detect_scene(path, Broken(), tmp_path / "o.gpkg", quiet=True)
    assert (tmp_path / "o.gpkg").read_bytes() == before


def test_default_model_missing_says_how_to_get_one(monkeypatch, tmp_path, tiny_classifier):
    import rsvision.models.detection as detection

    monkeypatch.setattr(detection, "builtin_weights", lambda: {})
    with pytest.raises(WeightsError, match="neon_trees_retinanet.*not installed.*-m MODEL.safetensors"):
        load_detector(None)
    weights = tiny_classifier(tmp_path)
    with pytest.raises(WeightsError, match="is a classification model; detect needs a detection model"):
        load_detector(str(weights))
    with pytest.raises(WeightsError, match=f"-m {weights} is a classification model; detect needs"):
        load_detector(f"{weights}+{weights}")  # each member of an ensemble is checked before anything is built


def _xyxy(rboxes):
    cx, cy, w, h = rboxes[:, :4].T
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
