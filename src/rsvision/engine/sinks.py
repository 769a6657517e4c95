"""Where merged outputs go: finished raster strips to a COG writer, features to a vector file (or memory).

Every sink follows :class:`Sink`: the run opens it (or reopens what a stopped run left), hands it each tile's output
between ``begin_row`` and ``end_row``, asks it for what crosses a tile row at checkpoints, and finishes, aborts or
suspends it at the end. :class:`SinkGroup` feeds several sinks the same outputs (a class map and the tile vectors).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

from rsvision.engine.dense import StripMerger
from rsvision.engine.reader import Tile
from rsvision.errors import OutputError
from rsvision.io import RasterWriter, write_vectors

PERCENT_NODATA = 255  # of a probabilities raster in percent (0-100)


class Sink(Protocol):
    """What the run calls on a sink. ``result`` holds ``(geometries, columns)`` once finished, for sinks of
    features (None otherwise)."""

    result: tuple[list, dict[str, Any]] | None

    def open(self, resume: bool) -> bool:
        """Start writing; with ``resume``, continue what a stopped run left, or return False when that cannot be
        continued (the run then starts over and opens again without ``resume``)."""

    def begin_row(self, row: int) -> None: ...

    def add(self, tile: Tile, output: Any) -> None:
        """One tile's output, in tile order (None for a tile with no valid pixel, which was not predicted)."""

    def end_row(self, row: int) -> None: ...

    def cache_bytes(self) -> int:
        """GDAL block cache the sink's files need while the run writes them (optional: none without it)."""

    def checkpoint(self) -> dict[str, np.ndarray]:
        """Make what was written so far durable; return the arrays a resumed run needs to continue."""

    def restore(self, arrays: dict[str, np.ndarray]) -> None: ...

    def finish(self) -> Path | None:
        """Publish the output (the file appears only now); its path, or None when kept in memory."""

    def abort(self) -> None:
        """Drop everything written so far."""

    def suspend(self) -> None:
        """Stop early but keep what a resumed run continues from."""


@contextlib.contextmanager
def _quiet_without_crs(writer: RasterWriter) -> Iterator[None]:
    """Reopening the staging file of a scene without georeference would warn again about what was reported once,
    when the scene was opened."""
    with warnings.catch_warnings():
        if writer.grid.crs is None:
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
        yield


class RasterSink:
    """A sink that writes strips of a raster through a :class:`RasterWriter` staging into ``staging`` (the
    checkpoint's folder), so a stopped run reopens the file and writes the rows left."""

    result = None

    def __init__(self, writer: RasterWriter, staging: Path | None):
        self.writer, self.staging = writer, staging

    def open(self, resume: bool) -> bool:
        if resume and (self.staging is None or not self.staging.exists()):
            return False
        try:
            with _quiet_without_crs(self.writer):
                self.writer.open(resume=resume)
        except (OutputError, TypeError):  # rasterio raises TypeError for a file it does not recognise as a raster
            if resume:  # a staging file the kill left unreadable: start over
                return False
            raise
        return True

    def cache_bytes(self) -> int:
        return self.writer.block_cache_bytes()

    def checkpoint(self) -> dict[str, np.ndarray]:
        with _quiet_without_crs(self.writer):
            self.writer.flush()
        return {"staged_rows": np.array(self.writer.rows_written)}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.writer.resume_at(int(arrays["staged_rows"]))

    def finish(self) -> Path:
        with _quiet_without_crs(self.writer):
            return self.writer.close()

    def abort(self) -> None:
        self.writer.abort()

    def suspend(self) -> None:
        self.writer.suspend()


class DenseSink(RasterSink):
    """Blend tile scores into strips and write each finished strip (the writer compresses as it goes)."""

    def __init__(self, merger: StripMerger, writer: RasterWriter, staging: Path | None = None):
        super().__init__(writer, staging)
        self.merger = merger

    def begin_row(self, row: int) -> None:
        self.merger.begin_row(row)

    def add(self, tile: Tile, output: np.ndarray | None) -> None:
        self.merger.add(tile.col, output, tile.nodata)

    def end_row(self, row: int) -> None:
        r, strip = self.merger.end_row()
        self.writer.write(strip, Window(0, r, strip.shape[2], strip.shape[1]))

    def checkpoint(self) -> dict[str, np.ndarray]:
        return {**super().checkpoint(), **self.merger.state()}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        super().restore(arrays)
        self.merger.restore(arrays)


class ProbabilitySink(DenseSink):
    """Blend tile scores into strips of probabilities (the weighted mean) and write them in percent as uint8, with
    the class map beside them (the argmax of the same strip) when there is one."""

    def __init__(self, merger: StripMerger, classes: RasterSink | None, percent: RasterSink):
        super().__init__(merger, percent.writer, percent.staging)
        self.group = SinkGroup([sink for sink in (classes, percent) if sink is not None])
        self.classes = classes.writer if classes is not None else None

    def open(self, resume: bool) -> bool:
        return self.group.open(resume)

    def end_row(self, row: int) -> None:
        r, strip = self.merger.end_row()
        window = Window(0, r, strip.shape[2], strip.shape[1])
        missing = np.isnan(strip[0])
        if self.classes is not None:
            classes = np.nan_to_num(strip, nan=-1.0).argmax(axis=0).astype(self.classes.dtype)
            classes[missing] = int(self.classes.nodata)
            self.classes.write(classes, window)
        percent = np.rint(np.nan_to_num(strip, nan=0.0) * 100).clip(0, 100).astype(np.uint8)
        percent[:, missing] = PERCENT_NODATA
        self.writer.write(percent, window)

    def cache_bytes(self) -> int:
        return self.group.cache_bytes()

    def checkpoint(self) -> dict[str, np.ndarray]:
        return {**self.group.checkpoint(), **self.merger.state()}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.group.restore(arrays)
        self.merger.restore(arrays)

    def finish(self) -> list[Path]:
        return self.group.finish()

    def abort(self) -> None:
        self.group.abort()

    def suspend(self) -> None:
        self.group.suspend()


class VectorSink:
    """Collect boxes or tile records; write them as one vector file at the end (or keep them in memory).
    ``check`` sees the first output, so a record the file cannot hold is refused at the first batch."""

    def __init__(
        self,
        collector,
        output: Path | None,
        crs,
        features: Callable[[], tuple[list, dict[str, Any]]],
        check: Callable[[Any], None] | None = None,
    ):
        self.collector, self.output, self.crs, self._features = collector, output, crs, features
        self._check = check
        self.result: tuple[list, dict[str, Any]] | None = None

    def open(self, resume: bool) -> bool:
        return True  # nothing on disk before the end: a resumed run restores the collector's arrays

    def begin_row(self, row: int) -> None:
        pass

    def add(self, tile: Tile, output: Any) -> None:
        if output is None:
            return
        if self._check is not None:
            self._check(output)
            self._check = None
        self.collector.add(tile.row, tile.col, output)

    def end_row(self, row: int) -> None:
        self.collector.end_row(row)

    def cache_bytes(self) -> int:
        return 0

    def checkpoint(self) -> dict[str, np.ndarray]:
        return self.collector.state()

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.collector.restore(arrays)

    def finish(self) -> Path | None:
        self.result = self._features()
        if self.output is None:
            return None
        geoms, columns = self.result
        return write_vectors(self.output, geoms, columns, crs=self.crs)

    def abort(self) -> None:
        pass

    def suspend(self) -> None:
        pass


class SinkGroup:
    """Several sinks fed the same outputs, checkpointed together (each one's arrays under its own prefix)."""

    def __init__(self, sinks: list[Sink]):
        self.sinks = sinks

    @property
    def result(self) -> tuple[list, dict[str, Any]] | None:
        return next((s.result for s in self.sinks if s.result is not None), None)

    def open(self, resume: bool) -> bool:
        opened = []
        for sink in self.sinks:
            if not sink.open(resume):
                for done in opened:  # close what was reopened: the run starts over
                    done.suspend()
                return False
            opened.append(sink)
        return True

    def begin_row(self, row: int) -> None:
        for sink in self.sinks:
            sink.begin_row(row)

    def add(self, tile: Tile, output: Any) -> None:
        for sink in self.sinks:
            sink.add(tile, output)

    def end_row(self, row: int) -> None:
        for sink in self.sinks:
            sink.end_row(row)

    def cache_bytes(self) -> int:
        return sum(sink.cache_bytes() for sink in self.sinks if hasattr(sink, "cache_bytes"))

    def checkpoint(self) -> dict[str, np.ndarray]:
        return {f"{i}_{k}": v for i, sink in enumerate(self.sinks) for k, v in sink.checkpoint().items()}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        for i, sink in enumerate(self.sinks):
            prefix = f"{i}_"
            sink.restore({k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)})

    def finish(self) -> list[Path]:
        """Publish every output, in order (the run aborts them all when one fails)."""
        done = [sink.finish() for sink in self.sinks]
        return [p for path in done for p in (path if isinstance(path, list) else [path]) if p is not None]

    def abort(self) -> None:
        for sink in self.sinks:
            sink.abort()

    def suspend(self) -> None:
        for sink in self.sinks:
            sink.suspend()
