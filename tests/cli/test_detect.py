"""`rsvision detect` and `rsvision count`: with a model-free predictor in place of the model, a generated scene's
bright squares come out as polygons (and DOTA / COCO files, and counts per grid cell or zone) with a summary of
boxes per class; without the built-in model, bad inputs and bad outputs give one line, exit code 2, and no file."""

import json

import numpy as np
import pytest
import shapely
from affine import Affine
from scipy import ndimage

from rsvision.geometry import Detections
from rsvision.io.vectors import VectorLayer, read_vectors
from rsvision.tasks.base import BoxPredictor
from rsvision.workflows import detect

SQUARES = [(20, 30), (100, 40), (60, 150), (170, 170)]  # top-left corners of 16 px squares; the last is a car


class Squares(BoxPredictor):
    """The enclosing box of each bright region of band 1; ``car`` where band 2 is bright too."""

    class_names = ("tree", "car")

    def predict(self, batch):
        out = []
        for image in batch.images:
            regions, n = ndimage.label(image[0] > 128)
            boxes = [[s[1].start, s[0].start, s[1].stop, s[0].stop] for s in ndimage.find_objects(regions)]
            cars = np.asarray(ndimage.mean(image[1], regions, np.arange(1, n + 1))) > 128 if n else []
            out.append(Detections(np.asarray(cars, dtype=np.int64), np.full(n, 0.9), boxes=np.reshape(boxes, (-1, 4))))
        return out


@pytest.fixture
def scene(make_raster):
    image = np.full((3, 200, 200), 30, np.uint8)
    for i, (row, col) in enumerate(SQUARES):
        image[0, row : row + 16, col : col + 16] = 220
        if i == len(SQUARES) - 1:
            image[1, row : row + 16, col : col + 16] = 220
    return make_raster("scene.tif", image, transform=Affine(0.5, 0, 500000, 0, -0.5, 4000000))


@pytest.fixture
def squares(monkeypatch):
    """``rsvision detect`` and ``count`` get the Squares predictor whatever -m says; the calls are recorded."""
    calls = []

    def load(model, scene=None, *, bands=None, score=0.3, tile=None, device="cpu"):
        calls.append({"model": model, "bands": bands, "score": score, "tile": tile, "device": device})
        return Squares(), f"note of {scene.band_names}"

    monkeypatch.setattr(detect, "load_detector", load)
    return calls


def test_detect_writes_polygons_and_says_what_it_found(run_cli, capsys, scene, tmp_path, squares):
    code, _, err = run_cli(capsys, "detect", scene, "-m", "x.safetensors", "-o", tmp_path / "o.gpkg",
                             "--preview", tmp_path / "o.png", "--tile", "64", "--device", "cpu")  # fmt: skip
    assert code in (0, None), err
    layer = read_vectors(tmp_path / "o.gpkg")
    assert len(layer) == 4 and sorted(layer.columns["class"]) == ["car", "tree", "tree", "tree"]
    np.testing.assert_allclose(layer.columns["area"], 64.0)  # 16 x 16 pixels of 0.5 m
    assert "3 tree, 1 car ->" in err and (tmp_path / "o.png").is_file()
    assert squares == [{"model": "x.safetensors", "bands": None, "score": 0.3, "tile": 64, "device": "cpu"}]
    assert "note: note of ['red', 'green', 'blue']" in err


@pytest.mark.parametrize(("name", "fmt"), [("o.txt", None), ("o.json", "coco"), ("o.parquet", "geoparquet")])
def test_detect_formats(run_cli, capsys, scene, tmp_path, squares, name, fmt):
    extra = ["--format", fmt] if fmt else []
    code, _, err = run_cli(capsys, "detect", scene, "-o", tmp_path / name, *extra)
    assert code in (0, None), err
    text = (tmp_path / name).read_text(errors="replace")
    if name.endswith(".txt"):
        lines = text.splitlines()
        assert lines[:2] == ["imagesource:scene.tif", "gsd:0.5"] and len(lines) == 6
        assert lines[2].split()[:8] == [repr(float(v)) for v in (30, 20, 46, 20, 46, 36, 30, 36)]
    elif name.endswith(".json"):
        assert len(json.loads(text)["annotations"]) == 4


def test_count_in_a_grid_and_in_zones(run_cli, capsys, scene, tmp_path, squares):
    code, _, err = run_cli(capsys, "count", scene, "--grid", "50", "-o", tmp_path / "grid.gpkg")
    assert code in (0, None), err
    cells = read_vectors(tmp_path / "grid.gpkg")
    assert cells.columns["count"].sum() == 4 and cells.columns["count_car"].sum() == 1
    assert "4 objects in" in err and "(3 tree, 1 car)" in err
    west = shapely.box(500000, 3999900, 500050, 4000000)  # the scene's west half holds squares 1 and 3
    VectorLayer([west], {"name": ["west"]}, "EPSG:32633").write(tmp_path / "zones.gpkg")
    code, _, err = run_cli(capsys, "count", scene, "--zones", tmp_path / "zones.gpkg", "-o", tmp_path / "z.gpkg")
    assert code in (0, None), err
    zones = read_vectors(tmp_path / "z.gpkg")
    assert zones.columns["name"].tolist() == ["west"] and zones.columns["count_tree"].tolist() == [2]
    np.testing.assert_allclose(zones.columns["density_ha"], 2 / 0.5)  # 2 trees on 50 m x 100 m


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["detect", "{tmp}/missing.tif", "-o", "{tmp}/o.gpkg"], "no such file or folder"),
        (["detect", "{scene}", "-o", "{tmp}/o.gpkg", "--format", "shp"], "unknown format 'shp'"),
        (["detect", "{scene}", "-o", "{tmp}/o.shp"], "unknown format '.shp'"),
        (["detect", "{scene}", "-o", "{tmp}/nowhere/o.gpkg"], "does not exist"),
        (["detect", "{scene}", "-o", "{tmp}/o.gpkg", "--score", "2"], "--score must be between 0 and 1"),
        (
            ["detect", "{scene}", "-m", "neon_trees_retinanet", "-o", "{tmp}/o.gpkg", "--classes", "boat"],
            "unknown class 'boat'",
        ),
        (["count", "{scene}", "-o", "{tmp}/o.gpkg"], "give --zones ZONES.gpkg or --grid METRES"),
        (["count", "{scene}", "-o", "{tmp}/o.gpkg", "--grid", "5", "--zones", "{scene}"], "one of them"),
        (["count", "{scene}", "-o", "{tmp}/o.gpkg", "--zones", "{tmp}/z.gpkg"], "no such file or folder"),
        (["count", "{scene}", "-o", "{tmp}/nowhere/o.gpkg", "--grid", "5"], "does not exist"),
        (["count", "{scene}", "-o", "{tmp}/o.gpkg", "--grid", "0"], "--grid must be a positive cell size"),
    ],
)
def test_bad_input_is_one_line_and_no_file(run_cli, capsys, scene, tmp_path, squares, args, message):
    argv = [a.format(tmp=tmp_path, scene=scene) for a in args]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif"]


def test_without_the_built_in_model_says_how_to_get_one(run_cli, capsys, scene, tmp_path, monkeypatch):
    import rsvision.models.detection as detection

    monkeypatch.setattr(detection, "builtin_weights", lambda: {})
    for command in (
        ["detect", scene, "-o", tmp_path / "o.gpkg"],
        ["count", scene, "--grid", "50", "-o", tmp_path / "c.gpkg"],
    ):
        code, _, err = run_cli(capsys, *command)
        assert code == 2 and err.count("\n") == 1
        assert "neon_trees_retinanet) is not installed: give -m MODEL.safetensors" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif"]
