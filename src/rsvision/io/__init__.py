"""Rasters and vectors in and out: scenes on one grid, windows, alignment, tiles and writers. The band and sensor
catalogue and the atomic file helpers are in :mod:`rsvision.core`."""

from rsvision.io.align import align
from rsvision.io.info import scene_info
from rsvision.io.scene import Grid, Scene, open_scene
from rsvision.io.tiles import count_tiles, tiles
from rsvision.io.writers import RasterWriter, write_cog, write_vectors

__all__ = [
    "Grid",
    "RasterWriter",
    "Scene",
    "align",
    "count_tiles",
    "open_scene",
    "scene_info",
    "tiles",
    "write_cog",
    "write_vectors",
]
