"""Read batches of tiles ahead on a thread pool (GDAL releases the GIL) while the model runs, in order.

A batch is up to ``batch`` consecutive tiles of one tile row, read by GDAL straight into float32 buffers (and
masks) that are reused from batch to batch: converting as it reads, and touching no new memory, is several times
faster than reading the file's dtype into fresh arrays and converting them afterwards.

GDAL's block cache is bounded while a run reads (:func:`rsvision.core.settings.bounded_block_cache`): by default
it may take 5% of RAM, which one scan of a large scene fills, so memory would grow with the scene.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window

from rsvision.io import Scene
from rsvision.io.tiles import TilePlan


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
    """Consecutive tiles of one tile row: band values ``(n, C, h, w)`` float32 and nodata masks ``(n, h, w)``
    (``images2``, ``masks2``: the second date). They live in reused buffers: valid until the next batch is asked
    for."""

    tiles: list[Tile]
    images: np.ndarray
    masks: np.ndarray
    images2: np.ndarray | None = None
    masks2: np.ndarray | None = None
    ends_row: bool = False


@dataclass
class _Slot:
    """The buffers one batch is read into."""

    images: np.ndarray
    masks: np.ndarray
    images2: np.ndarray | None
    masks2: np.ndarray | None


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
        self.seconds = 0.0  # spent reading, summed over the threads
        self._lock = threading.Lock()

    def _read(self, scene: Scene, window: Window, out: np.ndarray, mask_out: np.ndarray) -> np.ndarray:
        """Read into ``out`` and the pixel mask (True where every band is nodata) into ``mask_out``."""
        mask = np.ma.getmask(scene.read(window, bands=self.bands, out=out))
        if mask is np.ma.nomask:
            mask_out[...] = False
        else:
            np.all(mask, axis=0, out=mask_out)
        return mask_out

    def _slot(self) -> _Slot:
        p = self.plan
        pair = self.scene2 is not None
        return _Slot(
            np.empty((self.batch, self.channels, p.tile_h, p.tile_w), np.float32),
            np.empty((self.batch, p.tile_h, p.tile_w), bool),
            np.empty((self.batch, self.channels2, p.tile_h, p.tile_w), np.float32) if pair else None,
            np.empty((self.batch, p.tile_h, p.tile_w), bool) if pair else None,
        )

    def _load(self, row: int, cols: range, slot: _Slot) -> list[Tile]:
        """Read the tiles of ``cols`` in tile row ``row`` into ``slot``."""
        t0 = time.perf_counter()
        tiles = []
        for i, col in enumerate(cols):
            window = self.plan.window(row, col)
            mask = self._read(self.scene, window, slot.images[i], slot.masks[i])
            tile = Tile(row, col, window, mask, empty=bool(mask.all()))
            if self.scene2 is not None:  # a tile with nothing to predict skips reading the second date
                if tile.empty:
                    slot.masks2[i] = True
                    tile.mask2 = slot.masks2[i]
                else:
                    tile.mask2 = self._read(self.scene2, window, slot.images2[i], slot.masks2[i])
                    tile.empty = bool(tile.mask2.all())
            tiles.append(tile)
        with self._lock:
            self.seconds += time.perf_counter() - t0
        return tiles

    def batches(self, first_row: int = 0, stop_row: int | None = None) -> Iterator[ReadBatch]:
        """Batches row by row, left to right, from tile row ``first_row`` up to ``stop_row`` (the last by default). A
        batch's buffers are reused once the next batch is asked for. The first batch, which the model waits for, is
        read in the calling thread, where the scene is open already (a worker first opens its own handle, about
        10 ms); the next ones are read on the workers while the model runs.

        Each worker reads the same batch columns in every tile row (batch column ``j`` on worker ``j % workers``):
        GDAL caches blocks per dataset handle, and each thread has its own handle, so the blocks a tile row shares
        with the next are found in the cache only when the same thread reads them both times."""
        p = self.plan
        order = [
            (r, range(c, min(c + self.batch, p.n_cols)))
            for r in range(first_row, p.n_rows if stop_row is None else stop_row)
            for c in range(0, p.n_cols, self.batch)
        ]
        slots = [self._slot() for _ in range(self.ahead + 1)]  # the batches read ahead, and the caller's
        pools = [ThreadPoolExecutor(1, thread_name_prefix=f"rsvision-read-{i}") for i in range(self.workers)]
        pending: deque[tuple[range, _Slot, Future]] = deque()

        def start(k: int) -> None:
            (row, cols), slot = order[k], slots[k % len(slots)]
            pool = pools[cols.start // self.batch % len(pools)]
            pending.append((cols, slot, pool.submit(self._load, row, cols, slot)))

        try:
            for k in range(len(order)):
                if pending:
                    cols, slot, future = pending.popleft()
                    tiles = future.result()
                else:  # nothing read ahead yet: the first batch
                    (row, cols), slot = order[k], slots[k % len(slots)]
                    tiles = self._load(row, cols, slot)
                for j in range(k + 1 + len(pending), min(k + 1 + self.ahead, len(order))):
                    start(j)
                n, pair = len(tiles), self.scene2 is not None
                yield ReadBatch(
                    tiles,
                    slot.images[:n],
                    slot.masks[:n],
                    slot.images2[:n] if pair else None,
                    slot.masks2[:n] if pair else None,
                    ends_row=cols[-1] == p.n_cols - 1,
                )
        finally:
            for _, _, future in pending:
                future.cancel()
            for pool in pools:
                pool.shutdown(wait=True)
