"""``rsvision batch``: one task over an archive of scenes on Dask distributed, one output per scene as the single
command writes it, and a GeoParquet catalogue of what was made.

Each scene is one Dask task running the task's own workflow (``segment_scene``, ``classify_scene``,
``detect_scene``, ``compute_indices``) on a worker, single-threaded: a ``LocalCluster`` of ``workers`` processes by
default, or the cluster at ``scheduler``. Outputs appear only when complete (the workflows write under a temporary
name and rename), so a task that a lost worker leaves half done is simply run again (``retries``) and no output is
ever duplicated. The catalogue (``OUTDIR/catalogue.parquet``: scene, task, output, footprint in lon/lat, status,
seconds, model and its sha256) is rewritten, atomically, as each scene finishes: a job killed and run again skips
the scenes the catalogue lists as done whose outputs exist.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import shapely
from dask.distributed import Client, LocalCluster, as_completed
from rasterio.windows import Window

from rsvision.core.files import remove_stale_partials
from rsvision.core.progress import progress_bar
from rsvision.core.settings import torch_threads
from rsvision.errors import InputNotFoundError, RsvisionError
from rsvision.io import open_scene
from rsvision.io.vectors import read_vectors
from rsvision.io.writers import write_vectors
from rsvision.models.classifier import load_classifier
from rsvision.models.resolve import resolve_model
from rsvision.models.segmentation import segmenter_spec
from rsvision.models.weights import Task
from rsvision.workflows import classify, detect, segment, spectral
from rsvision.workflows.search import footprints

TASKS = {"segment": ".tif", "classify": ".tif", "detect": ".gpkg", "spectral": ".tif"}
RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".jpg", ".jpeg", ".png", ".vrt")
CATALOGUE = "catalogue.parquet"
COLUMNS = ("scene", "task", "output", "status", "seconds", "model", "sha256", "error")


@dataclass
class BatchResult:
    catalogue: Path
    done: int
    skipped: int
    failed: int
    seconds: float
    dashboard: str | None = None
    rows: list[dict] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return (
            f"{self.done} scenes done, {self.skipped} already done, {self.failed} failed in {self.seconds:.1f} s "
            f"-> {self.catalogue}"
        )


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Scene paths from files, folders (their rasters, recursively), glob patterns and ``.txt`` lists (one path a
    line), in order, each once."""
    out: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.suffix.lower() == ".txt" and path.is_file():
            lines = [s.strip() for s in path.read_text().splitlines()]
            found = [
                Path(s) if Path(s).is_absolute() else path.parent / s for s in lines if s and not s.startswith("#")
            ]
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in RASTER_SUFFIXES and p.is_file())
        elif path.exists():
            found = [path]
        else:
            found = sorted(Path(p) for p in glob.glob(str(item), recursive=True))
            if not found:
                raise InputNotFoundError(f"no such file, folder or match: {item}")
        out += [p for p in found if p not in out]
    if not out:
        raise InputNotFoundError(f"no scenes in {', '.join(map(str, inputs))}")
    return out


def output_for(scene: Path, task: str, out_dir: Path) -> Path:
    return out_dir / f"{scene.stem}_{task}{TASKS[task]}"


@lru_cache(maxsize=4)
def _segmenter(model: str | None):
    """Models load once per worker process, not once per scene."""
    return resolve_model(segmenter_spec(model), Task.SEGMENTATION, "batch segment")


@lru_cache(maxsize=4)
def _classifier(model: str | None):
    return load_classifier(model)


def run_scene(task: str, scene: str, output: str, options: dict[str, Any]) -> dict[str, Any]:
    """One scene through the task's workflow on this worker (one torch thread, GDAL compressing on one): its
    catalogue row."""
    os.environ["GDAL_NUM_THREADS"] = "1"  # this worker process is one of several sharing the machine's cores
    t0 = time.perf_counter()
    model, sha = None, None
    with torch_threads(1):
        if task == "segment":
            loaded = _segmenter(options.get("model"))
            segment.segment_scene(scene, loaded, output, threads=1, quiet=True)
            model, sha = loaded.weights.name, loaded.weights.sha256
        elif task == "classify":
            classifier = _classifier(options.get("model"))
            classify.classify_scene(scene, classifier, output, threads=1, quiet=True)
            model, sha = classifier.weights.name, classifier.weights.sha256
        elif task == "detect":
            opened = open_scene(scene)
            predictor, _ = detect.load_detector(options.get("model"), opened, score=options.get("score", 0.3))
            detect.detect_scene(opened, predictor, output, threads=1, quiet=True)
            model, sha = predictor.weights.name, predictor.weights.sha256
        else:
            spectral.compute_indices(scene, output, indices=options.get("indices") or ("ndvi",), threads=1, quiet=True)
    row = {"scene": scene, "task": task, "output": output, "status": "done", "seconds": time.perf_counter() - t0}
    return row | {"model": model, "sha256": sha, "error": None, "footprint": footprint_lonlat(scene)}


def footprint_lonlat(path: str) -> str:
    """The scene's outline as WKT in lon/lat (its pixel outline when it has no georeference), as an index records
    it (:func:`rsvision.workflows.search.footprints`)."""
    scene = open_scene(path)
    _, pixels_or_crs, lonlat = footprints(scene, Window(0, 0, scene.width, scene.height))
    return lonlat or pixels_or_crs


def read_catalogue(path: Path) -> dict[str, dict]:
    """The rows of an earlier catalogue by scene (empty when there is none)."""
    if not path.is_file():
        return {}
    layer = read_vectors(path)
    rows = [
        {c: _plain(layer.columns[c][i]) for c in layer.columns} | {"footprint": layer.geometries[i].wkt}
        for i in range(len(layer))
    ]
    return {str(r["scene"]): r for r in rows}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def write_catalogue(path: Path, rows: Sequence[dict]) -> Path:
    """The rows as GeoParquet (footprints in lon/lat), written whole under a temporary name, then renamed."""
    geoms = [shapely.from_wkt(r["footprint"]) if r.get("footprint") else shapely.Polygon() for r in rows]
    columns = {c: [r.get(c) for r in rows] for c in COLUMNS}
    return write_vectors(path, geoms, columns, crs="EPSG:4326")


def run_batch(
    task: str,
    inputs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    options: dict[str, Any] | None = None,
    retries: int = 2,
    progress: bool = False,
    on_start: Callable[[str | None], None] | None = None,
) -> BatchResult:
    """Run ``task`` over every scene of ``inputs`` into ``out_dir`` on Dask distributed (see the module's note)."""
    if task not in TASKS:
        raise RsvisionError(f"batch runs {', '.join(TASKS)}; not {task!r}")
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputNotFoundError(f"output folder {out_dir} does not exist (make it first)")
    scenes = expand_inputs(inputs)
    catalogue = out_dir / CATALOGUE
    rows = read_catalogue(catalogue)
    todo = [s for s in scenes if not _done(rows.get(str(s)), task)]
    t0 = time.perf_counter()
    if not todo:  # nothing left to do: no cluster to start
        kept = [rows[str(s)] for s in scenes]
        return BatchResult(catalogue, 0, len(scenes), 0, time.perf_counter() - t0, None, kept)
    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)
    failed, dashboard = 0, None
    with Client(scheduler or cluster) as client, progress_bar(enabled=progress) as bar:
        dashboard = client.dashboard_link
        if on_start:
            on_start(dashboard)
        bar_task = bar.add_task(f"batch {task}: {len(todo)} scenes", total=len(todo))
        futures = [
            client.submit(
                run_scene,
                task,
                str(s),
                str(output_for(s, task, out_dir)),
                options or {},
                retries=retries,
                pure=False,
                key=f"{task}-{s.stem}-{time.time_ns()}",
            )
            for s in todo
        ]
        for future in as_completed(futures):
            try:
                row = future.result()
            except Exception as err:  # the scene's own error, after its retries: recorded, the others go on
                failed += 1
                scene = todo[futures.index(future)]
                row = {"scene": str(scene), "task": task, "output": None, "status": "failed", "seconds": None}
                row |= {"model": None, "sha256": None, "error": str(err).splitlines()[0][:300], "footprint": None}
            rows[row["scene"]] = row
            write_catalogue(catalogue, list(rows.values()))
            bar.advance(bar_task)
    if cluster is not None:
        cluster.close()
    for s in todo:  # a worker killed while writing leaves its temporary file; the scene was redone elsewhere
        remove_stale_partials(output_for(s, task, out_dir))
    kept = [rows[str(s)] for s in scenes if str(s) in rows]
    write_catalogue(catalogue, kept)
    seconds = time.perf_counter() - t0
    return BatchResult(catalogue, len(todo) - failed, len(scenes) - len(todo), failed, seconds, dashboard, kept)


def _done(row: dict | None, task: str) -> bool:
    return bool(row) and row.get("status") == "done" and row.get("task") == task and Path(str(row["output"])).is_file()
