"""Rasters and vectors in and out: scenes on one grid (from files, products or STAC items), windows, alignment, tiles
and writers. The band and sensor catalogue and the atomic file helpers are in :mod:`rsvision.core`."""

from rsvision.io.align import align
from rsvision.io.info import scene_info
from rsvision.io.scene import Grid, Scene, open_scene
from rsvision.io.stac import open_stac_item, save_items, search_items
from rsvision.io.tiles import count_tiles, tiles
from rsvision.io.writers import RasterWriter, write_cog, write_vectors

__all__ = [
    "Grid",
    "RasterWriter",
    "Scene",
    "align",
    "count_tiles",
    "open_scene",
    "open_stac_item",
    "save_items",
    "scene_info",
    "search_items",
    "tiles",
    "write_cog",
    "write_vectors",
]
