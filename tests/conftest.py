"""Shared fixtures. Real datasets live in ../shared/data; tests needing them skip when absent."""

import os
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(os.environ.get("RSVISION_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


@pytest.fixture
def shared():
    """``shared("oscd", "images")`` -> Path under ../shared/data, or skip the test saying what is missing."""

    def resolve(*parts: str) -> Path:
        path = SHARED_DATA.joinpath(*parts)
        if not path.exists():
            pytest.skip(f"real data not available: {path}")
        return path

    return resolve


@pytest.fixture
def make_raster(tmp_path):
    """``make_raster(name, array, crs=..., transform=..., nodata=None, **profile)`` -> path of a GeoTIFF (or other
    driver given with ``driver=``) written in the test's temporary folder. ``array`` is (C, H, W) or (H, W)."""
    import numpy as np
    import rasterio
    from affine import Affine

    def write(name, array, crs="EPSG:32633", transform=None, nodata=None, **profile):
        transform = transform if transform is not None else Affine(10, 0, 500000, 0, -10, 4000000)
        data = np.asarray(array)
        if data.ndim == 2:
            data = data[None]
        path = tmp_path / name
        options = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0], dtype=data.dtype)
        if crs is not None:
            options.update(crs=crs, transform=transform)
        if nodata is not None:
            options["nodata"] = nodata
        options.update(profile)
        with rasterio.open(path, "w", **options) as dst:
            dst.write(data)
        return path

    return write


@pytest.fixture
def tiny_classifier():
    """Writes a seeded, untrained width-1/8 ResNet-18 RGB classifier and its card: ``make(folder, name, classes,
    input_size, **card)`` returns the weights path."""

    def make(folder, name="tiny", classes=("blue", "green", "red"), input_size=32, **card):
        import torch

        from rsvision.models import Preprocessing, build_model, save_weights

        torch.manual_seed(0)
        net = build_model("resnet18", num_classes=len(classes), width=0.125)
        prep = Preprocessing(
            bands=["red", "green", "blue"],
            scale=255,
            value_range=(0, 255),
            mean=[0.4] * 3,
            std=[0.25] * 3,
            input_size=input_size,
        )
        save_weights(
            net,
            folder,
            name,
            architecture="resnet18",
            architecture_kwargs={"width": 0.125},
            preprocessing=prep,
            classes=list(classes),
            **{"licence": "-", "command": "-", **card},
        )
        return Path(folder) / f"{name}.safetensors"

    return make


@pytest.fixture
def make_envi(tmp_path):
    """``make_envi(name, count, header_lines)`` -> path of an ENVI data file (uint16, 4 x 3 pixels, UTM 51N, 30 m)
    whose ``.hdr`` ends with ``header_lines`` ("sensor type = Landsat ETM", "wavelength = {...}" ...), written as
    ENVI writes headers: rasterio would keep band metadata in a ``.aux.xml`` beside the file instead."""
    import numpy as np
    import rasterio
    from affine import Affine

    def write(name, count, header_lines=()):
        path = tmp_path / name
        with rasterio.open(
            path,
            "w",
            driver="ENVI",
            width=4,
            height=3,
            count=count,
            dtype="uint16",
            crs="EPSG:32651",
            transform=Affine(30, 0, 300000, 0, -30, 3500000),
        ) as dst:
            dst.write(np.arange(count * 12, dtype="uint16").reshape(count, 3, 4))
        hdr = path.with_suffix(".hdr")
        lines = hdr.read_text().splitlines()  # one "key = value" per line but description and band names
        kept = [line for line in lines[1:] if " = " in line and not line.startswith(("description", "band names"))]
        hdr.write_text("\n".join(["ENVI", *kept, *header_lines]) + "\n")
        for aux in tmp_path.glob(f"{name}*.aux.xml"):
            aux.unlink()
        return path

    return write


@pytest.fixture(scope="session")
def products(tmp_path_factory):
    """Tiny products in their real layouts, built once by tests/data/products/make_products.py: a dict of paths
    (``l2a``, ``l2a_zip``, ``l1c``, ``landsat_l2``, ``landsat_l2_tar``, ``landsat_l1``, ``s1``) and the script's
    module under ``"make"`` (its formulas give the expected values)."""
    import importlib.util

    script = Path(__file__).parent / "data" / "products" / "make_products.py"
    spec = importlib.util.spec_from_file_location("make_products", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {**module.make_all(tmp_path_factory.mktemp("products")), "make": module}


@pytest.fixture(scope="session")
def change_pair_arrays():
    """``change_pair_arrays(seed, h=96, w=96)``: see :func:`_change_pair_arrays`."""
    return _change_pair_arrays


def _change_pair_arrays(seed: int, h: int = 96, w: int = 96):
    """An 8-bit RGB pair ``(3, H, W)`` x 2 of smooth texture with noise between the dates, and 1-3 planted
    rectangles (another colour on the second date); the (H, W) 0/1 truth."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    base = gaussian_filter(rng.uniform(40, 200, (3, h, w)), (0, 3, 3))
    after = base + rng.normal(0, 6, base.shape)
    truth = np.zeros((h, w), np.uint8)
    for _ in range(rng.integers(1, 4)):
        y, x = rng.integers(0, h - 16), rng.integers(0, w - 16)
        dy, dx = rng.integers(6, 16, 2)
        truth[y : y + dy, x : x + dx] = 1
        after[:, y : y + dy, x : x + dx] = rng.uniform(0, 255, (3, 1, 1))
    return base.clip(0, 255).astype(np.uint8), after.clip(0, 255).astype(np.uint8), truth


@pytest.fixture(scope="session")
def tiny_change_model(tmp_path_factory):
    """A small siamese U-Net (ResNet-18 encoder, depth 3) trained in seconds on generated 8-bit RGB pairs with
    planted changes, and its card (task change): the weights path."""
    import torch

    from rsvision.models import Preprocessing, save_weights
    from rsvision.train.change import CLASSES, initial_change_model, pair_preprocessing
    from rsvision.train.segmentation import MaskPairs, SegTrainConfig, fit_segmenter

    torch.set_num_threads(1)
    bands = ["red", "green", "blue"]
    made = [_change_pair_arrays(seed) for seed in range(8)]
    pairs = MaskPairs([np.concatenate([a, b]) for a, b, _ in made[:6]], [t.astype(np.int64) for *_, t in made[:6]])
    held = MaskPairs([np.concatenate([a, b]) for a, b, _ in made[6:]], [t.astype(np.int64) for *_, t in made[6:]])
    mean, std = [0.47] * 3, [0.2] * 3
    kwargs = {"encoder": "resnet18", "encoder_depth": 3, "decoder_channels": [32, 16, 8]}
    model = initial_change_model("siamese_unet", bands, kwargs, None, 0)
    config = SegTrainConfig(epochs=4, steps=12, batch_size=4, crop=64, lr=3e-3, jitter=0.0, class_weights=(1, 5))
    folder = tmp_path_factory.mktemp("change_model")
    fit_segmenter(
        model,
        pair_preprocessing(bands, mean, std, 255.0, (0, 255), 96),
        pairs,
        held,
        CLASSES,
        config,
        folder,
        progress=False,
    )
    prep = Preprocessing(bands=bands, scale=255.0, value_range=(0, 255), mean=mean, std=std, input_size=96)
    record = save_weights(
        model,
        folder,
        "tiny_change",
        task="change",
        architecture="siamese_unet",
        architecture_kwargs=kwargs,
        preprocessing=prep,
        classes=list(CLASSES),
        licence="test",
        command="tests/conftest.py",
    )
    return record.weights_path


@pytest.fixture(scope="session")
def make_change_layout():
    """``make_change_layout(root, "cdd" | "second")``: see :func:`_make_change_layout`."""
    return _make_change_layout


SECOND_WHITE, SECOND_BUILDING, SECOND_WATER, SECOND_LOW_VEG, SECOND_PLAYGROUND = (
    (255, 255, 255),
    (128, 0, 0),
    (0, 0, 255),
    (0, 128, 0),
    (255, 0, 0),
)


def _make_change_layout(root: Path, layout: str, size: int = 32) -> Path:
    """A tiny change dataset as distributed, two pairs a split, PNG: CDD (``subset/train|test/A B OUT``, 0/255
    masks) or SECOND (``train|test/im1 im2 label1 label2``, RGB maps: the planted change is building -> water, its
    top-left pixel low vegetation -> playground). Returns ``root``."""
    from PIL import Image

    folders = ("A", "B", "OUT") if layout == "cdd" else ("im1", "im2", "label1", "label2")
    base = root / "subset" if layout == "cdd" else root
    for i, split in enumerate(("train", "test")):
        for j in range(2):
            before, after, truth = _change_pair_arrays(10 * i + j, size, size)
            if layout == "cdd":
                labels = [truth * 255]
            else:
                labels = [np.full((size, size, 3), SECOND_WHITE, np.uint8) for _ in range(2)]
                labels[0][truth == 1], labels[1][truth == 1] = SECOND_BUILDING, SECOND_WATER
                labels[0][0, 0], labels[1][0, 0] = SECOND_LOW_VEG, SECOND_PLAYGROUND
            arrays = [before.transpose(1, 2, 0), after.transpose(1, 2, 0), *labels]
            for folder, array in zip(folders, arrays):
                (base / split / folder).mkdir(parents=True, exist_ok=True)
                Image.fromarray(array).save(base / split / folder / f"{j:05d}.png")
    return root


@pytest.fixture
def colour_folder(tmp_path):
    """An image folder of three colour classes (red, green, blue), ``per_class`` textured 40 x 40 PNGs each, whose
    colour dominates: ``make(per_class=3)`` returns the folder."""

    def make(per_class=3):

        from PIL import Image

        rng = np.random.default_rng(0)
        root = tmp_path / "colours"
        for k, c in enumerate(["red", "green", "blue"]):
            (root / c).mkdir(parents=True)
            for i in range(per_class):
                image = rng.integers(0, 90, (40, 40, 3)).astype(np.uint8)
                image[..., k] += 160
                Image.fromarray(image).save(root / c / f"{i}.png")
        return root

    return make
