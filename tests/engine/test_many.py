"""`run_many`: several scenes on Dask give the same outputs as one run each."""

import numpy as np
import pytest
import rasterio

from rsvision.engine import run, run_many
from rsvision.tasks import DensePredictor

pytest.importorskip("dask", reason="dask is an optional extra: pip install 'rsvision[dask]'")


class Brightness(DensePredictor):
    num_outputs = 2

    def predict(self, batch):
        bright = batch.images.mean(axis=1) > 127
        return np.stack([~bright, bright], axis=1).astype(np.float32)


def test_run_many_matches_single_runs(make_raster, tmp_path):
    rng = np.random.default_rng(5)
    scenes = [make_raster(f"s{i}.tif", rng.integers(0, 255, (3, 150 + 40 * i, 200)).astype("uint8")) for i in range(3)]
    outputs = [tmp_path / f"many{i}.tif" for i in range(3)]
    results = run_many(scenes, Brightness(), outputs, tile=64, overlap=16, num_workers=2)
    assert [r.output for r in results] == outputs
    for scene, out in zip(scenes, outputs):
        single = run(scene, Brightness(), tmp_path / "single.tif", tile=64, overlap=16, quiet=True).output
        with rasterio.open(out) as a, rasterio.open(single) as b:
            assert np.array_equal(a.read(), b.read())


def test_run_many_checks_lengths(make_raster, tmp_path):
    scene = make_raster("s.tif", np.zeros((3, 50, 50), np.uint8))
    with pytest.raises(ValueError, match="one output"):
        run_many([scene, scene], Brightness(), [tmp_path / "a.tif"])
