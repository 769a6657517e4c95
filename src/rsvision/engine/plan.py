"""The tile grid of a run: rows and columns of equal-size windows (from :func:`rsvision.io.tiles`)."""

from __future__ import annotations

from dataclasses import dataclass

from rasterio.windows import Window

from rsvision.io import tiles


@dataclass(frozen=True)
class TilePlan:
    """Tiles of ``tile_h`` x ``tile_w`` pixels at every (row start, column start) pair, read row by row."""

    height: int
    width: int
    tile_h: int
    tile_w: int
    row_starts: tuple[int, ...]
    col_starts: tuple[int, ...]

    @classmethod
    def for_shape(cls, height: int, width: int, size: int, overlap: int) -> "TilePlan":
        windows = list(tiles((height, width), size, overlap))
        rows = tuple(sorted({int(w.row_off) for w in windows}))
        cols = tuple(sorted({int(w.col_off) for w in windows}))
        return cls(height, width, int(windows[0].height), int(windows[0].width), rows, cols)

    @property
    def n_rows(self) -> int:
        return len(self.row_starts)

    @property
    def n_cols(self) -> int:
        return len(self.col_starts)

    def __len__(self) -> int:
        return self.n_rows * self.n_cols

    def window(self, row: int, col: int) -> Window:
        return Window(self.col_starts[col], self.row_starts[row], self.tile_w, self.tile_h)

    def row_end(self, row: int) -> int:
        """First scene row that later tile rows still cover: rows above it are final once tile row ``row`` is done."""
        return self.row_starts[row + 1] if row + 1 < self.n_rows else self.height

    def inner_edges(self, row: int, col: int) -> tuple[bool, bool, bool, bool]:
        """(left, top, right, bottom): whether a tile edge lies inside the scene (another tile continues past it)."""
        r, c = self.row_starts[row], self.col_starts[col]
        return c > 0, r > 0, c + self.tile_w < self.width, r + self.tile_h < self.height
