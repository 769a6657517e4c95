"""Where merged outputs go: finished raster strips to a COG writer, features to a vector file (or memory)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from rsvision.engine.dense import StripMerger
from rsvision.engine.reader import Tile
from rsvision.io import RasterWriter, write_vectors


class DenseSink:
    """Blend tile scores into strips and write each finished strip (the writer compresses as it goes)."""

    def __init__(self, merger: StripMerger, writer: RasterWriter):
        self.merger, self.writer = merger, writer

    def begin_row(self, row: int) -> None:
        self.merger.begin_row(row)

    def add(self, tile: Tile, output: np.ndarray | None) -> None:
        self.merger.add(tile.col, output, tile.nodata)

    def end_row(self, row: int) -> None:
        r, strip = self.merger.end_row()
        self.writer.write(strip, Window(0, r, strip.shape[2], strip.shape[1]))

    def checkpoint(self) -> dict[str, np.ndarray]:
        self.writer.flush()
        return self.merger.state()

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.merger.restore(arrays)

    def finish(self) -> Path:
        return self.writer.close()

    def abort(self) -> None:
        self.writer.abort()

    def suspend(self) -> None:
        """Stop early but keep the staging file, so the run can resume from its last checkpoint."""
        self.writer.suspend()


class VectorSink:
    """Collect boxes or tile records; write them as one vector file at the end (or keep them in memory)."""

    def __init__(self, collector, output: Path | None, crs, features: Callable[[], tuple[list, dict[str, Any]]]):
        self.collector, self.output, self.crs, self._features = collector, output, crs, features
        self.result: tuple[list, dict[str, Any]] | None = None

    def begin_row(self, row: int) -> None:
        pass

    def add(self, tile: Tile, output: Any) -> None:
        if output is not None:
            self.collector.add(tile.row, tile.col, output)

    def end_row(self, row: int) -> None:
        self.collector.end_row(row)

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
