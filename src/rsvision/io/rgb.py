"""A scene's red, green and blue bands as 8-bit true colour: what models trained on RGB photos (the AID classifier's
backbone, the VQA baseline) read from any raster, a 13-band Sentinel-2 crop included."""

from __future__ import annotations

import os

import numpy as np
from rasterio.windows import Window

from rsvision.core.sensors import band_for_common_name, reflectance_to_8bit
from rsvision.errors import BandCountError
from rsvision.io.scene import Scene, open_scene

RGB = ("red", "green", "blue")


def rgb_positions(scene: Scene) -> list[int]:
    """Band positions of red, green, blue: by name, else by centre wavelength (:func:`band_for_common_name`, as a
    classifier's bands are chosen), else the first three."""
    names = [b.name.lower() for b in scene.bands]
    if all(c in names for c in RGB):
        return [names.index(c) for c in RGB]
    found = [band_for_common_name(c, list(scene.bands)) for c in RGB]
    if all(found):
        return [scene.bands.index(b) for b in found]
    if scene.count >= 3:
        return [0, 1, 2]
    raise BandCountError(f"{scene.path}: {scene.count} band(s) and no red, green and blue among them")


def read_rgb8(scene: Scene | str | os.PathLike, size: int, window: Window | None = None) -> np.ndarray:
    """(3, size, size) uint8 of ``window`` (the whole scene by default; GDAL decimates as it reads): integer
    reflectance (Sentinel-2 DN) made true colour, nodata as 0."""
    scene = scene if isinstance(scene, Scene) else open_scene(scene)
    window = window or Window(0, 0, scene.width, scene.height)
    data = scene.read(window, bands=rgb_positions(scene), out_shape=(size, size))
    data = np.ma.filled(data, 0)
    return data.astype(np.uint8) if scene.dtype == "uint8" else reflectance_to_8bit(data)
