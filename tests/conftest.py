"""Shared fixtures. Real datasets live in ../shared/data; tests needing them skip when absent."""

import os
from pathlib import Path

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
