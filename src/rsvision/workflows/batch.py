"""``rsvision batch``: one task over an archive of scenes on Dask distributed, one output per scene as the single
command writes it, and a GeoParquet catalogue of what was made.

Each scene is one Dask task running the task's own workflow (``segment_scene``, ``classify_scene``,
``detect_scene``, ``compute_indices``, ``change_scenes``) on a worker, single-threaded: a ``LocalCluster`` of
``workers`` processes by default, or the cluster at ``scheduler``. A scene of more than ``block_pixels`` pixels is
not one task but many: the same workflow runs here with :func:`rsvision.engine.blocks.run_on_blocks` as its engine,
which spreads the scene's tile rows over every worker and merges the blocks into the single run's output.
``index`` embeds each scene's tiles on a worker (:func:`rsvision.workflows.search.embed_scene`) and adds them here,
in one process, to one index folder ``OUTDIR/index`` (``rsvision search`` reads it).

Outputs appear only when complete (the workflows write under a temporary name and rename), so a task that a lost
worker leaves half done is simply run again (``retries``) and no output is ever duplicated. Each finished scene is
appended to a journal (``OUTDIR/.catalogue.jsonl``, one line each: the cost stays the same however many scenes are
done); the catalogue (``OUTDIR/catalogue.parquet``: scene, second scene, task, output, footprint in lon/lat, status,
seconds, model and its sha256, the warnings the scene raised) is written from it at the end. A job killed and run
again skips the scenes the catalogue or the journal lists as done whose outputs exist.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import glob
import json
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import dask
import shapely
from dask.distributed import Client, LocalCluster, as_completed
from rasterio.windows import Window

from rsvision.core.files import remove_stale_partials
from rsvision.core.progress import progress_bar
from rsvision.core.settings import roomy_heap, torch_threads
from rsvision.engine import run
from rsvision.engine.blocks import run_on_blocks
from rsvision.errors import InputNotFoundError, RsvisionError, first_line
from rsvision.io import Scene, open_scene, open_stac_item, save_items, search_items
from rsvision.io.search_index import SearchIndex
from rsvision.io.vectors import read_vectors
from rsvision.io.writers import write_vectors
from rsvision.models.change import default_change_model
from rsvision.models.classifier import load_classifier
from rsvision.models.embedder import load_embedder
from rsvision.models.resolve import resolve_model
from rsvision.models.segmentation import segmenter_spec
from rsvision.models.weights import Task
from rsvision.workflows import change, classify, detect, search, segment, spectral
from rsvision.workflows.search import footprints

TASKS = {"segment": ".tif", "classify": ".tif", "detect": ".gpkg", "spectral": ".tif", "change": ".tif", "index": ""}
ENGINE_TASKS = ("segment", "classify", "detect", "spectral", "change")  # those a huge scene runs in blocks for
INDEX_FOLDER = "index"
RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".jpg", ".jpeg", ".png", ".vrt")
CATALOGUE, JOURNAL, STAC_FOLDER = "catalogue.parquet", ".catalogue.jsonl", "stac-items"
COLUMNS = ("scene", "scene2", "task", "output", "status", "seconds", "model", "sha256", "error", "warnings")
BLOCK_PIXELS = 10_000 * 10_000  # larger scenes are split over the workers (a Sentinel-2 tile is 10,980 a side)


@dataclass(frozen=True)
class Job:
    """One output to make: a scene (and the second date of a change pair)."""

    scene: Path
    scene2: Path | None
    output: Path

    @property
    def key(self) -> str:
        return f"{self.scene}|{self.scene2 or ''}"


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
            found = [_beside(path, s) for s in lines if s and not s.startswith("#")]
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


def _beside(listing: Path, entry: str) -> Path:
    """A path written in a list file: absolute, or relative to the list's folder."""
    return Path(entry) if Path(entry).is_absolute() else listing.parent / entry


def read_pairs(listing: str | os.PathLike) -> list[tuple[Path, Path]]:
    """Change pairs from a CSV of two columns, before and after (a header row, if any, is skipped; paths relative to
    the CSV's folder)."""
    path = Path(listing)
    if not path.is_file():
        raise InputNotFoundError(f"no such pair list: {path}")
    pairs = []
    with path.open(newline="") as f:
        for n, row in enumerate(csv.reader(f), start=1):
            cells = [c.strip() for c in row if c.strip()]
            if not cells or cells[0].startswith("#"):
                continue
            if len(cells) != 2:
                raise RsvisionError(f"{path}:{n}: give two paths, before and after, not {len(cells)} values")
            before, after = (_beside(path, c) for c in cells)
            if n == 1 and not before.exists() and not after.exists():
                continue  # a header
            for p in (before, after):
                if not p.exists():
                    raise InputNotFoundError(f"{path}:{n}: no such file or folder: {p}")
            pairs.append((before, after))
    if not pairs:
        raise InputNotFoundError(f"{path} lists no pairs (two columns: before, after)")
    return pairs


def stac_scenes(out_dir: str | os.PathLike, url: str, collection: str | None, bbox: str | None, **search) -> list[Path]:
    """The items a STAC search finds, saved as item files in ``OUTDIR/stac-items`` (the scenes of the batch: a
    rerun opens the same items by path, without searching again)."""
    folder = Path(out_dir) / STAC_FOLDER
    folder.mkdir(exist_ok=True)
    return save_items(search_items(url, collection, bbox, **search), folder)


def unique_names(paths: Sequence[Path]) -> list[str]:
    """A name per path for its output: the stem, with as many parent folders as make it unique among ``paths``
    (OSCD's ``beihai/imgs_1`` and ``paris/imgs_1`` become ``beihai_imgs_1`` and ``paris_imgs_1``)."""
    parts = [Path(p.parent, p.stem).parts for p in paths]
    depth = [1] * len(paths)
    while True:
        names = ["_".join(q[-d:]) for q, d in zip(parts, depth)]
        clashes = [i for i, n in enumerate(names) if names.count(n) > 1 and depth[i] < len(parts[i])]
        if not clashes:
            return names
        for i in clashes:
            depth[i] += 1


def output_for(name: str, task: str, out_dir: Path) -> Path:
    """``OUTDIR/<name>_<task>.tif|.gpkg``; the index folder for ``index``."""
    if task == "index":  # one index of every scene's tiles
        return out_dir / INDEX_FOLDER
    return out_dir / f"{name}_{task}{TASKS[task]}"


@lru_cache(maxsize=4)
def _segmenter(model: str | None):
    """Models load once per worker process, not once per scene."""
    return resolve_model(segmenter_spec(model), Task.SEGMENTATION, "batch segment")


@lru_cache(maxsize=4)
def _classifier(model: str | None):
    return load_classifier(model)


@lru_cache(maxsize=4)
def _embedder(model: str | None):
    return load_embedder(model, needed_by="batch index")


@lru_cache(maxsize=4)
def _change_model(spec: str):
    return resolve_model(spec, Task.CHANGE, "batch change")


def _open(path: str, options: dict[str, Any]) -> Scene:
    """A scene by path; a STAC item with the ``assets`` chosen."""
    if path.lower().endswith(".json") and options.get("assets"):
        return open_stac_item(path, options["assets"])
    return open_scene(path)


def run_scene(
    task: str,
    scene: str,
    output: str,
    options: dict[str, Any],
    scene2: str | None = None,
    runner: Callable = run,
) -> dict[str, Any]:
    """One scene (a pair for change) through the task's workflow, one torch thread: its catalogue row. On a worker
    it runs with the engine's ``run`` (GDAL compressing on one thread: the worker shares the machine with others);
    here, for a huge scene, with ``run_on_blocks``."""
    if runner is run:
        os.environ["GDAL_NUM_THREADS"] = "1"
        roomy_heap()
    t0 = time.perf_counter()
    common = {"threads": 1, "quiet": True, "runner": runner}
    with torch_threads(1), warnings.catch_warnings(record=True) as caught:  # the row keeps them, not the terminal
        warnings.simplefilter("always")
        opened = _open(scene, options)
        model, sha, extra = _run_task(task, opened, output, options, scene2, common)
    row = {"scene": scene, "scene2": scene2, "task": task, "output": output, "status": "done"}
    row |= {"seconds": time.perf_counter() - t0, "model": model, "sha256": sha, "error": None}
    row["warnings"] = "; ".join(dict.fromkeys(first_line(w.message) for w in caught)) or None
    return row | {"footprint": footprint_lonlat(opened)} | extra


def _run_task(task, scene: Scene, output: str, options: dict, scene2: str | None, common: dict) -> tuple:
    """Run the task's workflow; the model's name and sha256 (None for spectral indices and change methods), and
    what else goes back with the catalogue row (an index's entries and vectors)."""
    if task == "segment":
        loaded = _segmenter(options.get("model"))
        segment.segment_scene(scene, loaded, output, **common)
        return loaded.weights.name, loaded.weights.sha256, {}
    if task == "classify":
        classifier = _classifier(options.get("model"))
        classify.classify_scene(scene, classifier, output, **common)
        return classifier.weights.name, classifier.weights.sha256, {}
    if task == "detect":
        predictor, _ = detect.load_detector(options.get("model"), scene, score=options.get("score", 0.3))
        detect.detect_scene(scene, predictor, output, **common)
        return predictor.weights.name, predictor.weights.sha256, {}
    if task == "change":
        method = options.get("method")
        spec = options.get("model") or (
            None if method else default_change_model(scene.band_names, scene.dtype, scene.sensor)
        )
        loaded = _change_model(spec) if spec else None
        change.change_scenes(scene, _open(scene2, options), output, model=loaded, method=method or "cva", **common)
        return (loaded.weights.name, loaded.weights.sha256, {}) if loaded else (method or "cva", None, {})
    if task == "index":  # the vectors go back with the row: the index is written in one process only
        embedder = _embedder(options.get("model"))
        entries, vectors = search.embed_scene(scene, embedder)
        return embedder.name, search.model_id(embedder).sha256, {"entries": entries, "vectors": vectors}
    spectral.compute_indices(scene, output, indices=options.get("indices") or ("ndvi",), **common)
    return None, None, {}


def footprint_lonlat(scene: Scene) -> str | None:
    """The scene's outline as WKT in lon/lat, as an index records it (:func:`rsvision.workflows.search.footprints`);
    None without a georeference (a pixel outline has no place in a lon/lat layer)."""
    return footprints(scene, Window(0, 0, scene.width, scene.height))[2]


def read_catalogue(out_dir: Path) -> dict[str, dict]:
    """The rows of an earlier catalogue and journal by job key (empty when there is none)."""
    rows: dict[str, dict] = {}
    path = out_dir / CATALOGUE
    if path.is_file():
        layer = read_vectors(path)
        for i in range(len(layer)):
            row = {c: _plain(layer.columns[c][i]) for c in layer.columns} | {"footprint": layer.geometries[i].wkt}
            rows[_key(row)] = row
    journal = out_dir / JOURNAL
    if journal.is_file():
        for line in journal.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:  # the line a kill cut short
                continue
            rows[_key(row)] = row
    return rows


def _key(row: dict) -> str:
    return f"{row['scene']}|{row.get('scene2') or ''}"


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def write_catalogue(path: Path, rows: Sequence[dict]) -> Path:
    """The rows as GeoParquet (footprints in lon/lat), written whole under a temporary name, then renamed."""
    geoms = [shapely.from_wkt(r["footprint"]) if r.get("footprint") else shapely.Polygon() for r in rows]
    columns = {c: [r.get(c) for r in rows] for c in COLUMNS}
    return write_vectors(path, geoms, columns, crs="EPSG:4326")


def local_cluster(workers: int) -> LocalCluster:
    """A cluster of ``workers`` processes of one thread each on this machine, started without Dask's
    ``MALLOC_TRIM_THRESHOLD_`` (see :func:`~rsvision.core.settings.roomy_heap`: 1.4x slower with it)."""
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)


def plan_jobs(
    task: str, out_dir: Path, scenes: Sequence[Path] = (), pairs: Sequence[tuple[Path, Path]] = ()
) -> list[Job]:
    """One job per scene (per pair for change, each pair once), each with its own output."""
    if task == "change":
        if not pairs:
            raise RsvisionError("batch change takes pairs: a CSV of two columns, before and after")
        pairs = list(dict.fromkeys(pairs))
        names = unique_names([p for pair in pairs for p in pair])
        jobs = [
            Job(a, b, output_for(f"{names[2 * i]}_{names[2 * i + 1]}", task, out_dir)) for i, (a, b) in enumerate(pairs)
        ]
    else:
        jobs = [Job(s, None, output_for(n, task, out_dir)) for s, n in zip(scenes, unique_names(scenes))]
    outputs = [j.output for j in jobs if task != "index"]
    if len(set(outputs)) < len(outputs):
        clash = next(o for o in outputs if outputs.count(o) > 1)
        raise RsvisionError(f"two scenes would write {clash}: give them different names")
    return jobs


def run_batch(
    task: str,
    inputs: Sequence[str | os.PathLike] = (),
    out_dir: str | os.PathLike = ".",
    *,
    pairs: Sequence[tuple[Path, Path]] = (),
    workers: int = 2,
    scheduler: str | None = None,
    options: dict[str, Any] | None = None,
    block_pixels: int = BLOCK_PIXELS,
    retries: int = 2,
    progress: bool = False,
    on_start: Callable[[str | None], None] | None = None,
) -> BatchResult:
    """Run ``task`` over every scene of ``inputs`` (or change over ``pairs``) into ``out_dir`` on Dask distributed
    (see the module's note)."""
    if task not in TASKS:
        raise RsvisionError(f"batch runs {', '.join(TASKS)}; not {task!r}")
    out_dir, options = Path(out_dir), options or {}
    if not out_dir.is_dir():
        raise InputNotFoundError(f"output folder {out_dir} does not exist (make it first)")
    jobs = plan_jobs(task, out_dir, expand_inputs(inputs) if task != "change" else (), pairs)
    rows = read_catalogue(out_dir)
    todo = [j for j in jobs if not _done(rows.get(j.key), task)]
    t0 = time.perf_counter()
    failed, dashboard = 0, None
    if todo:
        cluster = None if scheduler else local_cluster(workers)
        index = _index_store(task, out_dir, options)
        with Client(scheduler or cluster) as client, progress_bar(enabled=progress) as bar, index as store:
            dashboard = client.dashboard_link
            if on_start:
                on_start(dashboard)
            bar_task = bar.add_task(f"batch {task}: {len(todo)} scenes", total=len(todo))

            def record(row: dict) -> None:
                nonlocal failed
                failed += row["status"] == "failed"
                if store is not None and row["status"] == "done":  # in the index before the journal says done
                    search.add_new(store, row.pop("entries"), row.pop("vectors"))
                rows[_key(row)] = row
                _journal(out_dir, row)
                bar.advance(bar_task)

            def blocks_done(done: int, total: int) -> None:
                bar.update(
                    bar_task, description=f"batch {task}: {len(todo)} scenes (a huge one: {done}/{total} blocks)"
                )

            _run_jobs(client, task, todo, options, block_pixels, retries, record, blocks_done)
        if cluster is not None:
            cluster.close()
    for job in todo:  # a worker killed while writing leaves its temporary file; the scene was redone elsewhere
        remove_stale_partials(job.output)
    kept = [rows[j.key] for j in jobs if j.key in rows]
    write_catalogue(out_dir / CATALOGUE, kept)
    (out_dir / JOURNAL).unlink(missing_ok=True)
    seconds = time.perf_counter() - t0
    return BatchResult(out_dir / CATALOGUE, len(todo) - failed, len(jobs) - len(todo), failed, seconds, dashboard, kept)


def _run_jobs(client, task, todo: list[Job], options, block_pixels, retries, record, on_block) -> None:
    """Huge scenes first, each over every worker (blocks of tile rows); then the others, one task each."""
    huge = [j for j in todo if task in ENGINE_TASKS and _pixels(j.scene, options) > block_pixels]
    runner = functools.partial(run_on_blocks, client=client, retries=retries, on_block=on_block)
    for job in huge:
        try:
            row = run_scene(task, str(job.scene), str(job.output), options, _str(job.scene2), runner)
        except Exception as err:  # recorded; the other scenes go on
            row = _failed(task, job, err)
        record(row)
    small = [j for j in todo if j not in huge]
    futures = {
        client.submit(
            run_scene,
            task,
            str(j.scene),
            str(j.output),
            options,
            _str(j.scene2),
            retries=retries,
            pure=False,
            key=f"{task}-{j.scene.stem}-{time.time_ns()}",
        ): j
        for j in small
    }
    for future in as_completed(futures):
        try:
            row = future.result()
        except Exception as err:  # the scene's own error, after its retries: recorded, the others go on
            row = _failed(task, futures[future], err)
        record(row)


@contextlib.contextmanager
def _index_store(task: str, out_dir: Path, options: dict) -> Iterator[SearchIndex | None]:
    """For ``index``: the index folder ``OUTDIR/index``, open in this process only (workers send their vectors
    here), its vector store brought up to date at the end; None for other tasks."""
    if task != "index":
        yield None
        return
    store = SearchIndex.open_or_create(out_dir / INDEX_FOLDER, search.model_id(_embedder(options.get("model"))))
    store.remove_orphans()
    with store:
        yield store
        store.store()


def _pixels(scene: Path, options: dict) -> int:
    try:
        with warnings.catch_warnings():  # its task records them
            warnings.simplefilter("ignore")
            opened = _open(str(scene), options)
    except RsvisionError:
        return 0  # its task reports the error
    return opened.width * opened.height


def _str(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def _failed(task: str, job: Job, err: BaseException) -> dict:
    row = {"scene": str(job.scene), "scene2": _str(job.scene2), "task": task, "output": None, "status": "failed"}
    return row | {"seconds": None, "model": None, "sha256": None, "error": first_line(err, 300)}


def _journal(out_dir: Path, row: dict) -> None:
    """One line per finished scene, flushed to disk: what a rerun after a kill knows is done."""
    with (out_dir / JOURNAL).open("a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _done(row: dict | None, task: str) -> bool:
    return bool(row) and row.get("status") == "done" and row.get("task") == task and Path(str(row["output"])).exists()
