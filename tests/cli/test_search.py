"""`rsvision index` and `rsvision search` with a tiny untrained dual encoder: search by example finds the planted
tile (its own pixels embed identically), another model and a half-written index are refused in one line; with
conftest's trained tiny dual encoder, text queries find the images their words describe."""

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from PIL import Image
from rasterio.transform import from_origin

from rsvision.core.settings import torch_threads
from rsvision.models.language import build_vocabulary
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import build_model
from rsvision.models.weights import Task, save_weights

PREP = Preprocessing(bands=["red", "green", "blue"], scale=255, value_range=(0, 255), mean=[0.4] * 3, std=[0.25] * 3,
                     input_size=32)  # fmt: skip
CAPTIONS = ["water over a field", "a green field", "blue water"]


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


def tiny_model(folder, name, seed):
    torch.manual_seed(seed)
    kwargs = {"text_tower": "scratch", "embed_dim": 16, "vocab": build_vocabulary(CAPTIONS, 1), "layers": 1,
              "width": 32, "heads": 2, "context": 8}  # fmt: skip
    model = build_model("dual_encoder", 0, **kwargs)
    card = {"architecture_kwargs": kwargs, "preprocessing": PREP, "classes": [], "licence": "test", "command": "test"}
    record = save_weights(model, folder, name, task=Task.EMBEDDING, architecture="dual_encoder", **card)
    return record.weights_path


def scene_with_patch(path):
    rng = np.random.default_rng(0)
    data = rng.integers(60, 200, (3, 256, 256), dtype=np.uint8)
    patch = rng.integers(0, 255, (3, 32, 32), dtype=np.uint8)
    data[:, 96:128, 160:192] = patch
    profile = dict(driver="GTiff", width=256, height=256, count=3, dtype="uint8", crs="EPSG:32633",
                   transform=from_origin(500_000, 4_000_000, 10, 10))  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    Image.fromarray(patch.transpose(1, 2, 0)).save(path.with_name("example.png"))
    return path


def test_index_then_search_by_example(tmp_path, capsys, run_cli):
    model = tiny_model(tmp_path, "tiny", 0)
    scene = scene_with_patch(tmp_path / "scene.tif")
    idx = tmp_path / "idx"
    code, _, err = run_cli(capsys, "index", scene, "-o", idx, "-m", model, "--tile-sizes", "32,128", "--overlap", "0")
    assert code in (0, None), err
    assert "68 entries added" in err  # 64 tiles of 32 + 4 of 128
    code, _, err = run_cli(capsys, "index", scene, "-o", idx, "-m", model, "--tile-sizes", "32,128", "--overlap", "0")
    assert "0 entries added, 68 already indexed" in err
    out_gpkg = tmp_path / "hits.gpkg"
    code, out, err = run_cli(capsys, "search", idx, "--image", tmp_path / "example.png", "-m", model, "-k", "3",
                             "--json", "-o", out_gpkg)  # fmt: skip
    assert code in (0, None), err
    hits = json.loads(out)["hits"]
    assert hits[0]["window"] == {"col": 160, "row": 96, "width": 32, "height": 32}
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-4) and hits[0]["tile_size"] == 32
    assert hits[0]["footprint"]["type"] == "Polygon" and out_gpkg.is_file()


def test_another_model_is_refused(tmp_path, capsys, run_cli):
    first, other = tiny_model(tmp_path, "tiny", 0), tiny_model(tmp_path, "other", 1)
    scene = scene_with_patch(tmp_path / "scene.tif")
    idx = tmp_path / "idx"
    run_cli(capsys, "index", scene, "-o", idx, "-m", first, "--tile-sizes", "128", "-q")
    files = lambda: sorted((p.name, p.stat().st_size) for p in idx.iterdir() if not p.name.endswith(("-wal", "-shm")))
    before = files()
    for argv in (("search", idx, "water", "-m", other), ("index", scene, "-o", idx, "-m", other)):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and "was built with tiny" in err and err.count("\n") == 1
    assert files() == before


def test_half_written_or_missing_index_is_refused(tmp_path, capsys, run_cli):
    model = tiny_model(tmp_path, "tiny", 0)
    half = tmp_path / "half"
    (half / "shards").mkdir(parents=True)
    for target in (half, tmp_path / "missing"):
        code, _, err = run_cli(capsys, "search", target, "water", "-m", model)
        assert code == 2 and err.startswith("error:") and err.count("\n") == 1


def test_scene_search_without_an_index(tmp_path, capsys, run_cli):
    model = tiny_model(tmp_path, "tiny", 0)
    scene = scene_with_patch(tmp_path / "scene.tif")
    code, out, err = run_cli(capsys, "search", scene, "--image", tmp_path / "example.png", "-m", model, "-k", "2",
                             "--coarse", "128", "--fine", "32", "--json")  # fmt: skip
    assert code in (0, None), err
    assert len(json.loads(out)["hits"]) == 2


@pytest.mark.parametrize(("query", "kind"), [("a sandy desert", "SandyDesert"), ("dense green trees", "aForest")])
def test_text_search_with_a_trained_model(dual_encoder, test_folder, tmp_path_factory, capsys, run_cli, query, kind):
    """A text query to an index of 20 images of two kinds, through conftest's trained tiny dual encoder: the five
    best hits are all of the kind the words describe."""
    idx = tmp_path_factory.getbasetemp() / "kinds_index"
    if not idx.exists():
        code, _, err = run_cli(capsys, "index", test_folder, "-o", idx, "-m", dual_encoder, "-q")
        assert code in (0, None), err
    code, out, err = run_cli(capsys, "search", idx, query, "-m", dual_encoder, "-k", "5", "--json")
    assert code in (0, None), err
    hits = json.loads(out)["hits"]
    assert len(hits) == 5 and {Path(h["source"]).parent.name for h in hits} == {kind}
