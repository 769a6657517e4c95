"""`run()`: stream a predictor over a scene of any size, tile by tile, in bounded memory, resumable after a kill."""

from __future__ import annotations

import contextlib
import ctypes
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from rsvision.core.files import check_writable
from rsvision.core.settings import available_cpus, bounded_block_cache, memory_bytes, torch_threads
from rsvision.engine.checkpoint import Checkpoint, run_fingerprint, scene_fingerprint
from rsvision.engine.outputs import Destination, OutputKind, destination_path, output_kind_for
from rsvision.engine.progress import RunProgress, Timeline, peak_rss_mb
from rsvision.engine.reader import ReadBatch, TileReader
from rsvision.engine.sinks import Sink, SinkGroup
from rsvision.errors import OutputError, PredictorError
from rsvision.io import Scene, align, open_scene
from rsvision.io.tiles import TilePlan
from rsvision.tasks.base import Predictor, TileBatch


@dataclass
class RunResult:
    """What a run did. ``output`` is the first file written (``outputs``: all of them, in the order given);
    ``features`` holds ``(geometries, columns)`` for box and tile outputs."""

    output: Path | None
    kind: str
    tiles: int
    skipped: int  # nodata tiles, not predicted
    resumed_at: int  # tiles already done by an earlier, interrupted run
    seconds: float
    mpix_per_s: float
    peak_rss_mb: float
    summary: str
    features: tuple[list, dict[str, Any]] | None = None
    outputs: list[Path] = field(default_factory=list)
    timeline: dict[str, float] = field(default_factory=dict)  # where the time went: Timeline.as_dict()


def _load_malloc_trim():
    """glibc's ``malloc_trim``, or None on other C libraries."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_malloc_trim = _load_malloc_trim() if sys.platform.startswith("linux") else None


class _HeapTrimmer:
    """Hands the heap's free pages back to the system at most every ``seconds``. glibc keeps freed blocks under
    32 MB (GDAL's cached blocks, torch's smaller tensors, numpy temporaries) in per-thread arenas, so over
    thousands of tiles the resident size creeps up by the fragments; trimming now and then keeps it flat (as Dask's
    workers do). Not after every row: pages handed back are faulted in again when reused, which costs time."""

    def __init__(self, seconds: float = 5.0):
        self.seconds, self.last = seconds, time.monotonic()

    def __call__(self) -> None:
        if _malloc_trim is not None and time.monotonic() - self.last >= self.seconds:
            _malloc_trim(0)
            self.last = time.monotonic()


def _as_scene(scene: Scene | str | PathLike) -> Scene:
    return scene if isinstance(scene, Scene) else open_scene(scene)


def _batch(read: ReadBatch, valid: list[int], transform) -> TileBatch:
    """The valid tiles of a read batch as the predictor's batch (the buffers themselves when none is empty)."""
    every = len(valid) == len(read.tiles)
    pick = (lambda a: a) if every else (lambda a: a[valid])
    batch = TileBatch(
        images=pick(read.images),
        masks=pick(read.masks),
        windows=[read.tiles[i].window for i in valid],
        transform=transform,
    )
    if read.images2 is not None:
        batch.images2, batch.masks2 = pick(read.images2), pick(read.masks2)
    return batch


@dataclass
class _Run:
    """What the tile loop works with, and the counters it keeps."""

    scene: Scene
    predictor: Predictor
    output: OutputKind
    plan: TilePlan
    reader: TileReader
    sink: Sink
    progress: RunProgress
    checkpoint: Checkpoint | None
    checkpoint_seconds: float
    first_row: int = 0
    skipped: int = 0  # nodata tiles, not predicted
    stop_row: int | None = None  # a block of a larger job ends before this tile row (engine.blocks)
    timeline: Timeline = field(default_factory=Timeline)


def run(
    scene: Scene | str | PathLike,
    predictor: Predictor,
    output: Destination | Sequence[Destination] = None,
    *,
    scene2: Scene | str | PathLike | None = None,
    tile: int | None = None,
    overlap: int = 64,
    batch: int = 8,
    workers: int = 2,
    threads: int | None = None,
    resume: bool = True,
    checkpoint_seconds: float = 30.0,
    quiet: bool = False,
) -> RunResult:
    """Run ``predictor`` over ``scene`` tile by tile and merge its outputs into ``output``.

    Dense predictors write a COG (``.tif``) strip by strip; box predictors write polygons with class and score,
    tile predictors one footprint per tile (``.gpkg``, ``.geojson`` or ``.parquet``; with ``output=None`` the
    features come back in the result, as they always do for boxes and tile records). Tile predictors also write a
    class map, strip by strip, to a :class:`~rsvision.engine.ClassMap` destination; ``output`` may list several
    destinations (``[ClassMap("classes.tif", names), "tiles.gpkg"]``). ``scene2`` is the second date of a change
    predictor, aligned to ``scene``'s grid as it is read. Tiles are ``tile`` pixels (the predictor's ``tile_size``
    or 512 by default) overlapping by ``overlap``; ``batch`` consecutive tiles of a tile row (less those with no
    valid pixel) go to the predictor at once, while ``workers`` threads read ahead and torch uses ``threads``
    threads (the CPUs available by default).

    Progress is checkpointed beside the (first) output after tile rows, at most every ``checkpoint_seconds``;
    rerunning the same call after a crash or kill continues from there (``resume=False`` starts over). Output
    files appear only once complete.
    """
    scene = _as_scene(scene)
    second = _second_scene(scene, predictor, scene2)
    kind = output_kind_for(predictor)
    destinations = _destinations(output)
    paths = [check_writable(destination_path(d)) for d in destinations]
    size = tile or predictor.tile_size or 512
    plan = TilePlan.for_shape(scene.height, scene.width, size, overlap)
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    ckpt = None
    if paths:
        fingerprint = run_fingerprint(
            scene=scene_fingerprint(scene),
            scene2=scene_fingerprint(second) if second else None,
            predictor=predictor.fingerprint(),
            kind=predictor.kind,
            tile=size,
            overlap=overlap,
            batch=batch,
            outputs=[_describe(d) for d in destinations],
        )
        ckpt = Checkpoint(paths[0], fingerprint)
    sink = SinkGroup(kind.sinks(destinations, scene, plan, ckpt))  # refuses what it cannot write, before any file
    first_row, done, skipped = _open(sink, ckpt, resume)
    reader = TileReader(scene, plan, predictor.bands, second, batch=batch, workers=workers)
    progress = RunProgress(len(plan), scene.width * scene.height, Path(scene.path).name, quiet=quiet, done=done)
    state = _Run(scene, predictor, kind, plan, reader, sink, progress, ckpt, checkpoint_seconds, first_row, skipped)
    with bounded_block_cache(_block_cache_mb(scene, second, predictor.bands, plan, sink)):  # before any read
        _execute(state, threads or available_cpus())
    summary = state.progress.summary(", ".join(map(str, paths)) or None, state.skipped)
    return RunResult(
        output=paths[0] if paths else None,
        kind=predictor.kind,
        tiles=len(plan),
        skipped=state.skipped,
        resumed_at=state.progress.start_done,
        seconds=state.progress.seconds,
        mpix_per_s=state.progress.mpix_per_s(),
        peak_rss_mb=peak_rss_mb(),
        summary=summary,
        features=sink.result,
        outputs=paths,
        timeline=state.timeline.as_dict(),
    )


MIN_CACHE_MB = 64
CHECKPOINT_SHARE = 50  # seconds between checkpoints, at least, per second a checkpoint took


def _block_cache_mb(scene: Scene, second: Scene | None, bands, plan: TilePlan, sink: Sink) -> int:
    """GDAL's block cache for a run: the blocks of a tile row's rows in every file read (a tile row shares its last
    blocks with the next, which then decode once, not twice), a quarter more so the least recently used blocks
    evicted are those of rows done, and two staging block rows of each raster output. At least 64 MB, at most an
    eighth of the machine's memory (a scene too wide for that then reads some blocks twice)."""
    reads = sum(s.block_cache_bytes(plan.tile_h, bands) for s in (scene, second) if s is not None)
    need = (reads * 5 // 4 + sink.cache_bytes()) / 2**20
    ceiling = max(MIN_CACHE_MB, memory_bytes() / 8 / 2**20)
    return int(min(max(need, MIN_CACHE_MB), ceiling))


def _second_scene(scene: Scene, predictor: Predictor, scene2: Scene | str | PathLike | None) -> Scene | None:
    """The second date on the first one's grid, for predictors of pairs; every band the predictor reads is checked
    now, so a missing one is a clear error here, not one from a reader thread later."""
    if predictor.pairs != (scene2 is not None):
        need = "needs a second scene (scene2=)" if predictor.pairs else "takes one scene; scene2 was given"
        raise PredictorError(f"{type(predictor).__name__} {need}")
    second = align(_as_scene(scene2), to=scene) if scene2 is not None else None
    for band in predictor.bands or ():
        scene.band_index(band)
        if second is not None:
            second.band_index(band)
    return second


def _destinations(output: Destination | Sequence[Destination]) -> list[Destination]:
    """``output`` as a list of destinations, Nones left out (none at all: the features stay in memory)."""
    listed = list(output) if isinstance(output, (list, tuple)) else [output]
    return [d for d in listed if d is not None]


def _describe(destination: Destination) -> Any:
    """What of a destination the checkpoint's fingerprint keeps: the file name, and a destination object's
    settings."""
    name = destination_path(destination).name
    if not is_dataclass(destination):
        return name
    settings = {f.name: getattr(destination, f.name) for f in fields(destination) if f.name != "path"}
    return [type(destination).__name__, name, settings]


def _open(sink: Sink, ckpt: Checkpoint | None, resume: bool) -> tuple[int, int, int]:
    """Open the sinks: continue a checkpointed run where its state and files allow, else start afresh. The tile
    row to start at, and the tiles and nodata tiles already done."""
    saved = ckpt.load() if ckpt and resume else None
    if ckpt and not saved:
        ckpt.start()
    if saved and not sink.open(resume=True):  # a staging file the kill left missing or unreadable
        saved = None
        ckpt.start()
    if not saved:
        sink.open(resume=False)
        return 0, 0, 0
    progress, arrays = saved
    sink.restore(arrays)
    return progress["next_row"], progress["tiles_done"], progress["skipped"]


def _execute(state: _Run, threads: int) -> None:
    """The tile loop, then the outputs published; on an error, the outputs dropped, or kept to resume when a
    checkpoint was made (unless the error is the output's own)."""
    ckpt, sink = state.checkpoint, state.sink
    try:
        with torch_threads(threads, inference=True), state.progress:
            _loop(state)
        with state.timeline.phase("finish"):
            sink.finish()
    except OutputError:
        sink.abort()
        if ckpt:
            ckpt.clear()
        raise
    except BaseException:
        if ckpt and ckpt.saved:
            sink.suspend()  # keep the checkpoint: the same call resumes
        else:  # nothing worth resuming: leave nothing behind
            sink.abort()
            if ckpt:
                ckpt.clear()
        raise
    if ckpt:
        ckpt.clear()


def _loop(state: _Run) -> None:
    """Predict the valid tiles of each read batch and merge the outputs (in tile order) before the next batch, so
    one batch of outputs is alive at the model's memory peak, not two: on a CPU the model's threads use every core,
    and merging on another thread alongside saved no time. Checkpoint after tile rows."""
    last_checkpoint, interval = time.monotonic(), state.checkpoint_seconds
    sink, plan, progress, ckpt, timeline = state.sink, state.plan, state.progress, state.checkpoint, state.timeline
    trim = _HeapTrimmer()
    # closed when the loop ends or fails, not when the garbage collector frees the failed frame: the read-ahead
    # threads and the GDAL handles they opened go now, in this thread
    with contextlib.closing(state.reader.batches(state.first_row, state.stop_row)) as batches:
        while True:
            with timeline.phase("read_wait"):
                read = next(batches, None)
            if read is None:
                break
            valid = [i for i, t in enumerate(read.tiles) if not t.empty]
            state.skipped += len(read.tiles) - len(valid)
            outputs = []
            if valid:
                tile_batch = _batch(read, valid, state.scene.transform)
                with timeline.phase("predict"):
                    predicted = state.predictor.predict(tile_batch)
                outputs = state.output.split(predicted, tile_batch, plan)
                del predicted
            with timeline.phase("merge"):
                it = iter(outputs)
                for t in read.tiles:
                    if t.col == 0:
                        sink.begin_row(t.row)
                    sink.add(t, None if t.empty else next(it))
                del outputs, it
            progress.advance(len(read.tiles))
            if not read.ends_row:
                continue
            row = read.tiles[0].row
            timeline.sample_cache()
            with timeline.phase("write"):
                sink.end_row(row)
            trim()
            if ckpt and row + 1 < plan.n_rows and time.monotonic() - last_checkpoint >= interval:
                started = time.monotonic()
                with timeline.phase("checkpoint"):
                    arrays = sink.checkpoint()
                    ckpt.save({"next_row": row + 1, "tiles_done": progress.done, "skipped": state.skipped}, arrays)
                timeline.checkpoints += 1
                last_checkpoint = time.monotonic()
                # what crosses a tile row grows with the scene's width: space checkpoints so they take at most 2%
                interval = max(state.checkpoint_seconds, CHECKPOINT_SHARE * (last_checkpoint - started))
    timeline.read_threads_s = state.reader.seconds
