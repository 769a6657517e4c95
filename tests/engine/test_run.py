"""`run()` plumbing: output errors leave nothing behind, change over two grids, progress summary, argument checks."""

import importlib
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from rsvision.engine import run
from rsvision.errors import OutputError, PredictorError
from rsvision.io import align, open_scene
from rsvision.io.tiles import TilePlan
from rsvision.tasks import ChangePredictor, DensePredictor


class Noise(DensePredictor):
    """Incompressible float scores, so the output's size is known in advance."""

    num_outputs = 4
    output = "scores"

    def predict(self, batch):
        rng = np.random.default_rng(len(batch))
        return rng.random((len(batch), 4, *batch.images.shape[2:]), dtype=np.float32)


def _leftovers(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if name in p.name)


@pytest.fixture
def scene(make_raster):
    return make_raster("scene.tif", np.random.default_rng(0).integers(0, 255, (3, 400, 500)).astype("uint8"))


DISK_FULL = textwrap.dedent(
    """
    import sys
    import numpy as np
    from rsvision.engine import run
    from rsvision.errors import OutputError
    from rsvision.tasks import DensePredictor

    class Noise(DensePredictor):
        num_outputs, output = 4, "scores"

        def predict(self, batch):
            return np.random.default_rng(0).random((len(batch), 4, *batch.images.shape[2:]), dtype=np.float32)

    try:
        run(sys.argv[1], Noise(), sys.argv[2], tile=128, overlap=16, checkpoint_seconds=0, quiet=True)
    except OutputError as err:
        print(err)
        sys.exit(3)
    """
)


def test_full_disk_gives_output_error_and_no_file(scene, tmp_path):
    out = tmp_path / "full.tif"  # 400 x 500 x 4 float32 = 3.2 MB of noise, against a 1 MB file size limit
    limit = 1 << 20

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        [sys.executable, "-c", DISK_FULL, str(scene), str(out)],
        capture_output=True,
        text=True,
        preexec_fn=limit_file_size,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.startswith(f"cannot write {out}")
    assert _leftovers(tmp_path, "full.tif") == []  # no final file, no staging, no checkpoint


def _unwritable_folder(tmp_path: Path) -> Path:
    if os.geteuid() == 0:  # root writes anywhere permissions allow; sysfs refuses new files even to root
        if not Path("/sys").is_dir():
            pytest.skip("running as root without /sys: no folder to make unwritable")
        return Path("/sys")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


@pytest.mark.parametrize("output", ["out.tif", "out.gpkg"])
def test_unwritable_folder_gives_output_error(scene, tmp_path, output):
    from rsvision.tasks import BoxPredictor, Detections

    class Nothing(BoxPredictor):
        def predict(self, batch):
            return [Detections.empty() for _ in batch.windows]

    folder = _unwritable_folder(tmp_path)
    predictor = Noise() if output.endswith(".tif") else Nothing()
    with pytest.raises(OutputError, match=f"cannot write {folder / output}"):
        run(scene, predictor, folder / output, tile=128, quiet=True)
    assert not (folder / output).exists()


def test_missing_folder_and_missing_output(scene, tmp_path):
    with pytest.raises(OutputError, match="folder .*nowhere does not exist"):
        run(scene, Noise(), tmp_path / "nowhere" / "o.tif", quiet=True)
    with pytest.raises(OutputError, match="need an output raster"):
        run(scene, Noise(), None, quiet=True)


class Difference(ChangePredictor):
    """Class 1 where the two dates differ by more than 20 in band 1, else 0."""

    num_outputs = 2

    def predict(self, batch):
        changed = np.abs(batch.images[:, 0] - batch.images2[:, 0]) > 20
        return np.stack([~changed, changed], axis=1).astype(np.float32)


def test_change_over_two_grids(make_raster, tmp_path):
    rng = np.random.default_rng(4)
    before = make_raster(
        "before.tif",
        rng.integers(0, 255, (2, 300, 360)).astype("uint8"),
        transform=Affine(10, 0, 500000, 0, -10, 4000000),
    )
    # the second date: coarser pixels, shifted, and covering only part of the first scene
    after = make_raster(
        "after.tif",
        rng.integers(0, 255, (2, 120, 100)).astype("uint8"),
        transform=Affine(20, 0, 501005, 0, -20, 3999000),
        nodata=0,
    )
    out = tmp_path / "change.tif"
    second = open_scene(after, resampling="nearest")
    result = run(before, Difference(), out, scene2=second, tile=96, overlap=24, batch=3, quiet=True)
    first = open_scene(before)
    a, b = first.read(), align(second, to=first).read()
    changed = (np.abs(a.data[0].astype(float) - b.data[0]) > 20).astype(np.uint8)
    outside = np.ma.getmaskarray(b).all(axis=0)
    expected = np.where(outside, 255, changed)
    with rasterio.open(out) as ds:
        got = ds.read(1)
        assert ds.transform == first.transform
    assert 0 < outside.mean() < 1 and result.skipped > 0  # tiles outside the second date were not predicted
    assert np.array_equal(got, expected)


def test_change_needs_two_scenes_and_others_one(scene, tmp_path):
    with pytest.raises(PredictorError, match="needs a second scene"):
        run(scene, Difference(), tmp_path / "c.tif", quiet=True)
    with pytest.raises(PredictorError, match="takes one scene"):
        run(scene, Noise(), tmp_path / "c.tif", scene2=scene, quiet=True)


def test_summary_line_and_threads_restored(scene, tmp_path, capsys):
    import torch

    before = torch.get_num_threads()
    result = run(str(scene), Noise(), tmp_path / "n.tif", tile=128, overlap=16, threads=1)
    assert torch.get_num_threads() == before
    assert capsys.readouterr().err == ""  # the library prints nothing (and draws no bar off a terminal)
    assert (
        f"{result.tiles} tiles (0 nodata)" in result.summary
        and str(tmp_path / "n.tif") in result.summary
        and "MPix/s" in result.summary
    )
    assert "peak memory" in result.summary and result.peak_rss_mb > 0


def test_failure_before_any_checkpoint_leaves_nothing(scene, tmp_path):
    class Broken(Noise):
        def predict(self, batch):
            raise RuntimeError("the model failed")

    with pytest.raises(RuntimeError, match="the model failed"):
        run(scene, Broken(), tmp_path / "o.tif", tile=128, quiet=True)
    assert _leftovers(tmp_path, "o.tif") == []


STOP = {"at_call": None, "calls": 0}


class Interruptible(Noise):
    """Noise that raises KeyboardInterrupt at a chosen call; its fingerprint does not depend on when."""

    def predict(self, batch):
        STOP["calls"] += 1
        if STOP["calls"] == STOP["at_call"]:
            raise KeyboardInterrupt
        return super().predict(batch)


def test_interrupted_run_resumes_with_the_same_output(scene, tmp_path):
    out = tmp_path / "o.tif"
    options = {"tile": 128, "overlap": 16, "batch": 2, "checkpoint_seconds": 0, "quiet": True}
    STOP.update(at_call=4, calls=0)
    with pytest.raises(KeyboardInterrupt):
        run(scene, Interruptible(), out, **options)
    assert not out.exists() and (tmp_path / ".o.tif.resume" / "state.json").exists()
    STOP.update(at_call=None)
    result = run(scene, Interruptible(), out, **options)
    assert 0 < result.resumed_at < result.tiles
    fresh = run(scene, Interruptible(), tmp_path / "fresh.tif", **options).output
    with rasterio.open(out) as a, rasterio.open(fresh) as b:
        assert np.array_equal(a.read(), b.read())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # sidecar and staging gone


def test_missing_band_is_reported_before_reading(scene, tmp_path):
    from rsvision.errors import BandNotFoundError

    predictor = Noise()
    predictor.bands = ["B08"]
    with pytest.raises(BandNotFoundError, match="no band 'B08'"):
        run(scene, predictor, tmp_path / "o.tif", quiet=True)


def test_block_cache_grows_with_the_scene_width_up_to_an_eighth_of_memory(tmp_path, monkeypatch):
    run_module = importlib.import_module("rsvision.engine.run")  # the module, not the function of that name
    path = tmp_path / "wide.tif"  # 60,000 px wide, nothing written: a sparse file of a few KB
    profile = dict(driver="GTiff", width=60000, height=600, count=3, dtype="uint16", tiled=True, SPARSE_OK=True)
    profile.update(crs="EPSG:32633", transform=Affine(10, 0, 500000, 0, -10, 4000000))
    with rasterio.open(path, "w", blockxsize=512, blockysize=512, **profile):
        pass
    wide = open_scene(path)
    plan = TilePlan.for_shape(wide.height, wide.width, 512, 64)

    class Sink:
        def cache_bytes(self):
            return 10 << 20

    reads = 2 * 118 * 512 * 512 * 2 * 3  # a 512-row tile row crosses 2 block rows of 118 blocks, 3 bands
    expected = int((reads * 5 // 4 + (10 << 20)) / 2**20)
    assert run_module._block_cache_mb(wide, None, None, plan, Sink()) == expected  # about 474 MB
    assert run_module._block_cache_mb(wide, wide, None, plan, Sink()) > 2 * expected - 20  # a pair reads twice
    monkeypatch.setattr(run_module, "memory_bytes", lambda: 2 << 30)
    assert run_module._block_cache_mb(wide, None, None, plan, Sink()) == 256  # an eighth of 2 GB
    small = TilePlan.for_shape(100, 100, 64, 16)
    tiny = open_scene(_tiny(tmp_path))
    assert run_module._block_cache_mb(tiny, None, None, small, Sink()) == 64  # never under 64 MB


def _tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.tif"
    profile = dict(driver="GTiff", width=100, height=100, count=1, dtype="uint8", crs="EPSG:32633")
    with rasterio.open(path, "w", transform=Affine(10, 0, 500000, 0, -10, 4000000), **profile) as dst:
        dst.write(np.zeros((1, 100, 100), "uint8"))
    return path


def test_the_result_says_where_the_time_went(scene, tmp_path):
    result = run(scene, Noise(), tmp_path / "n.tif", tile=128, overlap=16, quiet=True)
    timeline = result.timeline
    phases = ("read_wait_s", "predict_s", "merge_s", "write_s", "checkpoint_s", "finish_s")
    assert all(timeline[k] >= 0 for k in phases) and timeline["predict_s"] > 0 and timeline["finish_s"] > 0
    assert sum(timeline[k] for k in phases) <= result.seconds + 0.05
    assert timeline["read_threads_s"] > 0 and timeline["block_cache_limit_mb"] == 64


def test_interrupted_run_with_probabilities_resumes_with_the_same_outputs(scene, tmp_path):
    from rsvision.engine import Probabilities

    class Classes(Interruptible):
        output = "classes"

    options = {"tile": 128, "overlap": 16, "batch": 2, "checkpoint_seconds": 0, "quiet": True}
    outputs = [tmp_path / "c.tif", Probabilities(tmp_path / "p.tif")]
    STOP.update(at_call=4, calls=0)
    with pytest.raises(KeyboardInterrupt):
        run(scene, Classes(), outputs, **options)
    assert not (tmp_path / "c.tif").exists() and not (tmp_path / "p.tif").exists()
    STOP.update(at_call=None)
    assert run(scene, Classes(), outputs, **options).resumed_at > 0
    fresh = [tmp_path / "fc.tif", Probabilities(tmp_path / "fp.tif")]
    run(scene, Classes(), fresh, **options)
    for a, b in (("c.tif", "fc.tif"), ("p.tif", "fp.tif")):
        with rasterio.open(tmp_path / a) as x, rasterio.open(tmp_path / b) as y:
            assert np.array_equal(x.read(), y.read())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(OutputError, match="beside a class map"):
        run(scene, Noise(), [tmp_path / "s.tif", Probabilities(tmp_path / "sp.tif")], quiet=True)
