"""Output kinds: what each kind of predictor output brings to a run, behind one small interface the engine calls.

A predictor's ``kind`` (``dense``, ``boxes``, ``tiles``) names its :class:`OutputKind`, registered here once with
:func:`output_kind`. The kind checks a batch's outputs and splits them into one output per tile
(:meth:`OutputKind.split`), and turns the run's destinations into sinks that merge and write those outputs
(:meth:`OutputKind.sinks`). A new kind of output (embeddings pooled over tiles, say) is a predictor class in
:mod:`rsvision.tasks` with a new ``kind`` and a class here: :func:`rsvision.engine.run` stays as it is.

A destination is a path, ``None`` (the features come back in memory; kinds that write rasters refuse it) or an
object with a ``path`` that says how to write there, such as :class:`~rsvision.engine.classmap.ClassMap`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rsvision.engine.checkpoint import Checkpoint
from rsvision.engine.classmap import ClassMap, ClassMapSink
from rsvision.engine.dense import StripMerger
from rsvision.engine.sinks import PERCENT_NODATA, DenseSink, ProbabilitySink, RasterSink, Sink, VectorSink
from rsvision.engine.vectors import BoxMerger, RecordCollector, check_record
from rsvision.errors import OutputError, PredictorError
from rsvision.io import RasterWriter, Scene
from rsvision.io.tiles import TilePlan
from rsvision.io.writers import vector_driver
from rsvision.tasks.base import Detections, Predictor, TileBatch


@dataclass(frozen=True)
class Probabilities:
    """Destination of a dense run's blended per-class probabilities as a uint8 COG, in percent (0-100; nodata
    255), one band per class named after it, beside (or instead of) the class map of the run's path."""

    path: str | PathLike


Destination = str | PathLike | ClassMap | Probabilities | None

OUTPUT_KINDS: dict[str, type[OutputKind]] = {}


def output_kind(cls: type[OutputKind]) -> type[OutputKind]:
    """Class decorator: register ``cls`` as the output kind of predictors whose ``kind`` is ``cls.kind``."""
    OUTPUT_KINDS[cls.kind] = cls
    return cls


def output_kind_for(predictor: Predictor) -> OutputKind:
    """The output kind of ``predictor`` (from its ``kind``), ready for one run."""
    cls = OUTPUT_KINDS.get(getattr(predictor, "kind", None))
    if cls is None:
        known = ", ".join(sorted(OUTPUT_KINDS))
        raise PredictorError(
            f"{type(predictor).__name__}.kind is {getattr(predictor, 'kind', None)!r}; the engine knows {known}"
        )
    return cls(predictor)


class OutputKind(ABC):
    """How the outputs of one kind of predictor are checked, split per tile, merged and written."""

    kind: ClassVar[str]

    def __init__(self, predictor: Predictor):
        self.predictor = predictor

    @property
    def name(self) -> str:
        return type(self.predictor).__name__

    @abstractmethod
    def split(self, outputs: Any, batch: TileBatch, plan: TilePlan) -> list[Any]:
        """One output per tile of ``batch``, checked against what the kind promises. Outputs kept beyond the
        current batch must not be views of the batch's buffers, which the next batch is read into."""

    @abstractmethod
    def sinks(
        self, destinations: list[Destination], scene: Scene, plan: TilePlan, checkpoint: Checkpoint | None
    ) -> list[Sink]:
        """A sink for the run's destinations (an empty list: none was given), or an ``OutputError`` for one this
        kind cannot write, raised before any file is made. Raster sinks stage under ``checkpoint`` when there is
        one, so that a stopped run can resume."""


def destination_path(destination: Destination) -> Path | None:
    """The file a destination writes (None: in memory)."""
    if destination is None:
        return None
    return Path(destination.path if hasattr(destination, "path") else destination)


def _one(destinations: list[Destination], types: type | tuple[type, ...], what: str) -> Destination | None:
    """The only destination of one of ``types`` (None when there is none); two are refused."""
    found = [d for d in destinations if isinstance(d, types)]
    if len(found) > 1:
        raise OutputError(f"one {what} per run, got {len(found)}: {', '.join(str(d) for d in found)}")
    return found[0] if found else None


def _refuse_others(destinations: list[Destination], allowed: tuple[type, ...], what: str) -> None:
    """An ``OutputError`` saying ``what`` for the first destination of none of the ``allowed`` types."""
    for d in destinations:
        if d is not None and not isinstance(d, allowed):
            raise OutputError(f"cannot write {destination_path(d)}: {what}")


@output_kind
class DenseOutput(OutputKind):
    """Per-pixel scores ``(B, K, H, W)``: blended across tiles into strips of one raster (scores or classes)."""

    kind = "dense"

    def __init__(self, predictor):
        predictor.check()
        super().__init__(predictor)

    def split(self, outputs, batch, plan):
        arr = np.asarray(outputs)  # merged before the next batch is read: a view of the batch's images may stay
        expected = (len(batch), self.predictor.num_outputs, plan.tile_h, plan.tile_w)
        if arr.shape != expected:
            raise PredictorError(f"{self.name}.predict returned shape {arr.shape}; expected {expected} (B, K, H, W)")
        return list(arr)

    def sinks(self, destinations, scene, plan, checkpoint):
        _refuse_others(
            destinations, (str, PathLike, Probabilities), "dense predictions are written as rasters given by path"
        )
        paths = [d for d in destinations if isinstance(d, (str, PathLike))]
        probabilities = _one(destinations, Probabilities, "probabilities raster")
        if len(paths) > 1:
            raise OutputError(f"dense predictions go to one raster (and a Probabilities one), got {len(paths)}")
        if not paths and probabilities is None:
            raise OutputError("dense predictions need an output raster path (OUT.tif)")
        if paths and probabilities is not None and self.predictor.output != "classes":
            raise OutputError("probabilities are written beside a class map: the predictor's output must be 'classes'")
        p = self.predictor
        names = list(p.class_names) if p.class_names is not None else None
        tags = {**({"classes": json.dumps(names)} if names else {}), **(p.output_tags or {})}
        sink = None
        if paths:
            path = destination_path(paths[0])
            staging = checkpoint.staging_for(path) if checkpoint else None
            writer = RasterWriter(
                path,
                scene.grid,
                p.output_count,
                p.output_dtype,
                p.nodata,
                descriptions=names if p.output == "scores" else ["class"],
                colormap=p.colormap if p.output == "classes" else None,
                tags=tags,
                staging=staging,
            )
            if probabilities is None:
                merger = StripMerger(plan, p.num_outputs, p.output, p.output_dtype, p.nodata)
                return [DenseSink(merger, writer, staging)]
            sink = RasterSink(writer, staging)
        prob_path = destination_path(probabilities)
        staging = checkpoint.staging_for(prob_path) if checkpoint else None
        percent = RasterWriter(
            prob_path,
            scene.grid,
            p.num_outputs,
            "uint8",
            PERCENT_NODATA,
            descriptions=names or [f"class{i}" for i in range(p.num_outputs)],
            tags={**tags, "units": "percent"},
            staging=staging,
        )
        merger = StripMerger(plan, p.num_outputs, "scores", "float32", float("nan"))
        return [ProbabilitySink(merger, sink, RasterSink(percent, staging))]


@output_kind
class BoxOutput(OutputKind):
    """One :class:`Detections` per tile: moved to scene pixels, de-duplicated across tiles, written as polygons."""

    kind = "boxes"

    def split(self, outputs, batch, plan):
        outputs = list(outputs)
        n = len(batch)
        if len(outputs) != n or not all(isinstance(d, Detections) for d in outputs):
            raise PredictorError(
                f"{self.name}.predict must return one Detections per tile ({n}), got {len(outputs)} items"
            )
        return outputs

    def sinks(self, destinations, scene, plan, checkpoint):
        _refuse_others(destinations, (str, PathLike), "boxes are written to a vector file (.gpkg, .geojson, .parquet)")
        path = destination_path(_one(destinations, (str, PathLike), "vector file"))
        if path is not None:
            vector_driver(path)
        p = self.predictor
        n_classes = len(p.class_names) if p.class_names is not None else None
        merger = BoxMerger(plan, p.rotated, p.iou_threshold, p.edge_margin, n_classes)
        transform = scene.transform
        return [VectorSink(merger, path, scene.crs, lambda: merger.features(transform, p.class_names))]


def _detached(value: Any, batch: TileBatch) -> Any:
    """``value``, copied if it is a view of the batch's images: their buffers are read into again, and records are
    kept until the run ends."""
    if isinstance(value, np.ndarray) and any(
        a is not None and np.may_share_memory(value, a) for a in (batch.images, batch.images2)
    ):
        return value.copy()
    return value


@output_kind
class TileRecordOutput(OutputKind):
    """One record (columns of tags, scores, vectors) per tile: the tile footprints as vectors (the records always
    come back in the run's result too) and, with a :class:`ClassMap` destination, a class-map raster."""

    kind = "tiles"

    def split(self, outputs, batch, plan):
        n = len(batch)
        if not isinstance(outputs, dict) or any(len(v) != n for v in outputs.values()):
            raise PredictorError(f"{self.name}.predict must return a dict of columns with one entry per tile ({n})")
        outputs = {k: _detached(v, batch) for k, v in outputs.items()}
        return [{k: v[i] for k, v in outputs.items()} for i in range(n)]

    def sinks(self, destinations, scene, plan, checkpoint):
        _refuse_others(
            destinations,
            (str, PathLike, ClassMap),
            "tile records go to a vector file (.gpkg, .geojson, .parquet) or a ClassMap raster",
        )
        path = destination_path(_one(destinations, (str, PathLike), "vector file"))
        driver = vector_driver(path) if path is not None else None
        records = RecordCollector(plan)
        transform = scene.transform
        vectors = VectorSink(
            records,
            path,
            scene.crs,
            lambda: records.features(transform),
            check=lambda record: check_record(record, driver, path),
        )
        class_map = _one(destinations, ClassMap, "class map")
        if class_map is None:
            return [vectors]
        staging = checkpoint.staging_for(Path(class_map.path)) if checkpoint else None
        return [ClassMapSink(class_map, scene.grid, plan, staging), vectors]  # the raster, likelier to fail, first
