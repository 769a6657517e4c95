"""`rsvision classify`: a folder -> CSV (bad files reported, the rest classified, exit codes), and a scene ->
class-map COG + tile polygons, checked against the classifier run on each tile and a brute-force nearest-tile
rasterisation. The model is trained here for one epoch on a generated folder (the shipped weights may be absent)."""

import csv
import json

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
import torch
from affine import Affine
from PIL import Image

from rsvision.cli import main
from rsvision.io import open_scene
from rsvision.models import Classifier, Weights

torch.set_num_threads(1)

CLASSES = ("blue", "green", "red")
TRANSFORM = Affine(1, 0, 500000, 0, -1, 4000000)  # 1 m pixels, EPSG:32633


def _image(rng, k, size=40):
    a = rng.integers(0, 80, (size, size, 3)).astype(np.uint8)
    a[..., 2 - k] += 150
    return a


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A tiny ResNet trained one epoch at 32 px on a generated 3-class folder; its card says 2 m GSD."""
    root = tmp_path_factory.mktemp("classify")
    rng = np.random.default_rng(0)
    for k, c in enumerate(CLASSES):
        (root / "data" / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(_image(rng, k)).save(root / "data" / c / f"{c}_{i}.png")
    out = root / "tiny.safetensors"
    with pytest.raises(SystemExit) as done:
        main(
            [
                "train",
                "classification",
                "--data",
                str(root / "data"),
                "-o",
                str(out),
                "--epochs",
                "1",
                "--size",
                "32",
                "--batch",
                "6",
                "--width",
                "0.125",
                "--val",
                "0",
                "--gsd",
                "2",
                "--threads",
                "1",
                "-q",
            ]
        )
    assert done.value.code == 0
    return out


@pytest.fixture
def mixed(tmp_path):
    """Good images in a subfolder, plus a truncated JPEG, a non-image .jpg, a 1 x 1 image and a grey image."""
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(1)
    good = {}
    for k, name in enumerate(["a.png", "sub/b.png", "sub/c.jpg"]):
        arr = _image(rng, k)
        Image.fromarray(arr).save(folder / name, quality=95)
        good[name] = np.asarray(Image.open(folder / name)).transpose(2, 0, 1)
    Image.fromarray(_image(rng, 0, 64)).save(tmp_path / "whole.jpg")
    data = (tmp_path / "whole.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "text.jpg").write_bytes(b"not a jpeg")
    Image.fromarray(np.full((1, 1, 3), 200, np.uint8)).save(folder / "one.png")
    Image.fromarray(np.full((20, 20), 200, np.uint8)).save(folder / "grey.png")
    return folder, good


def test_folder_to_csv_with_bad_files(weights, mixed, tmp_path, capsys, run_cli):
    folder, good = mixed
    out = tmp_path / "out.csv"
    code, _, err = run_cli(capsys, "classify", folder, "-m", weights, "-o", out)
    assert code == 0, err
    rows = list(csv.DictReader(out.open()))
    assert [r["path"] for r in rows] == sorted(good) and list(rows[0]) == ["path", "class", "score", "top5"]
    classifier = Classifier(Weights.load(weights))
    probs = classifier.predict_proba([good[r["path"]] for r in rows])
    for row, p in zip(rows, probs):
        top = [item.split(":") for item in row["top5"].split(";")]
        assert [c for c, _ in top] == [CLASSES[i] for i in np.argsort(-p)]  # 3 classes: all of them, best first
        assert np.allclose([float(s) for _, s in top], np.sort(p)[::-1], atol=1e-4)
        assert row["class"] == CLASSES[p.argmax()] and abs(float(row["score"]) - p.max()) < 1e-6
    lines = err.strip().splitlines()
    assert len([line for line in lines if line.startswith("skipped: ")]) == 4
    for name, why in [
        ("truncated.jpg", "cannot read"),
        ("text.jpg", "cannot read"),
        ("one.png", "1 x 1 pixels"),
        ("grey.png", "1 band given without names; the model takes 3"),
    ]:
        assert any(name in line and why in line for line in lines), (name, err)
    assert lines[-1] == f"classified 3 of 7 images, 4 failed -> {out}"
    code, _, err = run_cli(capsys, "classify", folder, "-m", weights, "-o", out, "-q")
    assert code == 0 and "classified 3 of" not in err  # -q: no summary line, but still the skipped files
    assert len([line for line in err.splitlines() if line.startswith("skipped: ")]) == 4


def test_nothing_classified_exits_2(weights, mixed, tmp_path, capsys, run_cli):
    folder, good = mixed
    for name in good:
        (folder / name).unlink()
    out = tmp_path / "out.csv"
    code, _, err = run_cli(capsys, "classify", folder, "-m", weights, "-o", out, "-q")
    assert code == 2 and not out.exists()
    assert "classified 0 of 4 images, 4 failed (no CSV written)" in err


def test_single_image_with_csv_output(weights, mixed, tmp_path, capsys, run_cli):
    folder, _ = mixed
    out = tmp_path / "one.csv"
    code, _, err = run_cli(capsys, "classify", folder / "a.png", "-m", weights, "-o", out, "-q")
    assert code == 0, err
    assert [r["path"] for r in csv.DictReader(out.open())] == ["a.png"]


def _scene(make_raster, name, data, **kw):
    return make_raster(name, data, transform=TRANSFORM, **kw)


def _scene_pixels():
    rng = np.random.default_rng(2)
    data = np.zeros((3, 96, 160), np.uint8)
    for x0, k in [(0, 0), (48, 1), (96, 2)]:
        data[:, :, x0 : x0 + 64] = _image(rng, k, 96)[:, :64].transpose(2, 0, 1)
    data = np.maximum(data, 1)
    data[:, :, 96:] = 0  # nodata: the third tile column is skipped
    return data


def _nearest_tile_map(starts_y, starts_x, tile, shape, classes_by_tile, nodata=255):
    """Brute force: every pixel takes the class of the tile whose centre is nearest along each axis."""

    def owner(starts, n):
        centres = np.asarray(starts) + tile / 2
        d = np.abs((np.arange(n) + 0.5)[:, None] - centres[None])
        return np.array([np.flatnonzero(row == row.min())[-1] for row in d])  # ties to the later tile

    oy, ox = owner(starts_y, shape[0]), owner(starts_x, shape[1])
    out = np.full(shape, nodata, np.uint8)
    for (r, c), cls in classes_by_tile.items():
        out[np.ix_(oy == r, ox == c)] = cls
    return out


def test_scene_to_class_map_and_tiles(weights, make_raster, tmp_path, capsys, run_cli):
    path = _scene(make_raster, "scene.tif", _scene_pixels(), nodata=0)
    out, vec = tmp_path / "classes.tif", tmp_path / "tiles.gpkg"
    code, _, err = run_cli(capsys, "classify", path, "-m", weights, "-o", out, "--vector", vec, "--threads", "1")
    assert code == 0, err
    tile = 64  # input size 32 px x card GSD 2 m / scene GSD 1 m
    starts_y, starts_x = (0, 32), (0, 48, 96)  # the engine's even spread of 64 px tiles over 96 x 160
    assert f"4 tiles of {tile} px classified (2 nodata)" in err
    meta, _, geoms, fields = pyogrio.raw.read(vec)
    cols = dict(zip(meta["fields"], fields))
    assert rasterio.crs.CRS.from_user_input(meta["crs"]) == rasterio.crs.CRS.from_epsg(32633)
    classifier = Classifier(Weights.load(weights))
    scene = open_scene(path)
    by_tile = {}
    for g, r0, c0, cid, name, score in zip(
        shapely.from_wkb(geoms), cols["row_off"], cols["col_off"], cols["class_id"], cols["class"], cols["score"]
    ):
        west, north = TRANSFORM @ (c0, r0)
        east, south = TRANSFORM @ (c0 + tile, r0 + tile)
        assert g.bounds == (west, south, east, north)
        pixels = scene.read(rasterio.windows.Window(c0, r0, tile, tile)).data
        p = classifier.predict_proba(pixels[None])[0]
        assert name == CLASSES[cid] and cid == p.argmax() and abs(score - p.max()) < 1e-5
        by_tile[(starts_y.index(r0), starts_x.index(c0))] = cid
    assert len(by_tile) == 4 and all(c < 2 for _, c in by_tile)
    with rasterio.open(out) as ds:
        assert ds.crs == rasterio.crs.CRS.from_epsg(32633) and ds.transform == TRANSFORM
        assert ds.count == 1 and ds.dtypes[0] == "uint8" and ds.nodata == 255 and ds.descriptions == ("class",)
        assert json.loads(ds.tags()["classes"]) == list(CLASSES)
        assert len({ds.colormap(1)[i] for i in range(3)}) == 3 and ds.colormap(1)[255][3] == 0
        got = ds.read(1)
    assert np.array_equal(got, _nearest_tile_map(starts_y, starts_x, tile, (96, 160), by_tile))


def test_scene_bands_are_matched_by_name(weights, make_raster, tmp_path, capsys, run_cli):
    data = _scene_pixels()
    rgb = _scene(make_raster, "rgb.tif", data)
    bgr = _scene(make_raster, "bgr.tif", data[::-1])
    with rasterio.open(bgr, "r+") as ds:
        for i, name in enumerate(["blue", "green", "red"], start=1):
            ds.set_band_description(i, name)
    maps = []
    for path in (rgb, bgr):
        out = tmp_path / f"{path.stem}.tif"
        code, _, err = run_cli(capsys, "classify", path, "-m", weights, "-o", out, "--threads", "1", "-q")
        assert code == 0, err
        with rasterio.open(out) as ds:
            maps.append(ds.read(1))
    assert np.array_equal(maps[0], maps[1])
    grey = _scene(make_raster, "grey.tif", data[:1])
    code, _, err = run_cli(capsys, "classify", grey, "-m", weights, "-o", tmp_path / "g.tif", "-q")
    assert code == 2 and "the model takes bands red, green, blue; the scene has band1" in err


def test_large_image_without_georeference(weights, tmp_path, capsys, run_cli):
    from rsvision.samples import dubai_aerial

    out = tmp_path / "dubai.tif"
    code, _, err = run_cli(
        capsys,
        "classify",
        dubai_aerial,
        "-m",
        weights,
        "-o",
        out,
        "--tile",
        "400",
        "--threads",
        "1",
        "--preview",
        tmp_path / "dubai.png",
    )
    assert code == 0, err
    assert err.count("no georeference") == 1 and "\n\n" not in err and "memory" not in err  # once, no blank line
    assert "no georeference" in err and "30 tiles of 400 px classified" in err
    with rasterio.open(out) as ds:
        assert ds.crs is None and (ds.width, ds.height) == (1817, 2061)
        assert set(np.unique(ds.read(1))) <= {0, 1, 2}
    with Image.open(tmp_path / "dubai.png") as picture:  # the class map drawn over the scene, with a legend
        assert picture.format == "PNG" and picture.height == 1200 and picture.width > 1200 * 1817 / 2061


@pytest.mark.parametrize(
    ("target", "output", "extra", "message"),
    [
        ("folder", "out.tif", [], "images of a folder are classified into a CSV"),
        ("folder", "out.csv", ["--vector", "v.gpkg"], "--vector and --preview apply to scenes"),
        ("folder", "out.csv", ["--preview", "p.png"], "--vector and --preview apply to scenes"),
        ("scene", "out.png", [], "class-map GeoTIFF"),
        ("scene", "out.tif", ["--vector", "v.shp"], "unknown vector format"),
        ("missing", "out.csv", [], "no such file or folder"),
    ],
)
def test_bad_outputs(weights, mixed, make_raster, tmp_path, capsys, target, output, extra, message, run_cli):
    folder, _ = mixed
    paths = {"folder": folder, "scene": _scene(make_raster, "s.tif", _scene_pixels()), "missing": tmp_path / "nope"}
    code, _, err = run_cli(capsys, "classify", paths[target], "-m", weights, "-o", tmp_path / output, *extra, "-q")
    assert code == 2 and message in err and "Traceback" not in err


def test_unknown_model(mixed, tmp_path, capsys, run_cli):
    folder, _ = mixed
    code, _, err = run_cli(capsys, "classify", folder, "-m", "no_such_model", "-o", tmp_path / "o.csv")
    assert code == 2 and "unknown model 'no_such_model'" in err


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("empty", "no images (.jpg"),
        ("city", "holds the band folders of 2 scenes (imgs_1, imgs_2); classify one of them"),
    ],
)
def test_folders_that_are_neither_images_nor_a_scene(tmp_path, capsys, run_cli, layout, message):
    folder = tmp_path / "f"
    folder.mkdir()
    if layout == "city":
        for date in ("imgs_1", "imgs_2"):
            (folder / date).mkdir()
            for band in ("B02", "B03"):
                (folder / date / f"S2_{band}.tif").write_bytes(b"")
    code, _, err = run_cli(capsys, "classify", folder, "-o", tmp_path / "out.tif")
    assert code == 2 and message in err and "CSV" not in err


def test_sentinel2_sample_runs_on_the_builtin_rgb_model(tmp_path, capsys, run_cli):
    """The bundled OSCD pair: bands found by wavelength, reflectance made 8-bit by the stated rule, a note says so."""
    from rsvision.models.classifier import DEFAULT_CLASSIFIER
    from rsvision.models.weights import builtin_weights
    from rsvision.samples import oscd_bercy_before

    if DEFAULT_CLASSIFIER not in builtin_weights():
        pytest.skip("the built-in AID classifier is not installed")
    size = builtin_weights()[DEFAULT_CLASSIFIER].input_size  # the card has no GSD: tiles of its input size
    out = tmp_path / "bercy.tif"
    code, _, err = run_cli(capsys, "classify", oscd_bercy_before, "-o", out, "--threads", "1")
    assert code == 0, err
    assert f"note: {DEFAULT_CLASSIFIER} was trained on 8-bit RGB images: the scene's B04, B03, B02 reflectance" in err
    tiles = -(-395 // size) * -(-360 // size)  # the fewest tiles that cover 360 x 395 pixels
    assert f"{tiles} tiles of {size} px classified (0 nodata)" in err
    with rasterio.open(out) as ds:
        assert ds.crs is not None and (ds.width, ds.height) == (360, 395)


def test_uint16_scene_of_unknown_sensor_is_refused_at_once(weights, make_raster, tmp_path, capsys, run_cli):
    path = _scene(make_raster, "u16.tif", (_scene_pixels().astype(np.uint16) * 100), photometric="RGB")
    code, _, err = run_cli(
        capsys, "classify", path, "-m", weights, "-o", tmp_path / "o.tif", "--bands", "red,green,blue"
    )
    assert code == 2 and "uint16 pixels, but tiny takes 8-bit values (0-255)" in err and "--bands" not in err


def test_split_file_round_trip_with_fewer_classes(weights, tmp_path, capsys, run_cli):
    """classify FOLDER --split-file -> CSV -> eval --predictions --split-file: the same images, scored over the
    dataset's two classes; the model's third class counts as wrong."""
    rng = np.random.default_rng(5)
    data = tmp_path / "two"
    for k, c in [(0, "blue"), (2, "red")]:
        (data / c).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(_image(rng, k)).save(data / c / f"{c}_{i}.png")
    listed = ["blue_0.png", "blue_2.png", "red_1.png", "red_3.png"]
    (tmp_path / "split.txt").write_text("\n".join(listed) + "\n")
    out = tmp_path / "pred.csv"
    code, _, err = run_cli(capsys, "classify", data, "-m", weights, "-o", out, "--split-file", tmp_path / "split.txt")
    assert code == 0, err
    rows = list(csv.DictReader(out.open()))
    assert sorted(r["path"].split("/")[-1] for r in rows) == listed
    code, _, err = run_cli(
        capsys,
        "eval",
        "classification",
        "--data",
        data,
        "--split-file",
        tmp_path / "split.txt",
        "--predictions",
        out,
        "--json",
        tmp_path / "m.json",
    )
    assert code == 0, err
    result = json.loads((tmp_path / "m.json").read_text())
    right = sum(r["class"] == r["path"].split("/")[0] for r in rows)
    assert result["overall_accuracy"] == pytest.approx(right / 4)
    assert result["other_class_predictions"] == sum(r["class"] == "green" for r in rows)


def test_device_is_checked_before_the_model_loads(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["classify", str(tmp_path), "-o", str(tmp_path / "o.csv"), "--device", "tpu"])
    assert done.value.code == 2 and "--device must be auto, cpu or cuda" in capsys.readouterr().err
