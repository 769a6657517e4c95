"""`rsvision change` and `rsvision eval change --method`: a generated pair gives the change COG, scores, polygons
and picture; the LEVIR-CD and DSIFN samples evaluate end to end with DESIGN's keys; bad inputs (a disjoint pair,
no common bands, a learned model, labels of another size than their images) are one line, exit 2, no output."""

import json
import shutil

import numpy as np
import pytest
import rasterio
from affine import Affine

KEYS = ("f1", "iou", "precision", "recall", "kappa")


@pytest.fixture
def pair(make_raster):
    rng = np.random.default_rng(0)
    before = rng.normal(1000, 20, (3, 64, 64)).astype(np.float32)
    after = before + rng.normal(0, 5, before.shape).astype(np.float32)
    after[:, 20:40, 10:30] += 600
    return make_raster("before.tif", before), make_raster("after.tif", after)


def test_change_writes_every_output(run_cli, capsys, pair, tmp_path):
    outs = [tmp_path / n for n in ("c.tif", "p.tif", "c.gpkg", "c.png")]
    code, _, err = run_cli(
        capsys,
        "change",
        *pair,
        "-o",
        outs[0],
        "--probabilities",
        outs[1],
        "--vector",
        outs[2],
        "--preview",
        outs[3],
        "--method",
        "irmad",
        "--normalise",
        "histogram",
    )
    assert code in (0, None), err
    assert all(p.exists() for p in outs)
    assert "polygons ->" in err, err
    with rasterio.open(outs[0]) as ds:
        assert ds.read(1)[20:40, 10:30].mean() > 0.95


def _one_line_exit_2(run_cli, capsys, tmp_path, *argv, match):
    before = set(tmp_path.iterdir())
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and match in err, err
    assert set(tmp_path.iterdir()) == before


def test_disjoint_pair(run_cli, capsys, pair, make_raster, tmp_path):
    far = make_raster("far.tif", np.ones((3, 64, 64), np.float32), transform=Affine(10, 0, 900000, 0, -10, 4000000))
    _one_line_exit_2(
        run_cli,
        capsys,
        tmp_path,
        "change",
        pair[0],
        far,
        "-o",
        tmp_path / "c.tif",
        "--vector",
        tmp_path / "c.gpkg",
        match="does not overlap",
    )


def test_no_common_bands(run_cli, capsys, pair, tmp_path):
    other = tmp_path / "other.tif"
    with rasterio.open(pair[1]) as src:
        profile, data = src.profile, src.read()
    with rasterio.open(other, "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = ("swir1", "swir2", "tir1")
    _one_line_exit_2(
        run_cli, capsys, tmp_path, "change", pair[0], other, "-o", tmp_path / "c.tif", match="no common bands"
    )


def test_learned_model_not_yet(run_cli, capsys, pair, tmp_path):
    _one_line_exit_2(
        run_cli,
        capsys,
        tmp_path,
        "change",
        *pair,
        "-o",
        tmp_path / "c.tif",
        "-m",
        "x",
        match="no built-in change model yet",
    )


@pytest.mark.parametrize("sample", ["samples_LEVIR", "samples_DSIFN"])
@pytest.mark.parametrize("method", ["cva", "irmad", "pcakmeans"])
def test_eval_change_samples(run_cli, capsys, shared, tmp_path, sample, method):
    data = shared("change_samples", sample)
    code, _, err = run_cli(
        capsys,
        "eval",
        "change",
        "--data",
        data,
        "--format",
        "triplets",
        "--method",
        method,
        "--json",
        tmp_path / "m.json",
        "-q",
    )
    assert code in (0, None), err
    result = json.loads((tmp_path / "m.json").read_text())
    assert all(0 <= result[k] <= 1 for k in KEYS if k != "kappa")
    assert -1 <= result["kappa"] <= 1 and result["n_images"] == 5 and len(result["per_sample"]) == 5


def test_eval_labels_of_another_size(run_cli, capsys, shared, tmp_path):
    data = tmp_path / "levir"
    shutil.copytree(shared("change_samples", "samples_LEVIR"), data)
    label = sorted((data / "label").iterdir())[0]
    with rasterio.open(label) as src:
        profile, arr = src.profile, src.read()
    profile.update(width=arr.shape[2] // 2, height=arr.shape[1] // 2)
    with rasterio.open(label, "w", **profile) as dst:
        dst.write(arr[:, ::2, ::2])
    _one_line_exit_2(
        run_cli,
        capsys,
        tmp_path,
        "eval",
        "change",
        "--data",
        data,
        "--method",
        "cva",
        "--json",
        tmp_path / "m.json",
        match="label is 128 x 128",
    )


def test_eval_change_without_method(run_cli, capsys, shared, tmp_path):
    data = shared("change_samples", "samples_LEVIR")
    _one_line_exit_2(run_cli, capsys, tmp_path, "eval", "change", "--data", data, match="use --method")
