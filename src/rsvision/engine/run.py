"""`run()`: stream a predictor over a scene of any size, tile by tile, in bounded memory, resumable after a kill."""

from __future__ import annotations

import ctypes
import json
import sys
import time
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from rsvision.core.settings import available_cpus, torch_threads
from rsvision.engine.checkpoint import Checkpoint, run_fingerprint, scene_fingerprint
from rsvision.engine.dense import StripMerger
from rsvision.engine.plan import TilePlan
from rsvision.engine.progress import RunProgress, peak_rss_mb
from rsvision.engine.reader import ReadBatch, TileReader
from rsvision.engine.sinks import DenseSink, VectorSink
from rsvision.engine.vectors import BoxMerger, RecordCollector, check_columns
from rsvision.errors import OutputError, PredictorError
from rsvision.io import RasterWriter, Scene, align, open_scene
from rsvision.core.files import check_writable
from rsvision.io.writers import vector_driver
from rsvision.tasks.base import (
    BoxPredictor,
    DensePredictor,
    Detections,
    Predictor,
    TileBatch,
    TilePredictor,
)


@dataclass
class RunResult:
    """What a run did. ``features`` holds ``(geometries, columns)`` for box and tile outputs."""

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
    batch = TileBatch(images=pick(read.images), masks=pick(read.masks),
                      windows=[read.tiles[i].window for i in valid], transform=transform)
    if read.images2 is not None:
        batch.images2, batch.masks2 = pick(read.images2), pick(read.masks2)
    return batch


def _detached(value: Any, batch: TileBatch) -> Any:
    """``value``, copied if it is a view of the batch's images: their buffers are read into again, and records are
    kept until the run ends."""
    if isinstance(value, np.ndarray) and any(
        a is not None and np.may_share_memory(value, a) for a in (batch.images, batch.images2)
    ):
        return value.copy()
    return value


def _split_outputs(predictor: Predictor, outputs: Any, batch: TileBatch, plan: TilePlan) -> list[Any]:
    """One output per tile, checked against what the predictor's kind promises; records kept to the end are not
    views of the batch."""
    n = len(batch)
    name = type(predictor).__name__
    if isinstance(predictor, DensePredictor):
        arr = np.asarray(outputs)  # merged before the next batch is read: a view of the batch's images may stay
        expected = (n, predictor.num_outputs, plan.tile_h, plan.tile_w)
        if arr.shape != expected:
            raise PredictorError(f"{name}.predict returned shape {arr.shape}; expected {expected} (B, K, H, W)")
        return list(arr)
    if isinstance(predictor, BoxPredictor):
        outputs = list(outputs)
        if len(outputs) != n or not all(isinstance(d, Detections) for d in outputs):
            raise PredictorError(f"{name}.predict must return one Detections per tile ({n}), got {len(outputs)} items")
        return outputs
    if not isinstance(outputs, dict) or any(len(v) != n for v in outputs.values()):
        raise PredictorError(f"{name}.predict must return a dict of columns with one entry per tile ({n})")
    outputs = {k: _detached(v, batch) for k, v in outputs.items()}
    return [{k: v[i] for k, v in outputs.items()} for i in range(n)]


def _make_sink(predictor: Predictor, scene: Scene, plan: TilePlan, output: Path | None, ckpt: Checkpoint | None):
    if isinstance(predictor, DensePredictor):
        predictor.check()
        merger = StripMerger(plan, predictor.num_outputs, predictor.output, predictor.output_dtype, predictor.nodata)
        names = list(predictor.class_names) if predictor.class_names is not None else None
        tags = {"classes": json.dumps(names)} if names else {}
        writer = RasterWriter(
            output, scene.grid, predictor.output_count, predictor.output_dtype, predictor.nodata,
            descriptions=names if predictor.output == "scores" else ["class"],
            colormap=predictor.colormap if predictor.output == "classes" else None, tags=tags,
            staging=ckpt.staging if ckpt else None,
        )
        return DenseSink(merger, writer)
    crs, transform = scene.crs, scene.transform
    if isinstance(predictor, BoxPredictor):
        n_classes = len(predictor.class_names) if predictor.class_names is not None else None
        merger = BoxMerger(plan, predictor.rotated, predictor.iou_threshold, predictor.edge_margin, n_classes)
        return VectorSink(merger, output, crs, lambda: merger.features(transform, predictor.class_names))
    if isinstance(predictor, TilePredictor):
        records = RecordCollector(plan)
        return VectorSink(records, output, crs, lambda: records.features(transform))
    raise PredictorError(f"{type(predictor).__name__} is not a DensePredictor, BoxPredictor or TilePredictor")


def run(
    scene: Scene | str | PathLike,
    predictor: Predictor,
    output: str | PathLike | None = None,
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
    features come back in the result). ``scene2`` is the second date of a change predictor, aligned to ``scene``'s
    grid as it is read. Tiles are ``tile`` pixels (the predictor's ``tile_size`` or 512 by default) overlapping by
    ``overlap``; ``batch`` consecutive tiles of a tile row (less those with no valid pixel) go to the predictor at
    once, while ``workers`` threads read ahead and torch uses ``threads`` threads (the CPUs available by default).

    Progress is checkpointed beside the output after tile rows, at most every ``checkpoint_seconds``; rerunning the
    same call after a crash or kill continues from there (``resume=False`` starts over). The output file appears
    only once complete.
    """
    scene = _as_scene(scene)
    if predictor.pairs != (scene2 is not None):
        need = "needs a second scene (scene2=)" if predictor.pairs else "takes one scene; scene2 was given"
        raise PredictorError(f"{type(predictor).__name__} {need}")
    second = align(_as_scene(scene2), to=scene) if scene2 is not None else None
    for band in predictor.bands or ():  # a missing band is a clear error now, not one from a reader thread later
        scene.band_index(band)
        if second is not None:
            second.band_index(band)
    dense = isinstance(predictor, DensePredictor)
    if output is None and dense:
        raise OutputError("dense predictions need an output raster path (OUT.tif)")
    out_path = check_writable(output) if output is not None else None
    driver = vector_driver(out_path) if out_path is not None and not dense else None
    size = tile or predictor.tile_size or 512
    plan = TilePlan.for_shape(scene.height, scene.width, size, overlap)
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")

    ckpt = None
    if out_path is not None:
        fingerprint = run_fingerprint(
            scene=scene_fingerprint(scene), scene2=scene_fingerprint(second) if second else None,
            predictor=predictor.fingerprint(), kind=predictor.kind, tile=size, overlap=overlap, batch=batch,
            output=out_path.name,
        )
        ckpt = Checkpoint(out_path, fingerprint)
    saved = ckpt.load() if ckpt and resume else None
    if saved and dense and not ckpt.staging.exists():
        saved = None
    if ckpt and not saved:
        ckpt.start()

    threads = threads or available_cpus()
    sink = _make_sink(predictor, scene, plan, out_path, ckpt)
    first_row, done, skipped = 0, 0, 0
    if dense and saved:
        try:
            sink.writer.open(resume=True)
        except OutputError:  # a staging file the kill left unreadable: start over
            saved = None
            ckpt.start()
    if dense and not saved:
        sink.writer.open()
    if saved:
        state, arrays = saved
        first_row, done, skipped = state["next_row"], state["tiles_done"], state["skipped"]
        sink.restore(arrays)

    reader = TileReader(scene, plan, predictor.bands, second, batch=batch, workers=workers)
    label = Path(scene.path).name
    progress = RunProgress(len(plan), scene.width * scene.height, label, quiet=quiet, done=done)
    try:
        with torch_threads(threads, inference=True), progress:
            skipped = _loop(reader, first_row, predictor, sink, plan, scene, progress, skipped, ckpt,
                            checkpoint_seconds, driver, out_path)
        written = sink.finish()
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
    summary = progress.summary(str(written) if written else None, skipped)
    return RunResult(
        output=written, kind=predictor.kind, tiles=len(plan), skipped=skipped, resumed_at=progress.start_done,
        seconds=progress.seconds, mpix_per_s=progress.mpix_per_s(), peak_rss_mb=peak_rss_mb(), summary=summary,
        features=getattr(sink, "result", None),
    )


def _loop(reader, first_row, predictor, sink, plan, scene, progress, skipped, ckpt, checkpoint_seconds, driver,
          out_path) -> int:
    """Predict the valid tiles of each read batch and merge the outputs (in tile order) before the next batch, so
    one batch of outputs is alive at the model's memory peak, not two: on a CPU the model's threads use every core,
    and merging on another thread alongside saved no time. Checkpoint after tile rows."""
    last_checkpoint = time.monotonic()
    checked = driver is None or predictor.kind != "tiles"
    trim = _HeapTrimmer()
    for read in reader.batches(first_row):
        valid = [i for i, t in enumerate(read.tiles) if not t.empty]
        skipped += len(read.tiles) - len(valid)
        outputs = []
        if valid:
            tile_batch = _batch(read, valid, scene.transform)
            outputs = _split_outputs(predictor, predictor.predict(tile_batch), tile_batch, plan)
            if not checked:
                check_columns({k: np.stack([o[k] for o in outputs]) for k in outputs[0]}, driver, out_path)
                checked = True
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
        sink.end_row(row)
        trim()
        if ckpt and row + 1 < plan.n_rows and time.monotonic() - last_checkpoint >= checkpoint_seconds:
            arrays = sink.checkpoint()
            ckpt.save({"next_row": row + 1, "tiles_done": progress.done, "skipped": skipped}, arrays)
            last_checkpoint = time.monotonic()
    return skipped
