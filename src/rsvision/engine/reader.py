"""Read tiles ahead on a thread pool (GDAL releases the GIL) while the model runs, and hand them over in order."""

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
    """One tile as read: band values ``(C, h, w)`` in the file's dtype (float32 in the batch) and its nodata mask
    ``(h, w)`` (every band masked)."""

    row: int
    col: int
    window: Window
    image: np.ndarray
    mask: np.ndarray
    image2: np.ndarray | None = None
    mask2: np.ndarray | None = None
    empty: bool = False  # no valid pixel (in either date): skipped, and written as nodata

    @property
    def nodata(self) -> np.ndarray:
        """Output pixels to write as nodata: nodata in the scene, or in the second date."""
        return self.mask if self.mask2 is None else self.mask | self.mask2


def _read(scene: Scene, window: Window, bands: Sequence[str | int] | None) -> tuple[np.ndarray, np.ndarray]:
    data = scene.read(window, bands=bands)
    mask = np.ma.getmask(data)
    pixel_mask = np.zeros(data.shape[1:], dtype=bool) if mask is np.ma.nomask else mask.all(axis=0)
    return np.ma.getdata(data), pixel_mask


class TileReader:
    """Iterate the tiles of ``plan`` from a given tile row, reading up to ``ahead`` tiles in advance."""

    def __init__(
        self,
        scene: Scene,
        plan: TilePlan,
        bands: Sequence[str | int] | None = None,
        scene2: Scene | None = None,
        workers: int = 2,
        ahead: int = 16,
    ):
        self.scene, self.scene2, self.plan, self.bands = scene, scene2, plan, bands
        self.workers, self.ahead = max(1, workers), max(1, ahead)

    def _load(self, row: int, col: int) -> Tile:
        window = self.plan.window(row, col)
        image, mask = _read(self.scene, window, self.bands)
        tile = Tile(row, col, window, image, mask)
        if self.scene2 is not None and not mask.all():
            tile.image2, tile.mask2 = _read(self.scene2, window, self.bands)
        elif self.scene2 is not None:  # nothing to predict: skip reading the second date
            tile.image2, tile.mask2 = None, np.ones_like(mask)
        tile.empty = bool(mask.all()) or (tile.mask2 is not None and bool(tile.mask2.all()))
        return tile

    def tiles(self, first_row: int = 0) -> Iterator[Tile]:
        """Tiles row by row, left to right, starting at tile row ``first_row``."""
        order = ((r, c) for r in range(first_row, self.plan.n_rows) for c in range(self.plan.n_cols))
        pending: deque[Future] = deque()
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="rsvision-read")
        try:
            for rc in order:
                pending.append(pool.submit(self._load, *rc))
                if len(pending) >= self.ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=True)
