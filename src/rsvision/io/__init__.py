"""Rasters and vectors in and out: scenes on one grid, windows, alignment, tiles and atomic writers."""

from rsvision.io.align import align
from rsvision.io.info import scene_info
from rsvision.io.scene import Grid, Scene, open_scene
from rsvision.io.sensors import SENSORS, Band, Sensor, get_sensor
from rsvision.io.tiles import count_tiles, tiles
from rsvision.io.writers import RasterWriter, atomic_output, write_cog, write_vectors

__all__ = [
    "Band", "Grid", "RasterWriter", "SENSORS", "Scene", "Sensor", "align", "atomic_output", "count_tiles",
    "get_sensor", "open_scene", "scene_info", "tiles", "write_cog", "write_vectors",
]
