"""Tile a scene into overlapping windows that cover every pixel."""

from __future__ import annotations

from typing import Iterator

from rasterio.windows import Window


def _starts(length: int, size: int, stride: int) -> list[int]:
    if length <= size:
        return [0]
    starts = list(range(0, length - size, stride))
    starts.append(length - size)  # the last tile is flush with the edge, so every tile has the full size
    return starts


def tiles(scene_or_shape, size: int, overlap: int = 0) -> Iterator[Window]:
    """Windows of ``size`` x ``size`` pixels overlapping by ``overlap``, row by row, left to right.

    Every pixel is covered; edge tiles are shifted inwards so all tiles have the full size (a scene smaller than
    ``size`` gives one tile of the scene's size). Accepts a Scene or a (height, width) tuple.
    """
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError(f"tile size must be positive and overlap in [0, size), got size={size}, overlap={overlap}")
    height, width = (scene_or_shape.height, scene_or_shape.width) if hasattr(scene_or_shape, "height") else scene_or_shape
    stride = size - overlap
    for row in _starts(height, size, stride):
        for col in _starts(width, size, stride):
            yield Window(col, row, min(size, width), min(size, height))


def count_tiles(scene_or_shape, size: int, overlap: int = 0) -> int:
    height, width = (scene_or_shape.height, scene_or_shape.width) if hasattr(scene_or_shape, "height") else scene_or_shape
    stride = size - overlap
    return len(_starts(height, size, stride)) * len(_starts(width, size, stride))
