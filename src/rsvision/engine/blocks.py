"""A huge scene across the workers of a Dask cluster: its tile rows split into blocks, each block one task that
writes its own part, the parts merged once; the same output as one :func:`~rsvision.engine.run`, bit for bit.

**Rasters.** A block of tile rows ``[a, b)`` writes the rows those tile rows finish (dense: from tile row ``a``'s
start to tile row ``b``'s) into its own part, a sparse GeoTIFF of the whole grid (:mod:`rsvision.io.staging`: the
parts a checkpointed run writes). Dense blending needs what earlier tile rows add to the rows they share with tile
row ``a``: the block first runs those tile rows (*warm-up*) through its strip merger and drops their strips, so the
sums entering tile row ``a`` are the single run's, added in the same order. When the block is done its parts are
renamed into the job's staging folder, and once every block is there the parts are stitched and published as one
COG, exactly as a single run publishes the parts of its checkpoints.

**Features.** Boxes merge across tile rows in order (boxes still open wait for the next row), so a block records
what its tiles gave, row by row, into a pickle renamed into place when the block is done; the merge replays every
row in order through the run's own collector: the same boxes, scores and polygons as a single run.

**Faults.** A block is done when its marker is written, after its parts were renamed: a block a lost worker leaves
half done is run again from scratch (Dask retries it on another worker), in a folder of its own attempt. The job's
folder (``.OUT.blocks`` beside the first output) keeps the finished blocks under the job's fingerprint, so a killed
job run again redoes only the blocks not done; it is removed once the outputs are published.
"""

from __future__ import annotations

import gc
import os
import pickle
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from dask.distributed import as_completed

from rsvision.core.progress import progress_bar
from rsvision.core.settings import bounded_block_cache, torch_threads
from rsvision.engine.checkpoint import run_fingerprint, scene_fingerprint
from rsvision.engine.outputs import Destination, destination_path, output_kind_for
from rsvision.engine.progress import RunProgress, peak_rss_mb
from rsvision.engine.reader import Tile, TileReader
from rsvision.engine.run import (
    RunResult,
    _as_scene,
    _block_cache_mb,
    _describe,
    _destinations,
    _loop,
    _Run,
    _second_scene,
)
from rsvision.engine.sinks import SinkGroup, VectorSink
from rsvision.io import Scene, staging
from rsvision.io.tiles import TilePlan
from rsvision.tasks.base import Predictor

BLOCKS_PER_WORKER = 4  # a lost worker costs a quarter of its share, and workers finishing early take more
MIN_BLOCK_ROWS = 8  # a dense block predicts the tile row before it again (warm-up): at most an eighth more work


class _JobStaging:
    """Where the sinks of a block (or of the merge) stage their raster parts: stands in for a checkpoint."""

    def __init__(self, folder: Path):
        self.folder = folder

    def staging_for(self, path: Path) -> Path:
        return self.folder / f"stage-{Path(path).name}"


class _RowRecorder:
    """Stands in for a vector sink's collector in a block: keeps each tile row's outputs, to be replayed in order."""

    def __init__(self):
        self.rows: dict[int, list[tuple[int, Any]]] = {}

    def add(self, row: int, col: int, output: Any) -> None:
        self.rows.setdefault(row, []).append((col, output))

    def end_row(self, row: int) -> None:
        self.rows.setdefault(row, [])


def _leaves(sink) -> list:
    """The sinks of a group, nested groups opened."""
    inner = getattr(sink, "group", None) or (sink if isinstance(sink, SinkGroup) else None)
    return [leaf for s in inner.sinks for leaf in _leaves(s)] if inner is not None else [sink]


class _BlockSink:
    """The run's sinks for tile rows ``[a, b)``: warm-up rows before ``a`` only feed the strip mergers."""

    def __init__(self, group: SinkGroup, first: int):
        self.group, self.first = group, first
        self.mergers = [s.merger for s in group.sinks if hasattr(s, "merger")]
        self.skipped = 0  # nodata tiles of the block's own rows (warm-up rows are the block before's)

    def begin_row(self, row: int) -> None:
        if row >= self.first:
            self.group.begin_row(row)
            return
        for merger in self.mergers:
            merger.begin_row(row)

    def add(self, tile: Tile, output: Any) -> None:
        if tile.row >= self.first:
            self.group.add(tile, output)
            self.skipped += output is None
            return
        for merger in self.mergers:
            merger.add(tile.col, output, tile.nodata)

    def end_row(self, row: int) -> None:
        if row >= self.first:
            self.group.end_row(row)
            return
        for merger in self.mergers:
            merger.end_row()  # the warm-up strip is dropped: the block before writes these rows


def split_rows(n_rows: int, n_blocks: int) -> list[tuple[int, int]]:
    """Tile rows ``[0, n_rows)`` in ``n_blocks`` contiguous ranges of near-equal length (fewer when rows run out)."""
    n = max(1, min(n_blocks, n_rows))
    edges = [round(i * n_rows / n) for i in range(n + 1)]
    return [(edges[i], edges[i + 1]) for i in range(n)]


def _blocks_for(n_rows: int, workers: int) -> int:
    """Four blocks per worker, fewer when blocks would have under ``MIN_BLOCK_ROWS`` tile rows; one per worker at
    least."""
    return max(1, workers, min(BLOCKS_PER_WORKER * workers, n_rows // MIN_BLOCK_ROWS))


def warm_up_row(plan: TilePlan, first: int) -> int:
    """The first tile row that reaches into tile row ``first``'s rows: a block's dense merger starts there."""
    return next(i for i in range(first + 1) if plan.row_starts[i] + plan.tile_h > plan.row_starts[first])


def _setup(scene, predictor, output, scene2, tile: int | None, overlap: int, folder: Path):
    scene = _as_scene(scene)
    second = _second_scene(scene, predictor, scene2)
    kind = output_kind_for(predictor)
    destinations = _destinations(output)
    plan = TilePlan.for_shape(scene.height, scene.width, tile or predictor.tile_size or 512, overlap)
    group = SinkGroup(kind.sinks(destinations, scene, plan, _JobStaging(folder)))
    return scene, second, plan, group


def _run_rows(scene, second, predictor, plan, group, leaves, rows, batch: int, threads: int) -> _BlockSink:
    """Predict tile rows ``[a, b)`` (and the rows that warm up a blend before ``a``) into the block's sinks."""
    a, b = rows
    for leaf in leaves:
        if isinstance(leaf, VectorSink):
            leaf.collector = _RowRecorder()
    start = warm_up_row(plan, a) if any(hasattr(s, "merger") for s in group.sinks) else a
    reader = TileReader(scene, plan, predictor.bands, second, batch=batch, workers=1)
    progress = RunProgress(len(plan), scene.width * scene.height, Path(scene.path).name, quiet=True)
    kind, sink = output_kind_for(predictor), _BlockSink(group, a)
    state = _Run(scene, predictor, kind, plan, reader, sink, progress, None, 0.0, first_row=start, stop_row=b)
    cache_mb = _block_cache_mb(scene, second, predictor.bands, plan, group)
    with bounded_block_cache(cache_mb), torch_threads(threads, inference=True):
        _loop(state)
    return sink


def run_block(
    scene: Scene | str | PathLike,
    predictor: Predictor,
    output: Destination | Sequence[Destination],
    rows: tuple[int, int],
    folder: str | PathLike,
    *,
    scene2: Scene | str | PathLike | None = None,
    tile: int | None = None,
    overlap: int = 64,
    batch: int = 8,
    threads: int = 1,
) -> dict[str, Any]:
    """Run tile rows ``[a, b)`` of a job into ``folder`` (see the module's note); what it did, as a dict. Run it
    again after a failure: it starts over, in a folder of its own."""
    folder, (a, b) = Path(folder), rows
    own = folder / f"block-{a:06d}-{uuid.uuid4().hex[:8]}"  # each attempt its own: a lost worker's never collide
    own.mkdir(parents=True)
    t0 = time.perf_counter()
    scene, second, plan, group = _setup(scene, predictor, output, scene2, tile, overlap, own)
    leaves = _leaves(group)
    writers = [leaf.writer for leaf in leaves if hasattr(leaf, "writer")]
    try:
        for writer in writers:
            writer.open_block()
        sink = _run_rows(scene, second, predictor, plan, group, leaves, rows, batch, threads)
    except BaseException:
        # close the open parts now, in this thread: left to the traceback, the garbage collector would close them
        # later on whichever thread it runs, with the GIL held while GDAL finishes a compressed write, the lock
        # order that hung a test run (docs/engine.md)
        for writer in writers:
            writer.abort()
        shutil.rmtree(own, ignore_errors=True)
        raise
    for writer in writers:
        writer.suspend()
        _move_parts(writer.staging_file, _JobStaging(folder).staging_for(writer.path))
    recorded = [leaf.collector.rows for leaf in leaves if isinstance(leaf, VectorSink)]
    _atomic_pickle(folder / f"rows-{a:06d}.pkl", recorded)
    shutil.rmtree(own)
    done = {
        "rows": [a, b],
        "tiles": (b - a) * plan.n_cols,
        "skipped": sink.skipped,
        "seconds": time.perf_counter() - t0,
    }
    _atomic_pickle(folder / f"done-{a:06d}.pkl", done)
    return done


def _move_parts(block_staging: Path, job_staging: Path) -> None:
    """A block's parts (and their first overviews) renamed into the job's staging, where the merge finds them."""
    for start in staging.part_starts(block_staging):
        for level1 in (False, True):
            source = staging.part_path(block_staging, start, level1)
            if source.exists():
                os.replace(source, staging.part_path(job_staging, start, level1))


def _atomic_pickle(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tmp.write_bytes(pickle.dumps(value))
    os.replace(tmp, path)


def merge_blocks(
    scene: Scene | str | PathLike,
    predictor: Predictor,
    output: Destination | Sequence[Destination],
    folder: str | PathLike,
    *,
    scene2: Scene | str | PathLike | None = None,
    tile: int | None = None,
    overlap: int = 64,
) -> tuple[list[Path], tuple[list, dict[str, Any]] | None]:
    """Publish the outputs of a job whose blocks are all in ``folder``: its paths, and the features (boxes, tile
    records) when it has some."""
    folder = Path(folder)
    _, _, _, group = _setup(scene, predictor, output, scene2, tile, overlap, folder)
    vector_sinks = [leaf for leaf in _leaves(group) if isinstance(leaf, VectorSink)]
    for rows_file in sorted(folder.glob("rows-*.pkl")):
        for sink, rows in zip(vector_sinks, pickle.loads(rows_file.read_bytes())):
            for row in sorted(rows):
                for col, item in rows[row]:
                    sink.collector.add(row, col, item)
                sink.collector.end_row(row)
    try:
        paths = group.finish()
    except BaseException:  # a writer that fails drops the parts: the blocks are not done any more
        for marker in folder.glob("done-*.pkl"):
            marker.unlink()
        raise
    return paths, group.result


def run_on_blocks(
    scene: Scene | str | PathLike,
    predictor: Predictor,
    output: Destination | Sequence[Destination] = None,
    *,
    client,
    blocks: int | None = None,
    scene2: Scene | str | PathLike | None = None,
    tile: int | None = None,
    overlap: int = 64,
    batch: int = 8,
    threads: int | None = None,
    quiet: bool = False,
    retries: int = 2,
    on_block: Callable[[int, int], None] | None = None,
) -> RunResult:
    """:func:`~rsvision.engine.run` over the workers of the Dask ``client``: ``blocks`` blocks of tile rows (four
    per worker by default, fewer on a scene of few tile rows), each a task of one thread, merged once into the same
    outputs. ``threads`` is taken for the same call as ``run``'s (a block runs on one of its worker's threads);
    ``on_block(done, total)`` is called as blocks finish, else a progress bar of blocks is drawn unless ``quiet``."""
    scene = _as_scene(scene)
    t0 = time.perf_counter()
    destinations = _destinations(output)
    plan = TilePlan.for_shape(scene.height, scene.width, tile or predictor.tile_size or 512, overlap)
    ranges = split_rows(plan.n_rows, blocks or _blocks_for(plan.n_rows, len(client.scheduler_info()["workers"])))
    first = destination_path(destinations[0]) if destinations else None
    with _job_folder(first) as folder:
        fingerprint = run_fingerprint(
            scene=scene_fingerprint(scene),
            scene2=scene_fingerprint(_as_scene(scene2)) if scene2 is not None else None,
            predictor=predictor.fingerprint(),
            tile=plan.tile_h,
            overlap=overlap,
            outputs=[_describe(d) for d in destinations],
            blocks=ranges,
        )
        _claim(folder, fingerprint)
        todo = [r for r in ranges if not (folder / f"done-{r[0]:06d}.pkl").exists()]
        # hash=False: a key of its own. With the content hash, two scenes run with equal predictors scatter the same
        # key, and the second scatter can race the release of the first ("lost dependencies" on a busy machine)
        [shared] = client.scatter([predictor], broadcast=True, hash=False)
        # a caller's garbage holding GDAL handles freed now, not by the collector on this thread while the workers of
        # an in-process cluster open and read files: a close there holds the GIL inside GDAL (docs/engine.md)
        gc.collect()
        options = {"scene2": scene2, "tile": tile, "overlap": overlap, "batch": batch}
        futures = [
            client.submit(run_block, scene, shared, output, r, str(folder), **options, retries=retries, pure=False)
            for r in todo
        ]
        _follow(futures, len(ranges), len(ranges) - len(todo), on_block, quiet, Path(scene.path).name)
        client.gather(futures)  # raises the first block's error: every block has ended, those done are kept
        paths, features = merge_blocks(scene, predictor, output, folder, scene2=scene2, tile=tile, overlap=overlap)
        done = [pickle.loads(p.read_bytes()) for p in sorted(folder.glob("done-*.pkl"))]
    seconds = time.perf_counter() - t0
    mpix = scene.width * scene.height / 1e6 / max(seconds, 1e-9)
    skipped = sum(d["skipped"] for d in done)
    summary = (
        f"{Path(scene.path).name}: {len(plan)} tiles in {len(ranges)} blocks ({len(ranges) - len(todo)} done before)"
        f" in {seconds:.1f} s, {mpix:.1f} Mpix/s -> {', '.join(map(str, paths)) or 'memory'}"
    )
    return RunResult(
        output=paths[0] if paths else None,
        kind=predictor.kind,
        tiles=len(plan),
        skipped=skipped,
        resumed_at=sum(b - a for a, b in ranges if (a, b) not in todo) * plan.n_cols,
        seconds=seconds,
        mpix_per_s=mpix,
        peak_rss_mb=peak_rss_mb(),
        summary=summary,
        features=features,
        outputs=paths,
    )


def _follow(futures: list, total: int, done: int, on_block, quiet: bool, label: str) -> None:
    """Wait for every block, reporting each one done to ``on_block`` or on a bar of blocks."""
    with progress_bar(enabled=on_block is None and not quiet) as bar:
        task = bar.add_task(f"{label}: blocks", total=total, completed=done)
        for _ in as_completed(futures):
            done += 1
            bar.update(task, completed=done)
            if on_block is not None:
                on_block(done, total)


class _job_folder:
    """The job's folder: ``.OUT.blocks`` beside the first output (kept after a failure, so a rerun resumes), or a
    temporary folder when the features stay in memory. Removed once the outputs are published."""

    def __init__(self, first_output: Path | None):
        self.first = first_output

    def __enter__(self) -> Path:
        if self.first is None:
            self.path = Path(tempfile.mkdtemp(prefix="rsvision-blocks-"))
        else:
            self.path = self.first.with_name(f".{self.first.name}.blocks")
            self.path.mkdir(exist_ok=True)
        return self.path

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None or self.first is None:
            shutil.rmtree(self.path, ignore_errors=True)


def _claim(folder: Path, fingerprint: str) -> None:
    """Keep what an earlier run of the same job left in ``folder``; anything else there is cleared."""
    mark = folder / "fingerprint.txt"
    if mark.is_file() and mark.read_text() == fingerprint:
        return
    for item in folder.iterdir():
        shutil.rmtree(item) if item.is_dir() else item.unlink()
    mark.write_text(fingerprint)
