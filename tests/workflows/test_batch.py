"""`rsvision batch` on a LocalCluster of 2 worker processes: 6 generated scenes, outputs equal to the single
command's, a catalogue of them, a rerun that runs nothing, a broken scene recorded as failed, a worker killed
mid-job."""

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
import shapely
from affine import Affine
from dask.distributed import Client, LocalCluster
from rasterio.warp import transform_bounds
from shapely.geometry import mapping

from rsvision.errors import InputNotFoundError, RsvisionError
from rsvision.io import open_stac_item
from rsvision.io.search_index import SearchIndex
from rsvision.io.vectors import read_vectors
from rsvision.models.embedder import load_embedder
from rsvision.workflows.batch import (
    expand_inputs,
    output_for,
    plan_jobs,
    read_pairs,
    run_batch,
    stac_scenes,
    unique_names,
)
from rsvision.workflows.change import change_scenes
from rsvision.workflows.search import build_index, embed_query, search_index
from rsvision.workflows.spectral import compute_indices

OPTIONS = {"indices": ["ndvi"]}


def failures(result) -> list[str]:
    """What the failed scenes of a batch said (an assertion's message: a failure under load stays diagnosable)."""
    return [f"{r['scene']}: {r['error']}" for r in result.rows if r["status"] == "failed"]


def scenes(folder, n=6, size=200, side_by_side=True):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        transform = Affine(10, 0, 500000 + 10 * size * i * side_by_side, 0, -10, 4000000)
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
    with rasterio.open(reference) as a, rasterio.open(output_for("s3", "spectral", out)) as b:
        assert np.array_equal(a.read(), b.read(), equal_nan=True)
    layer = read_vectors(out / "catalogue.parquet")
    status = dict(zip(layer.columns["scene"], layer.columns["status"]))
    assert sorted(status.values()) == ["done"] * 6 + ["failed"] and str(layer.crs).endswith("4326")
    done_row = list(layer.columns["status"]).index("done")
    assert 14 < layer.geometries[done_row].centroid.x < 16  # lon/lat of UTM 33N
    again = run_batch("spectral", [folder], out, workers=2, options=OPTIONS, retries=0)
    assert (again.done, again.skipped, again.failed) == (0, 6, 1)  # only the broken one tried again


def _kill_a_worker_when(ready, folder, out, **options):
    """``run_batch("spectral")`` on a 2-worker LocalCluster, one worker killed (SIGKILL) once ``ready()``: the
    result."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)
        done = {}
        address = cluster.scheduler_address
        job = threading.Thread(
            target=lambda: done.update(r=run_batch("spectral", [folder], out, scheduler=address, **options))
        )
        job.start()
        deadline = time.time() + 120
        while not ready() and time.time() < deadline:
            time.sleep(0.02)
        os.kill(next(iter(pids.values())), signal.SIGKILL)  # one worker dies with work on it
        job.join(300)
    return done["r"]


def test_a_worker_killed_mid_job(tmp_path):
    folder = scenes(tmp_path / "in", n=6, size=1500)
    out = tmp_path / "out"
    out.mkdir()
    result = _kill_a_worker_when(lambda: any(out.glob("*_spectral.tif")), folder, out, options=OPTIONS)
    assert (result.done, result.failed) == (6, 0), failures(result)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"s{i}_spectral.tif" for i in range(6)] + ["catalogue.parquet"])  # nothing half-written
    reference = compute_indices(folder / "s5.tif", tmp_path / "single.tif", indices=["ndvi"], quiet=True).output
    with rasterio.open(reference) as a, rasterio.open(out / "s5_spectral.tif") as b:
        assert np.array_equal(a.read(), b.read(), equal_nan=True)


def test_change_pairs_from_a_csv(tmp_path):
    folder = scenes(tmp_path / "in", n=4, side_by_side=False)
    (tmp_path / "pairs.csv").write_text("before,after\nin/s0.tif,in/s1.tif\nin/s2.tif,in/s3.tif\n")
    pairs = read_pairs(tmp_path / "pairs.csv")
    assert pairs == [(folder / "s0.tif", folder / "s1.tif"), (folder / "s2.tif", folder / "s3.tif")]
    out = tmp_path / "out"
    out.mkdir()
    result = run_batch("change", (), out, pairs=pairs, workers=2, options={"method": "cva"}, retries=0)
    assert (result.done, result.failed) == (2, 0), failures(result)
    reference = change_scenes(folder / "s2.tif", folder / "s3.tif", tmp_path / "single.tif", quiet=True).change_map
    with rasterio.open(reference) as a, rasterio.open(out / "s2_s3_change.tif") as b:
        assert np.array_equal(a.read(), b.read())
    rows = read_vectors(out / "catalogue.parquet").columns
    assert list(rows["scene2"]) == [str(folder / "s1.tif"), str(folder / "s3.tif")] and set(rows["model"]) == {"cva"}
    (tmp_path / "bad.csv").write_text("in/s0.tif\n")
    with pytest.raises(RsvisionError, match="two paths"):
        read_pairs(tmp_path / "bad.csv")


def test_a_huge_scene_is_split_over_the_workers(tmp_path):
    folder = scenes(tmp_path / "in", n=2, size=1300)
    out = tmp_path / "out"
    out.mkdir()
    options = {"indices": ["ndvi", "evi"]}
    result = run_batch("spectral", [folder], out, workers=2, options=options, block_pixels=1000 * 1000)
    assert (result.done, result.failed) == (2, 0), failures(result)
    for i in range(2):
        single = compute_indices(folder / f"s{i}.tif", tmp_path / "single.tif", quiet=True, **options).output
        with rasterio.open(single) as a, rasterio.open(out / f"s{i}_spectral.tif") as b:
            assert np.array_equal(a.read(), b.read(), equal_nan=True) and a.tags() == b.tags()
    assert not list(out.glob(".*"))  # no block folder, journal or partial file left


def _stac_catalogue(root, n=2, size=120):
    """A static STAC catalogue of ``n`` items, each four single-band GeoTIFFs (B02, B03, B04, B08)."""
    catalog = pystac.Catalog("test", "offline batch catalogue")
    rng = np.random.default_rng(1)
    for i in range(n):
        x0 = 500000 + 2000 * i
        bbox = list(transform_bounds("EPSG:32633", "EPSG:4326", x0, 4000000 - 10 * size, x0 + 10 * size, 4000000))
        when = dt.datetime(2024, 1, 1 + i, tzinfo=dt.UTC)
        item = pystac.Item(f"item{i}", mapping(shapely.box(*bbox)), bbox, when, {"platform": "sentinel-2a"})
        for band in ("B02", "B03", "B04", "B08"):
            path = root / f"item{i}_{band}.tif"
            profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="uint16", crs="EPSG:32633")
            with rasterio.open(path, "w", transform=Affine(10, 0, x0, 0, -10, 4000000), **profile) as ds:
                ds.write(rng.integers(0, 3000, (1, size, size)).astype("uint16"))
            item.add_asset(band, pystac.Asset(str(path), media_type=pystac.MediaType.COG, roles=["data"]))
        catalog.add_item(item)
    catalog.normalize_hrefs(str(root / "catalog"))
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    return root / "catalog" / "catalog.json"


def test_stac_items_round_trip(tmp_path):
    catalogue = _stac_catalogue(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    items = stac_scenes(out, str(catalogue), None, "14,35,16,37", datetime="2024-01-01/2024-01-31")
    assert [p.name for p in items] == ["item0.json", "item1.json"]
    result = run_batch("spectral", items, out, workers=1, options={"assets": "B04,B08", **OPTIONS}, retries=0)
    assert (result.done, result.failed) == (2, 0), failures(result)
    scene = open_stac_item(items[1], ["B04", "B08"])
    reference = compute_indices(scene, tmp_path / "single.tif", indices=["ndvi"], quiet=True).output
    with rasterio.open(reference) as a, rasterio.open(out / "item1_spectral.tif") as b:
        assert np.array_equal(a.read(), b.read(), equal_nan=True)
    with pytest.raises(RsvisionError, match="no item|No item|no STAC item"):
        stac_scenes(out, str(catalogue), None, "14,35,16,37", datetime="2030-01-01/2030-01-31")


def test_a_rerun_after_a_killed_job_skips_the_finished_scenes(tmp_path):
    folder = scenes(tmp_path / "in", n=6, size=1200)
    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "rsvision", "batch", "spectral", str(folder), "-o", str(out), "--workers", "1"]
    job = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while len(list(out.glob("*_spectral.tif"))) < 2 and time.time() < deadline and job.poll() is None:
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGKILL)  # the whole job: the command and its workers
    job.wait()
    finished = {p.name for p in out.glob("*_spectral.tif")}
    assert 2 <= len(finished) < 6 and not (out / "catalogue.parquet").exists()
    result = run_batch("spectral", [folder], out, workers=1, options=OPTIONS)
    journaled = result.skipped
    assert journaled >= len(finished) - 1  # a scene whose output appeared just before the kill may not be in it yet
    assert result.done + result.skipped == 6 and result.done == 6 - journaled  # only the rest ran


def test_index_on_workers_equals_the_index_command(tmp_path):
    folder = scenes(tmp_path / "in", n=3, size=300)
    out = tmp_path / "out"
    out.mkdir()
    result = run_batch("index", [folder], out, workers=2, retries=0)
    assert (result.done, result.failed) == (3, 0), failures(result)
    embedder = load_embedder()
    single = build_index([folder], embedder, tmp_path / "single")
    with SearchIndex.open(out / "index") as a, SearchIndex.open(tmp_path / "single") as b:
        assert len(a) == len(b) == single.total > 3
        query = embed_query(embedder, "a field", None)
        hits_a = search_index(out / "index", embedder, query, k=5)
        hits_b = search_index(tmp_path / "single", embedder, query, k=5)
        assert [h.entry.key for h in hits_a] == [h.entry.key for h in hits_b]
    again = run_batch("index", [folder], out, workers=2)
    assert (again.done, again.skipped) == (0, 3)


def test_outputs_are_named_apart(tmp_path):
    oscd = [Path(f"/d/{city}/imgs_{n}") for city in ("beihai", "paris") for n in (1, 2)]
    assert unique_names(oscd) == ["beihai_imgs_1", "beihai_imgs_2", "paris_imgs_1", "paris_imgs_2"]
    jobs = plan_jobs("change", tmp_path, pairs=[(oscd[0], oscd[1]), (oscd[2], oscd[3])])
    assert [j.output.name for j in jobs] == [
        "beihai_imgs_1_beihai_imgs_2_change.tif",
        "paris_imgs_1_paris_imgs_2_change.tif",
    ]
    assert unique_names([Path("a/x.tif"), Path("b/x.tif"), Path("c/y.tif")]) == ["a_x", "b_x", "y"]
    with pytest.raises(RsvisionError, match="two scenes would write"):
        plan_jobs("segment", tmp_path, [Path("a/x.tif"), Path("a/x.jp2")])


def test_a_worker_killed_while_a_huge_scene_runs_in_blocks(tmp_path):
    folder = scenes(tmp_path / "in", n=1, size=2600)
    out = tmp_path / "out"
    out.mkdir()
    blocks = out / ".s0_spectral.tif.blocks"
    result = _kill_a_worker_when(lambda: any(blocks.glob("block-*")), folder, out, options=OPTIONS, block_pixels=10**6)
    assert (result.done, result.failed) == (1, 0), failures(result)
    assert sorted(p.name for p in out.iterdir()) == ["catalogue.parquet", "s0_spectral.tif"]
    reference = compute_indices(folder / "s0.tif", tmp_path / "single.tif", indices=["ndvi"], quiet=True).output
    with rasterio.open(reference) as a, rasterio.open(out / "s0_spectral.tif") as b:
        assert np.array_equal(a.read(), b.read(), equal_nan=True)
