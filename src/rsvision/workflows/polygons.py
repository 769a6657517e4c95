"""Polygons of a class-map COG with their areas: what segmentation and change detection write as vectors.

Polygons come from GDAL's polygonize reading the class map from disk row by row; areas are square metres on a
projected grid, geodesic square metres on a geographic one, and pixels without a georeference.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pyproj
import rasterio
import rasterio.features
import shapely
from rasterio.windows import from_bounds
from shapely.geometry import shape


def class_polygons(class_map: str | os.PathLike, keep: Sequence[int] | None = None) -> tuple[list, np.ndarray, object]:
    """One polygon per 4-connected region of each class value of a one-band class map (nodata left out; only the
    values in ``keep`` when given): ``(geometries, class ids, crs)``."""
    with rasterio.open(class_map) as ds:
        nodata, crs = ds.nodata, ds.crs
        pairs = [
            (shape(geojson), int(value))
            for geojson, value in rasterio.features.shapes(rasterio.band(ds, 1), connectivity=4, transform=ds.transform)
            if value != nodata and (keep is None or int(value) in keep)
        ]
    return [g for g, _ in pairs], np.array([v for _, v in pairs], dtype=np.int32), crs


def polygon_areas(geoms: Sequence, crs) -> np.ndarray:
    """Areas: square metres (projected CRS, through its unit), geodesic square metres (geographic CRS), else the
    polygons' own units (pixels)."""
    if not len(geoms):
        return np.zeros(0)
    if crs is None:
        return shapely.area(np.asarray(geoms, dtype=object))
    if crs.is_geographic:
        geod = pyproj.CRS.from_user_input(crs).get_geod()
        return np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in geoms])
    factor = crs.linear_units_factor[1]
    return shapely.area(np.asarray(geoms, dtype=object)) * factor * factor


def polygon_means(raster: str | os.PathLike, geoms: Sequence, band: int = 1) -> np.ndarray:
    """The mean of ``band`` of ``raster`` (nodata left out) inside each polygon, each read through its own
    window, so a large raster is never read whole."""
    out = np.full(len(geoms), np.nan)
    with rasterio.open(raster) as ds:
        for i, geom in enumerate(geoms):
            window = from_bounds(*geom.bounds, transform=ds.transform).round_offsets().round_lengths()
            window = window.intersection(rasterio.windows.Window(0, 0, ds.width, ds.height))
            values = ds.read(band, window=window, masked=True)
            inside = rasterio.features.geometry_mask(
                [geom], values.shape, ds.window_transform(window), invert=True, all_touched=False
            )
            picked = values[inside & ~np.ma.getmaskarray(values)]
            if picked.size:
                out[i] = float(picked.mean())
    return out
