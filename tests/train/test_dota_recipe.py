"""The DOTA oriented-detection recipe on the real dota8 tiles and devkit image, shrunk to seconds: its samples are the
labels' le90 boxes (corners outside the tiles clipped and counted), a two-step run writes weights and a card whose
numbers ``evaluate_detector_model`` reproduces, and ``rsvision detect`` runs that model over 1024 px tiles of a
scene larger than one tile into DOTA labelTxt, task-1 and GeoPackage files."""

import math
import os
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from rsvision.bench.model_eval import evaluate_detector_model
from rsvision.cli import main
from rsvision.datasets.dota import DOTA_V1_CLASSES
from rsvision.errors import AnnotationWarning
from rsvision.geometry.boxes import rbox_to_poly
from rsvision.io.images import read_image
from rsvision.io.vectors import read_vectors
from rsvision.models.detection import is_rotated
from rsvision.models.resolve import resolve_model
from rsvision.train.detection import DetTrainConfig
from rsvision.train.recipes import dota

# as tests/conftest.py finds the shared data: a module-scoped fixture cannot ask the function-scoped ``shared``
DOTA = Path(os.environ.get("RSVISION_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data")) / "dota"
pytestmark = pytest.mark.skipif(not DOTA.is_dir(), reason=f"real data not available: {DOTA}")

TINY = replace(
    dota.OBB,
    config=DetTrainConfig(epochs=1, steps=2, batch_size=1, crop=96, rotate=True),
    arch_kwargs={"backbone": "timm:efficientnet_lite0", "channels": 16, "head_convs": 1},
)


def label_corners(path: Path, size: int) -> np.ndarray:
    """The YOLO-OBB file's corners in pixels, clipped to the tile: read here, apart from the reader under test."""
    values = np.loadtxt(path, ndmin=2)[:, 1:]
    return np.clip(values, 0, 1) * size


def is_rectangle(corners: np.ndarray, tol_deg: float = 0.5) -> bool:
    """Whether the 4 corners (x1 y1 .. x4 y4) make right angles at every corner."""
    p = corners.reshape(4, 2)
    sides = np.roll(p, -1, axis=0) - p
    nxt = np.roll(sides, -1, axis=0)
    cos = (sides * nxt).sum(1) / (np.linalg.norm(sides, axis=1) * np.linalg.norm(nxt, axis=1))
    return bool(np.all(np.abs(cos) < math.sin(math.radians(tol_deg))))


def corner_gap(a: np.ndarray, b: np.ndarray) -> float:
    """The largest distance from a corner of ``a`` to the nearest corner of ``b`` (order and start aside)."""
    pa, pb = a.reshape(-1, 2), b.reshape(-1, 2)
    return float(np.linalg.norm(pa[:, None] - pb[None], axis=-1).min(1).max())


def hugs(corners: np.ndarray, rbox: np.ndarray, tol: float = 0.01) -> bool:
    """Whether ``rbox`` encloses the corners (within ``tol`` pixels) and each of its four sides touches one, as the
    minimum-area enclosing rectangle does."""
    cx, cy, w, h, a = rbox
    d = corners.reshape(-1, 2) - (cx, cy)
    u = d[:, 0] * math.cos(a) + d[:, 1] * math.sin(a)  # along w
    v = -d[:, 0] * math.sin(a) + d[:, 1] * math.cos(a)
    extremes = np.array([u.max(), -u.min(), v.max(), -v.min()])
    return bool(np.allclose(extremes, [w / 2, w / 2, h / 2, h / 2], atol=tol))


def test_samples_are_le90_boxes_of_the_labels_with_outside_corners_clipped_and_counted():
    with pytest.warns(AnnotationWarning, match="16 objects had normalised values outside"):
        train = dota.open_parts(DOTA, [("dota8", "yolo-obb", "train")])
    assert train[0].issues == {"clipped": 16} and train[0].classes == DOTA_V1_CLASSES
    samples = dota.obb_samples(train)
    assert samples.rotated and len(samples) == 4
    gaps, exact = [], 0
    for sid, image, boxes, labels in zip(samples.ids, samples.images, samples.boxes, samples.labels):
        assert image.shape == (3, 1024, 1024)
        corners = label_corners(DOTA / "dota8" / "labels" / "train" / f"{sid}.txt", 1024)
        assert len(boxes) == len(corners) == len(labels) and labels.max() < 15
        w, h, angle = boxes[:, 2], boxes[:, 3], boxes[:, 4]  # le90: w the long side, angle in [-pi/2, pi/2)
        assert np.all(w >= h) and np.all(h > 0) and np.all((angle >= -math.pi / 2) & (angle < math.pi / 2))
        for c, box in zip(corners, boxes):
            assert hugs(c, box)
            gaps.append(corner_gap(c, rbox_to_poly(box)))
            if is_rectangle(c):  # a rectangular label comes back as itself
                assert gaps[-1] < 1.0 and corner_gap(rbox_to_poly(box), c) < 1.0
                exact += 1
    # DOTA's labels are hand-drawn quadrilaterals, near-rectangles: their boxes' corners are a pixel or two off
    assert exact >= 3 and np.median(gaps) < 2.0


def test_the_devkit_image_is_read_whole_with_its_labeltxt_classes():
    (devkit,) = dota.open_parts(DOTA, [("devkit_example", "dota", None)])
    samples = dota.obb_samples([devkit])
    assert samples.ids == ["P1888"] and samples.images[0].shape == (3, 557, 712)
    names = {DOTA_V1_CLASSES[i] for i in samples.labels[0]}
    assert names == {"large-vehicle", "small-vehicle"} and len(samples.boxes[0]) == 64


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """The recipe run end to end for two steps of one 96 px crop, with a 16-channel pyramid and one-convolution
    head (the backbone still starts from the shipped AID classifier): the weights path and the work folder."""
    root = tmp_path_factory.mktemp("dota_recipe")
    (root / "out").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnnotationWarning)
        path = dota.train_obb_recipe(TINY, out=str(root / "out"), data=str(DOTA), work=str(root / "w"), progress=False)
    return path, root / "w"


def test_a_two_step_run_writes_weights_whose_card_eval_reproduces(tiny_model):
    path, work = tiny_model
    loaded = resolve_model(path)
    card = loaded.weights
    assert is_rotated(loaded.module) and card.architecture == "rotated_fcos" and card.task.value == "detection"
    assert card.classes == list(DOTA_V1_CLASSES) and card.preprocessing.input_size == 1024
    assert [m.dataset for m in card.metrics] == ["dota8"]
    assert [r["epoch"] for r in card.notes["history"]] == [1] and "val_ap50" not in card.notes["history"][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnnotationWarning)
        (val,) = dota.open_parts(DOTA, [dota.VAL_PART])
    scores = evaluate_detector_model(loaded, val)
    assert scores["n_images"] == 4
    assert all(math.isfinite(scores[k]) for k in ("map50", "map50_voc07", "map"))
    assert card.metrics[0].values == {k: round(scores[k], 4) for k in dota.CARD_KEYS}
    log = (work / "train.log").read_text()
    assert "dota8/train: 4 images, 125 objects (16 clipped)" in log and "no validation during training" in log


@pytest.fixture
def mosaic(make_raster):
    """A 1024 x 1300 GeoTIFF (0.5 m, UTM) of a dota8 validation tile and part of another: two 1024 px tiles."""
    a, b = (read_image(p)[:3] for p in sorted((DOTA / "dota8" / "images" / "val").glob("*.jpg"))[:2])
    image = np.concatenate([a, b[:, :, :276]], axis=2)
    return make_raster("mosaic.tif", image, transform=Affine(0.5, 0, 500000, 0, -0.5, 4000000))


def detect(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as done:
        main(["detect", *map(str, argv), "--threads", "2"])
    err = capsys.readouterr().err
    assert done.value.code in (0, None), err
    return err


def test_detect_on_a_large_scene_writes_dota_and_geopackage_files(tiny_model, mosaic, tmp_path, capsys):
    path, _ = tiny_model
    err = detect(capsys, mosaic, "-m", path, "--format", "dota", "-o", tmp_path / "mosaic.txt", "--score", "0")
    assert "2 tiles" in err  # 1024 px tiles (the card's input size): 1300 px take two
    lines = (tmp_path / "mosaic.txt").read_text().splitlines()
    assert lines[:2] == ["imagesource:mosaic.tif", "gsd:0.5"]
    for line in lines[2:]:
        parts = line.split()
        assert len(parts) == 10 and parts[8] in DOTA_V1_CLASSES and parts[9] == "0"
        assert all(math.isfinite(float(v)) for v in parts[:8])
    task1 = tmp_path / "task1"
    task1.mkdir()
    detect(capsys, mosaic, "-m", path, "--format", "dota", "-o", task1, "--score", "0")
    assert sorted(p.name for p in task1.iterdir()) == sorted(f"Task1_{c}.txt" for c in DOTA_V1_CLASSES)
    for name in DOTA_V1_CLASSES:
        for line in (task1 / f"Task1_{name}.txt").read_text().splitlines():
            parts = line.split()
            assert len(parts) == 10 and parts[0] == "mosaic" and 0 <= float(parts[1]) <= 1
    detect(capsys, mosaic, "-m", path, "-o", tmp_path / "mosaic.gpkg", "--score", "0")
    layer = read_vectors(tmp_path / "mosaic.gpkg")
    assert layer.crs.to_epsg() == 32633
    assert {"class_id", "class", "score", "area", "cx", "cy", "w", "h", "angle"} <= set(layer.columns)
    assert len(layer) == len(lines) - 2 == sum(len(p.read_text().splitlines()) for p in task1.iterdir())
