"""Tile a scene into overlapping windows of one size that cover every pixel: the one tiler of rsvision.

:class:`TilePlan` is the grid of a scene's tiles, row by row; :func:`tiles` iterates its windows and the engine
(:mod:`rsvision.engine`) streams over it. Tile starts are spread evenly along each axis: the overlap is at least the
one asked for and at most a pixel more along long axes, so neighbouring tiles share about the same rows everywhere.
(Shifting only the last tile inwards, flush with the edge, would make the last two tile rows share up to a whole
tile of rows, and the rows that tile rows share are what the engine holds in memory, full width.)
"""

from __future__ import annotations

from collections.abc import Iterator
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
        """The plan of ``size``-pixel tiles sharing at least ``overlap`` pixels (a scene smaller than ``size`` along
        an axis gets one tile of the scene's length there)."""
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

    def windows(self) -> Iterator[Window]:
        """Every tile's window, row by row, left to right."""
        for row in range(self.n_rows):
            for col in range(self.n_cols):
                yield self.window(row, col)

    def row_end(self, row: int) -> int:
        """First scene row that later tile rows still cover: rows above it are final once tile row ``row`` is done."""
        return self.row_starts[row + 1] if row + 1 < self.n_rows else self.height

    def inner_edges(self, row: int, col: int) -> tuple[bool, bool, bool, bool]:
        """(left, top, right, bottom): whether a tile edge lies inside the scene (another tile continues past it)."""
        r, c = self.row_starts[row], self.col_starts[col]
        return c > 0, r > 0, c + self.tile_w < self.width, r + self.tile_h < self.height


def _plan(scene_or_shape, size: int, overlap: int) -> TilePlan:
    """The plan of a Scene (anything with ``height`` and ``width``) or a ``(height, width)`` tuple."""
    if hasattr(scene_or_shape, "height"):
        height, width = scene_or_shape.height, scene_or_shape.width
    else:
        height, width = scene_or_shape
    return TilePlan.for_shape(height, width, size, overlap)


def tiles(scene_or_shape, size: int, overlap: int = 0) -> Iterator[Window]:
    """Windows of ``size`` x ``size`` pixels overlapping by at least ``overlap``, row by row, left to right.

    Every pixel is covered and every tile has the full size (a scene smaller than ``size`` gives one tile of the
    scene's size); the starts are spread evenly (:class:`TilePlan`), the same tiles the engine predicts. Accepts a
    Scene or a (height, width) tuple.
    """
    plan = _plan(scene_or_shape, size, overlap)  # checks the arguments now, not at the first window
    return plan.windows()


def count_tiles(scene_or_shape, size: int, overlap: int = 0) -> int:
    """How many windows :func:`tiles` gives."""
    return len(_plan(scene_or_shape, size, overlap))
