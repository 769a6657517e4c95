"""Read batches of tiles ahead on a thread pool (GDAL releases the GIL) while the model runs, in order.

A batch is up to ``batch`` consecutive tiles of one tile row, read by GDAL straight into float32 buffers that are
reused from batch to batch: converting as it reads, and touching no new memory, is several times faster than
reading the file's dtype into fresh arrays and converting them afterwards.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window

from rsvision.engine.plan import TilePlan
from rsvision.io import Scene


@dataclass
class Tile:
    """One tile's place and nodata mask ``(h, w)`` (True where every band is nodata)."""

    row: int
    col: int
    window: Window
    mask: np.ndarray
    mask2: np.ndarray | None = None
    empty: bool = False  # no valid pixel (in either date): skipped, and written as nodata

    @property
    def nodata(self) -> np.ndarray:
        """Output pixels to write as nodata: nodata in the scene, or in the second date."""
        return self.mask if self.mask2 is None else self.mask | self.mask2


@dataclass
class ReadBatch:
    """Consecutive tiles of one tile row and their band values ``(n, C, h, w)`` float32 (``images2``: the second
    date). The images live in a reused buffer: they are valid until the next batch is asked for."""

    tiles: list[Tile]
    images: np.ndarray
    images2: np.ndarray | None = None
    ends_row: bool = False


class TileReader:
    """Iterate the tiles of ``plan`` in batches from a given tile row, reading up to ``ahead`` batches in advance."""

    def __init__(
        self,
        scene: Scene,
        plan: TilePlan,
        bands: Sequence[str | int] | None = None,
        scene2: Scene | None = None,
        batch: int = 8,
        workers: int = 2,
        ahead: int = 1,
    ):
        self.scene, self.scene2, self.plan, self.bands = scene, scene2, plan, bands
        self.batch, self.workers, self.ahead = max(1, batch), max(1, workers), max(1, ahead)
        self.channels = len(bands) if bands is not None else scene.count
        self.channels2 = len(bands) if bands is not None else (scene2.count if scene2 is not None else 0)

    def _read(self, scene: Scene, window: Window, out: np.ndarray) -> np.ndarray:
        """Read into ``out``; the pixel mask (True where every band is nodata)."""
        mask = np.ma.getmask(scene.read(window, bands=self.bands, out=out))
        return np.zeros(out.shape[1:], bool) if mask is np.ma.nomask else mask.all(axis=0)

    def _load(self, row: int, cols: range, images: np.ndarray, images2: np.ndarray | None) -> ReadBatch:
        tiles = []
        for i, col in enumerate(cols):
            window = self.plan.window(row, col)
            mask = self._read(self.scene, window, images[i])
            tile = Tile(row, col, window, mask)
            if images2 is not None:  # a tile with nothing to predict skips reading the second date
                tile.mask2 = np.ones_like(mask) if mask.all() else self._read(self.scene2, window, images2[i])
                tile.empty = bool(tile.mask2.all())
            tile.empty = tile.empty or bool(mask.all())
            tiles.append(tile)
        n = len(tiles)
        return ReadBatch(tiles, images[:n], None if images2 is None else images2[:n],
                         ends_row=cols[-1] == self.plan.n_cols - 1)

    def batches(self, first_row: int = 0) -> Iterator[ReadBatch]:
        """Batches row by row, left to right, starting at tile row ``first_row``. A batch's buffers are reused once
        the next batch is asked for."""
        p = self.plan
        order = [(r, range(c, min(c + self.batch, p.n_cols))) for r in range(first_row, p.n_rows)
                 for c in range(0, p.n_cols, self.batch)]
        slots = self.ahead + 1  # the batches read ahead, and the one the caller holds
        buffers = [np.empty((self.batch, self.channels, p.tile_h, p.tile_w), np.float32) for _ in range(slots)]
        buffers2 = None
        if self.scene2 is not None:
            buffers2 = [np.empty((self.batch, self.channels2, p.tile_h, p.tile_w), np.float32) for _ in range(slots)]
        pending: deque[Future] = deque()
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="rsvision-read")
        try:
            for k, (row, cols) in enumerate(order):
                slot = k % slots
                pending.append(pool.submit(self._load, row, cols, buffers[slot], buffers2[slot] if buffers2 else None))
                if len(pending) > self.ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=True)
