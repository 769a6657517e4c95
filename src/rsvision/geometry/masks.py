"""Masks <-> polygons through rasterio.features (vectorise class maps, burn polygons)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import rasterio.features
import shapely
from rasterio.transform import Affine
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from rsvision.errors import GeometryError

# dtypes rasterio.features.shapes accepts, and where other dtypes go when their values fit.
_SHAPES_DTYPES = {"int16", "int32", "uint8", "uint16", "float32"}


def _shapes_ready(mask: np.ndarray) -> np.ndarray:
    if mask.dtype == bool:
        return mask.astype(np.uint8)
    if mask.dtype.name in _SHAPES_DTYPES:
        return mask
    target = np.int32 if mask.dtype.kind in "iu" else np.float32
    converted = mask.astype(target)
    if not np.array_equal(converted, mask, equal_nan=mask.dtype.kind == "f"):
        raise GeometryError(f"mask of dtype {mask.dtype} holds values that {np.dtype(target).name} cannot represent")
    return converted


def mask_to_polygons(
    mask: np.ndarray,
    transform: Affine | None = None,
    simplify: float = 0.0,
    min_area: float = 0.0,
    connectivity: int = 4,
    background: float | None = None,
) -> list[tuple[BaseGeometry, Any]]:
    """Vectorise a 2-D mask into ``(polygon, value)`` pairs, one per connected region.

    Coordinates are map coordinates through ``transform`` (pixel corners when ``None``).
    ``background`` names a value that is not vectorised (e.g. 0 for a binary mask); NaN cells
    are never vectorised. ``simplify`` is a tolerance in map units (topology preserved) and
    polygons smaller than ``min_area`` map units squared are dropped.
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise GeometryError(f"mask must be 2-D (rows, cols), got shape {m.shape}")
    if connectivity not in (4, 8):
        raise GeometryError(f"connectivity must be 4 or 8, got {connectivity}")
    src = _shapes_ready(m)
    keep = np.ones(m.shape, dtype=bool)
    if background is not None:
        keep &= m != background
    if m.dtype.kind == "f":
        keep &= ~np.isnan(m)
    out = []
    for geojson, value in rasterio.features.shapes(
        src, mask=keep, connectivity=connectivity, transform=Affine.identity() if transform is None else transform
    ):
        geom = shape(geojson)
        if simplify > 0:
            geom = shapely.simplify(geom, simplify, preserve_topology=True)
        if geom.is_empty or geom.area < min_area:
            continue
        out.append((geom, _plain(value, m.dtype)))
    return out


def _plain(value: float, dtype: np.dtype) -> Any:
    """rasterio yields floats for every dtype; give integers back for integer and boolean masks."""
    return int(value) if dtype.kind in "iub" else float(value)


def rasterize_polygons(
    geoms_values: Iterable[BaseGeometry | tuple[BaseGeometry, Any]],
    out_shape: tuple[int, int],
    transform: Affine | None = None,
    fill: float = 0,
    all_touched: bool = False,
    dtype: Any = None,
) -> np.ndarray:
    """Burn geometries (value 1) or ``(geometry, value)`` pairs into a ``(rows, cols)`` array.

    Later shapes overwrite earlier ones. ``dtype`` defaults to uint8 when every value fits,
    else the smallest of int32 / float64 that holds them.
    """
    pairs = [(g, 1) if isinstance(g, BaseGeometry) else tuple(g) for g in geoms_values]
    for item in pairs:
        if len(item) != 2 or not isinstance(item[0], BaseGeometry):
            raise GeometryError(f"rasterize_polygons expects geometries or (geometry, value) pairs, got {item!r:.80}")
    if dtype is None:
        values = np.array([v for _, v in pairs] + [fill])
        if values.dtype.kind in "iub" and values.min() >= 0 and values.max() <= 255:
            dtype = np.uint8
        elif values.dtype.kind in "iub" and values.min() >= -(2**31) and values.max() < 2**31:
            dtype = np.int32
        else:
            dtype = np.float64
    shapes = [(g, v) for g, v in pairs if not g.is_empty]
    out_shape = tuple(int(s) for s in out_shape)
    if not shapes:
        return np.full(out_shape, fill, dtype=dtype)
    return rasterio.features.rasterize(
        shapes,
        out_shape=out_shape,
        fill=fill,
        transform=Affine.identity() if transform is None else transform,
        all_touched=all_touched,
        dtype=dtype,
    )
