"""Pixel <-> map coordinates through an affine transform (rasterio's ``Affine``).

Pixel coordinates are continuous: x = column, y = row, and ``transform * (col, row)`` is the
top-left corner of pixel ``(row, col)``, as in rasterio; the centre of that pixel is at
``(col + 0.5, row + 0.5)``. ``transform=None`` is the identity: map coordinates are pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from rasterio.transform import Affine
from shapely.geometry.base import BaseGeometry

from rsvision.errors import GeometryError
from rsvision.geometry.boxes import _is_torch, poly_to_rbox, rbox_to_poly


def _affine(transform: Affine | None) -> Affine:
    if transform is None:
        return Affine.identity()
    if not isinstance(transform, Affine):
        raise GeometryError(f"transform must be an affine.Affine (rasterio's), got {type(transform).__name__}")
    return transform


def _apply(t: Affine, x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f


def pixel_to_map(transform: Affine | None, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Continuous pixel ``(x=col, y=row)`` -> map ``(x, y)``; scalars or arrays."""
    return _apply(_affine(transform), x, y)


def map_to_pixel(transform: Affine | None, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Map ``(x, y)`` -> continuous pixel ``(x=col, y=row)``; scalars or arrays (floor for the pixel index)."""
    t = _affine(transform)
    if t.is_degenerate:
        raise GeometryError(f"transform cannot be inverted (determinant 0): {tuple(t)[:6]}")
    return _apply(~t, x, y)


def _corners(boxes) -> np.ndarray:
    """``(N, 4 | 5 | 8)`` xyxy / rotated / 8-corner boxes -> ``(N, 4, 2)`` pixel corners."""
    b = boxes.detach().cpu().double().numpy() if _is_torch(boxes) else np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] not in (4, 5, 8):
        raise GeometryError(f"boxes must be (N, 4) xyxy, (N, 5) rotated or (N, 8) corners, got shape {b.shape}")
    if b.shape[1] == 4:
        x1, y1, x2, y2 = b.T
        b = np.stack([x1, y1, x2, y1, x2, y2, x1, y2], axis=1)
    elif b.shape[1] == 5:
        b = rbox_to_poly(b)
    return b.reshape(-1, 4, 2)


def boxes_to_polygons(boxes, transform: Affine | None = None) -> list[shapely.Polygon]:
    """Boxes (xyxy ``(N, 4)``, rotated ``(N, 5)`` or corners ``(N, 8)``) -> shapely polygons in map coordinates."""
    c = _corners(boxes)
    mx, my = pixel_to_map(transform, c[..., 0], c[..., 1])
    return list(shapely.polygons(np.stack([mx, my], axis=-1)))


def polygons_to_pixel(polygons: Sequence[BaseGeometry], transform: Affine | None = None) -> list[BaseGeometry]:
    """Geometries in map coordinates -> the same geometries in continuous pixel coordinates."""
    t = _affine(transform)
    if t.is_degenerate:
        raise GeometryError(f"transform cannot be inverted (determinant 0): {tuple(t)[:6]}")
    inv = ~t
    m = np.array([[inv.a, inv.b], [inv.d, inv.e]])
    shift = np.array([inv.c, inv.f])
    geoms = np.asarray(polygons, dtype=object)
    return list(shapely.transform(geoms, lambda xy: xy @ m.T + shift))


def polygons_to_rboxes(polygons: Sequence[BaseGeometry], transform: Affine | None = None) -> np.ndarray:
    """Geometries in map coordinates -> ``(N, 5)`` le90 rotated boxes (minimum-area rectangles) in pixels."""
    pix = np.asarray(polygons_to_pixel(polygons, transform), dtype=object)
    if len(pix) == 0:
        return np.zeros((0, 5))
    if shapely.is_empty(pix).any():
        raise GeometryError("cannot make a rotated box from an empty geometry")
    rect = shapely.minimum_rotated_rectangle(pix)  # GEOS rotating calipers
    corners = np.empty((len(pix), 8))
    full = shapely.get_type_id(rect) == 3  # Polygon; lines and points for degenerate inputs
    ring = shapely.get_coordinates(shapely.get_exterior_ring(rect[full])).reshape(-1, 5, 2)  # closed rings
    corners[full] = ring[:, :4].reshape(-1, 8)
    for i in np.flatnonzero(~full):
        xy = shapely.get_coordinates(rect[i])
        corners[i] = np.concatenate([xy, np.repeat(xy[-1:], 4 - len(xy), axis=0)]).reshape(8)
    return poly_to_rbox(corners)


def polygons_to_xyxy(polygons: Sequence[BaseGeometry], transform: Affine | None = None) -> np.ndarray:
    """Geometries in map coordinates -> ``(N, 4)`` enclosing ``xyxy`` boxes in pixels."""
    pix = np.asarray(polygons_to_pixel(polygons, transform), dtype=object)
    return shapely.bounds(pix).reshape(-1, 4)
