"""The tile grid of a run: rows and columns of equal-size windows, spread evenly over the scene.

Unlike :func:`rsvision.io.tiles`, which shifts only the last tile inwards, the starts are spread evenly: the overlap
is at least the one asked for and at most a pixel more along long axes. The last two tile rows of ``io.tiles`` can
share up to a whole tile of rows, and those shared rows are what the engine holds in memory, full width.
"""

from __future__ import annotations

from dataclasses import dataclass

from rasterio.windows import Window


def spread_starts(length: int, size: int, overlap: int) -> tuple[int, ...]:
    """Starts of the fewest ``size``-pixel tiles that cover ``length`` pixels with at least ``overlap`` shared."""
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError(f"tile size must be positive and overlap in [0, size), got size={size}, overlap={overlap}")
    if length <= size:
        return (0,)
    gaps = -(-(length - size) // (size - overlap))  # ceil: steps of at most size - overlap
    return tuple((i * (length - size) + gaps // 2) // gaps for i in range(gaps + 1))


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
    def for_shape(cls, height: int, width: int, size: int, overlap: int) -> TilePlan:
        rows, cols = spread_starts(height, size, overlap), spread_starts(width, size, overlap)
        return cls(height, width, min(size, height), min(size, width), rows, cols)

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
