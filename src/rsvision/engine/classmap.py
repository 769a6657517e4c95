"""A class map from one record per tile, written during the run: each pixel takes the class of the tile whose centre
is nearest.

Along each axis the pixels a tile owns run from half-way between its centre and the previous tile's to half-way to
the next one's (:func:`cell_edges`); with tiles of one size that is half-way between their starts, shifted by half a
tile. So the scene rows of tile row ``i``'s cells lie inside tile row ``i``: the strip of those rows is final, and
written, as soon as the tile row is done, one class id per tile column repeated over its cells. Nothing crosses a
tile row; a checkpoint only flushes the staging file, and a resumed run reopens it and writes the rows left.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from rsvision.engine.reader import Tile
from rsvision.engine.sinks import RasterSink
from rsvision.errors import PredictorError
from rsvision.io import Grid, RasterWriter
from rsvision.io.tiles import TilePlan


@dataclass(frozen=True)
class ClassMap:
    """Destination of a run of tile records: a one-band class-map COG at ``path`` in which every pixel holds the
    ``column`` value (a class id in ``[0, len(classes))``) of the tile whose centre is nearest, nodata where that
    tile was not predicted. The COG carries the band description ``class``, the class names as the JSON tag
    ``classes`` and, for up to 254 classes, the ``colours`` (class id -> RGBA) as its colour map."""

    path: str | os.PathLike
    classes: Sequence[str]
    colours: Mapping[int, tuple[int, ...]] | None = None
    column: str = "class_id"

    @property
    def dtype(self) -> str:
        return "uint8" if len(self.classes) < 255 else "uint16"

    @property
    def nodata(self) -> int:
        return int(np.iinfo(self.dtype).max)


def cell_edges(starts: Sequence[int], tile: int, length: int) -> np.ndarray:
    """Boundaries along one axis of the pixels each tile owns: pixel ``p`` belongs to tile ``i`` when
    ``edges[i] <= p < edges[i + 1]``, i.e. to the tile whose centre is nearest (ties to the later tile)."""
    s = np.asarray(starts, dtype=np.int64)
    return np.concatenate([[0], (s[:-1] + s[1:] + tile) // 2, [length]])


class ClassMapSink(RasterSink):
    """Writes the class-map strip of each tile row when the row ends, in pieces of at most ``max_rows`` rows (a
    piece is one row of class ids broadcast over its rows, copied by GDAL as it writes)."""

    def __init__(self, spec: ClassMap, grid: Grid, plan: TilePlan, staging: Path | None = None, max_rows: int = 512):
        colours = None
        if spec.colours is not None and spec.dtype == "uint8":
            colours = {**spec.colours, spec.nodata: (0, 0, 0, 0)}
        writer = RasterWriter(
            spec.path,
            grid,
            1,
            spec.dtype,
            spec.nodata,
            descriptions=["class"],
            colormap=colours,
            tags={"classes": json.dumps(list(spec.classes))},
            staging=staging,
        )
        super().__init__(writer, staging)
        self.spec, self.plan, self.max_rows = spec, plan, max_rows
        self._y_edges = cell_edges(plan.row_starts, plan.tile_h, plan.height)
        self._widths = np.diff(cell_edges(plan.col_starts, plan.tile_w, plan.width))
        self._ids = np.full(plan.n_cols, spec.nodata, dtype=spec.dtype)  # the class of each tile of the row

    def begin_row(self, row: int) -> None:
        self._ids.fill(self.spec.nodata)

    def add(self, tile: Tile, record: dict[str, Any] | None) -> None:
        if record is not None:
            self._ids[tile.col] = self._class_id(record)

    def _class_id(self, record: dict[str, Any]) -> int:
        column, n = self.spec.column, len(self.spec.classes)
        if column not in record:
            raise PredictorError(
                f"a class map needs a {column!r} column in the tile records; they have {', '.join(sorted(record))}"
            )
        value = np.asarray(record[column])
        if value.ndim or value.dtype.kind not in "ui" or not 0 <= int(value) < n:
            raise PredictorError(
                f"tile record column {column!r} must hold one class id in [0, {n}) per tile, got {record[column]!r}"
            )
        return int(value)

    def end_row(self, row: int) -> None:
        """Write the rows of the tile row's cells: one line of class ids, repeated down the strip."""
        line = np.repeat(self._ids, self._widths)
        width = self.plan.width
        y_start, y_end = int(self._y_edges[row]), int(self._y_edges[row + 1])
        for y0 in range(y_start, y_end, self.max_rows):
            y1 = min(y0 + self.max_rows, y_end)
            self.writer.write(np.broadcast_to(line, (y1 - y0, width)), Window(0, y0, width, y1 - y0))
