"""`rsvision batch` on a LocalCluster of 2 worker processes: 6 generated scenes, outputs equal to the single
command's, a catalogue of them, a rerun that runs nothing, a broken scene recorded as failed, a worker killed
mid-job."""

import os
import signal
import threading
import time

import numpy as np
import pytest
import rasterio
from affine import Affine
from dask.distributed import Client, LocalCluster

from rsvision.errors import InputNotFoundError
from rsvision.io.vectors import read_vectors
from rsvision.workflows.batch import expand_inputs, output_for, run_batch
from rsvision.workflows.spectral import compute_indices

OPTIONS = {"indices": ["ndvi"]}


def scenes(folder, n=6, size=200):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        transform = Affine(10, 0, 500000 + 10 * size * i, 0, -10, 4000000)
        profile = dict(driver="GTiff", width=size, height=size, count=4, dtype="uint16", crs="EPSG:32633")
        with rasterio.open(folder / f"s{i}.tif", "w", transform=transform, **profile) as ds:
            ds.write(rng.integers(0, 3000, (4, size, size)).astype("uint16"))
            for b, name in enumerate(["B02", "B03", "B04", "B08"], start=1):
                ds.set_band_description(b, name)
    return folder


def test_expand_inputs(tmp_path):
    folder = scenes(tmp_path / "in", n=3)
    (tmp_path / "list.txt").write_text("in/s2.tif\n# a comment\nin/s0.tif\n")
    assert [p.name for p in expand_inputs([folder])] == ["s0.tif", "s1.tif", "s2.tif"]
    assert [p.name for p in expand_inputs([tmp_path / "list.txt", str(folder / "s*.tif")])] == [
        "s2.tif",
        "s0.tif",
        "s1.tif",
    ]
    with pytest.raises(InputNotFoundError, match="no such file"):
        expand_inputs([tmp_path / "missing*.tif"])


def test_batch_outputs_catalogue_and_rerun(tmp_path):
    folder = scenes(tmp_path / "in")
    (tmp_path / "in" / "broken.tif").write_bytes(b"not a raster")
    out = tmp_path / "out"
    out.mkdir()
    result = run_batch("spectral", [folder], out, workers=2, options=OPTIONS, retries=0)
    assert (result.done, result.skipped, result.failed) == (6, 0, 1)
    reference = compute_indices(folder / "s3.tif", tmp_path / "single.tif", indices=["ndvi"], quiet=True).output
    with rasterio.open(reference) as a, rasterio.open(output_for(folder / "s3.tif", "spectral", out)) as b:
        assert np.array_equal(a.read(), b.read(), equal_nan=True)
    layer = read_vectors(out / "catalogue.parquet")
    status = dict(zip(layer.columns["scene"], layer.columns["status"]))
    assert sorted(status.values()) == ["done"] * 6 + ["failed"] and str(layer.crs).endswith("4326")
    done_row = list(layer.columns["status"]).index("done")
    assert 14 < layer.geometries[done_row].centroid.x < 16  # lon/lat of UTM 33N
    again = run_batch("spectral", [folder], out, workers=2, options=OPTIONS, retries=0)
    assert (again.done, again.skipped, again.failed) == (0, 6, 1)  # only the broken one tried again


def test_a_worker_killed_mid_job(tmp_path):
    folder = scenes(tmp_path / "in", n=6, size=1500)
    out = tmp_path / "out"
    out.mkdir()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)
        done = {}
        job = threading.Thread(
            target=lambda: done.update(
                r=run_batch("spectral", [folder], out, scheduler=cluster.scheduler_address, options=OPTIONS)
            )
        )
        job.start()
        deadline = time.time() + 120
        while not any(out.glob("*_spectral.tif")) and time.time() < deadline:
            time.sleep(0.05)
        os.kill(next(iter(pids.values())), signal.SIGKILL)  # one worker dies with scenes on it
        job.join(300)
    result = done["r"]
    assert (result.done, result.failed) == (6, 0)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"s{i}_spectral.tif" for i in range(6)] + ["catalogue.parquet"])  # nothing half-written
    reference = compute_indices(folder / "s5.tif", tmp_path / "single.tif", indices=["ndvi"], quiet=True).output
    with rasterio.open(reference) as a, rasterio.open(out / "s5_spectral.tif") as b:
        assert np.array_equal(a.read(), b.read(), equal_nan=True)
