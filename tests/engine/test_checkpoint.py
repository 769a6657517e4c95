"""Resume: a run killed with SIGKILL mid-scene continues from its checkpoint and ends with the same output."""

import json
import os
import runpy
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pyogrio
import pytest
import rasterio

# Run in a subprocess so it can be killed: a seeded CNN (dense) or a box detector over known objects (boxes).
SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    import numpy as np
    from rsvision.engine import run
    from rsvision.tasks import BoxPredictor, Detections, ModulePredictor

    kill_after = int(os.environ.get("KILL_AFTER_TILES", "-1"))
    seen = 0

    def count(n):
        global seen
        seen += n
        if 0 <= kill_after < seen:
            os.kill(os.getpid(), signal.SIGKILL)

    class KillableCNN(ModulePredictor):
        def predict(self, batch):
            count(len(batch))
            return super().predict(batch)

    class Objects(BoxPredictor):
        objects = np.array([[300, 10, 330, 40], [100, 120, 140, 150], [230, 40, 270, 70], [400, 300, 450, 330],
                            [520, 200, 560, 260], [300, 500, 340, 540], [90, 250, 130, 290]], float)

        def predict(self, batch):
            count(len(batch))
            out = []
            for w in batch.windows:
                x0, y0 = w.col_off, w.row_off
                b = self.objects - [x0, y0, x0, y0]
                b = np.clip(b, 0, [w.width, w.height, w.width, w.height])
                keep = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
                out.append(Detections(np.flatnonzero(keep) % 3, 0.5 + 0.05 * np.flatnonzero(keep), boxes=b[keep]))
            return out

    def job(mode, scene, output, overlap):
        if mode == "dense":
            import torch

            torch.manual_seed(0)
            cnn = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                      torch.nn.Conv2d(8, 4, 3, padding=1))
            predictor = KillableCNN(cnn, 4, mean=[100] * 3, std=[50] * 3, output="scores")
        else:
            predictor = Objects()
        result = run(scene, predictor, output, tile=128, overlap=overlap, batch=3, checkpoint_seconds=0, quiet=True)
        return {"resumed_at": result.resumed_at, "tiles": result.tiles}

    if os.environ.get("RSV_TEST_JOB"):
        print(json.dumps(job(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    """
)


@pytest.fixture
def runner(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)

    # uninterrupted runs and resumes run in this process, with the predictors defined in the same module name
    job = runpy.run_path(str(script), run_name="__main__")["job"]

    def call(mode, scene, output, overlap=32, kill_after=None):
        if kill_after is None:
            return job(mode, str(scene), str(output), overlap)
        env = {**os.environ, "KILL_AFTER_TILES": str(kill_after), "RSV_TEST_JOB": "1"}
        proc = subprocess.run(
            [sys.executable, str(script), mode, str(scene), str(output), str(overlap)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr

    return call


@pytest.fixture
def scene(make_raster):
    rng = np.random.default_rng(3)
    data = rng.integers(0, 255, (3, 600, 620)).astype("uint8")
    data[:, :200, :250] = 0  # nodata tiles too
    return make_raster("scene.tif", data, nodata=0)


def test_dense_resume_is_bit_identical(runner, scene, tmp_path):
    whole = tmp_path / "whole.tif"
    assert runner("dense", scene, whole)["resumed_at"] == 0
    out = tmp_path / "resumed.tif"
    runner("dense", scene, out, kill_after=20)
    assert not out.exists()  # nothing under the final name until complete
    sidecar = tmp_path / ".resumed.tif.resume"
    state = json.loads((sidecar / "state.json").read_text())
    assert state["next_row"] >= 1
    info = runner("dense", scene, out)
    assert 0 < info["resumed_at"] < info["tiles"]
    assert not sidecar.exists()
    with rasterio.open(whole) as a, rasterio.open(out) as b:
        assert np.array_equal(a.read(), b.read(), equal_nan=True)


def test_checkpoint_of_other_settings_is_not_reused(runner, scene, tmp_path):
    out = tmp_path / "o.gpkg"
    runner("boxes", scene, out, overlap=32, kill_after=20)
    assert (tmp_path / ".o.gpkg.resume" / "state.json").exists()
    info = runner("boxes", scene, out, overlap=48)  # another overlap: start over
    assert info["resumed_at"] == 0 and out.exists()


def test_boxes_resume_gives_the_same_features(runner, scene, tmp_path):
    whole, out = tmp_path / "whole.gpkg", tmp_path / "resumed.gpkg"
    runner("boxes", scene, whole)
    runner("boxes", scene, out, kill_after=12)
    assert not out.exists()
    assert runner("boxes", scene, out)["resumed_at"] > 0
    ra, rb = pyogrio.raw.read(whole), pyogrio.raw.read(out)
    assert [list(f) for f in ra[3]] == [list(f) for f in rb[3]]  # class_id, class, score columns
    assert list(ra[2]) == list(rb[2])  # WKB geometries
    assert len(ra[2]) == 7  # every object once
