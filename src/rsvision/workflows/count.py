"""Counting objects per class in zones (polygons: plots, parcels, stands) or in a square grid, with densities per
hectare: the field's tree-counting task.

An object counts in a zone when the centre of its box lies in the zone or on its boundary, so an object counts
once however a zone's edge cuts it, and in each of several overlapping zones that hold its centre. Grid cells are
half-open (a centre on a shared edge counts in the cell east or north of it), square, ``grid`` metres on a
side, on lines at whole multiples of the cell size in the CRS (grids of neighbouring scenes line up), cut to the
scene's extent: a cut cell's density is over its area inside the scene. A grid needs a projected CRS in metres
(or feet: its unit is converted); a geographic scene is refused with a way out.

Each row has the zone's own columns (grid cells: ``row``, ``col``), ``area`` (square metres, geodesic on a
geographic CRS; pixels without a georeference), ``count`` and ``density_ha`` over all classes, and per class
``count_<class>`` and ``density_ha_<class>`` (densities are NaN without a georeference).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
from rasterio.crs import CRS

from rsvision.core.files import check_writable
from rsvision.errors import RsvisionError
from rsvision.io import Scene, open_scene
from rsvision.io.vectors import VectorLayer, as_layer
from rsvision.io.writers import vector_driver
from rsvision.tasks.base import BoxPredictor
from rsvision.workflows.detect import DetectResult, detect_scene
from rsvision.workflows.polygons import polygon_areas

MAX_CELLS = 4_000_000  # a grid finer than this over the scene is surely a mistake in the cell size
M2_PER_HA = 10_000.0


@dataclass
class CountResult:
    """What :func:`count_scene` counted and wrote."""

    output: Path | None
    layer: VectorLayer  # one row per zone or cell
    detections: DetectResult
    counted: int  # objects whose centre lies in some zone or cell
    summary: str  # the detection run's line


def count_objects(
    detections: DetectResult | VectorLayer | Any,
    *,
    zones: VectorLayer | Any | str | os.PathLike | None = None,
    grid: float | None = None,
    extent: tuple[float, float, float, float] | None = None,
    classes: Sequence[str] | None = None,
) -> VectorLayer:
    """Objects per class in each of ``zones`` (a layer, GeoDataFrame or vector file; reprojected to the
    detections' CRS) or in each cell of a ``grid`` of square cells that many metres on a side, covering
    ``extent`` (left, bottom, right, top in the detections' CRS; their bounds by default). ``detections``: a
    :class:`DetectResult`, or boxes as a layer, GeoDataFrame or vector file with a ``class`` (or ``class_id``)
    column. ``classes``: the classes to give columns, in order (by default the detector's, else those found)."""
    boxes, crs = _boxes_of(detections)
    names, labels = _labels(boxes, detections, classes)
    centres = shapely.centroid(boxes.geometries) if len(boxes) else np.zeros(0, dtype=object)
    if (zones is None) == (grid is None):
        raise RsvisionError("count objects in zones or in a grid: give one of them")
    if zones is not None:
        cells = _zones_in(as_layer(zones), crs)
        hits = _in_zones(centres, cells.geometries)
    else:
        bounds = extent if extent is not None else _bounds(boxes)
        cells = grid_cells(bounds, grid, crs)
        hits = _in_cells(centres, cells, bounds, grid, crs)
    return _tally(cells, crs, names, labels, hits)


def count_scene(
    scene: Scene | str | os.PathLike,
    predictor: BoxPredictor,
    output: str | os.PathLike | None = None,
    *,
    zones: VectorLayer | Any | str | os.PathLike | None = None,
    grid: float | None = None,
    score: float | None = None,
    tile: int | None = None,
    overlap: int = 64,
    batch: int = 4,
    threads: int | None = None,
    quiet: bool = False,
) -> CountResult:
    """Detect objects in ``scene`` with ``predictor`` and count them per class in ``zones`` or a ``grid`` (metres)
    over the scene, written to ``output`` (.gpkg, .geojson, .parquet). Inputs and outputs are checked before the
    detector runs."""
    scene = open_scene(scene) if isinstance(scene, (str, os.PathLike)) else scene
    zones = check_count_inputs(scene, output, zones, grid)
    found = detect_scene(scene, predictor, score=score, tile=tile, overlap=overlap, batch=batch, threads=threads,
                         quiet=quiet)  # fmt: skip
    counts = count_objects(found, zones=zones, grid=grid, extent=tuple(scene.bounds))
    written = counts.write(output) if output is not None else None
    return CountResult(written, counts, found, int(counts.columns["count"].sum()), found.summary)


def check_count_inputs(
    scene: Scene, output: str | os.PathLike | None, zones: VectorLayer | Any | None, grid: float | None
) -> VectorLayer | None:
    """The zones on the scene's CRS (None for a grid), after checking the output can be written and the zones
    read (or the grid laid on the scene's CRS): a mistake is refused before the detector runs."""
    if output is not None:
        vector_driver(check_writable(output))
    if (zones is None) == (grid is None):
        raise RsvisionError("count objects in zones or in a grid: give one of them")
    if zones is None:
        _cell_size(grid, scene.crs)
        return None
    return _zones_in(as_layer(zones), scene.crs)


def grid_cells(bounds: Sequence[float], size_m: float, crs: CRS | None) -> VectorLayer:
    """Square cells ``size_m`` metres on a side on lines at whole multiples of the size, covering ``bounds``
    (left, bottom, right, top) and cut to it, north row first; columns ``row`` and ``col``."""
    size = _cell_size(size_m, crs)
    x0, y0, nx, ny = _grid_frame(bounds, size)
    if nx * ny > MAX_CELLS:
        raise RsvisionError(f"--grid {size_m:g} makes {nx * ny:,} cells over the scene (at most {MAX_CELLS:,})")
    rows, cols = np.divmod(np.arange(nx * ny), nx)
    left, bottom = x0 + cols * size, y0 + (ny - 1 - rows) * size
    cells = shapely.box(left, bottom, left + size, bottom + size)
    cut = shapely.intersection(cells, shapely.box(*bounds))
    return VectorLayer(cut, {"row": rows.astype(np.int64), "col": cols.astype(np.int64)}, crs)


def _grid_frame(bounds: Sequence[float], size: float) -> tuple[float, float, int, int]:
    """The grid's south-west corner and its columns and rows over ``bounds``."""
    left, bottom, right, top = (float(v) for v in bounds)
    x0, y0 = math.floor(left / size) * size, math.floor(bottom / size) * size
    return x0, y0, max(1, math.ceil((right - x0) / size)), max(1, math.ceil((top - y0) / size))


def _cell_size(size_m: float | None, crs: CRS | None) -> float:
    """The cell size in the CRS's units, after refusing a grid it cannot hold."""
    if size_m is None or not size_m > 0:
        raise RsvisionError(f"--grid must be a positive cell size in metres, got {size_m}")
    if crs is None:
        raise RsvisionError("--grid is in metres but the scene has no georeference: count in --zones (pixels)")
    if not crs.is_projected:
        raise RsvisionError(
            f"--grid is in metres but the scene's CRS ({crs.to_string()}) is geographic: give --zones, or "
            "reproject the scene to a projected CRS (UTM, say, with gdalwarp -t_srs)"
        )
    return float(size_m) / crs.linear_units_factor[1]


def _boxes_of(detections: Any) -> tuple[VectorLayer, CRS | None]:
    layer = detections.layer if isinstance(detections, DetectResult) else as_layer(detections)
    return layer, layer.crs


def _labels(boxes: VectorLayer, detections: Any, classes: Sequence[str] | None) -> tuple[list[str], np.ndarray]:
    """The class names for the columns and each box's index among them."""
    if "class" in boxes.columns:
        found = boxes.columns["class"].astype(str)
    elif "class_id" in boxes.columns:
        found = np.array([f"class_{i}" for i in boxes.columns["class_id"].tolist()], dtype=str)
    else:
        found = np.full(len(boxes), "object")
    if classes is None:
        known = detections.class_names if isinstance(detections, DetectResult) else []
        classes = list(known) + sorted(set(found.tolist()) - set(known))
    names = [str(c) for c in classes]
    index = {name: i for i, name in enumerate(names)}
    labels = np.array([index.get(n, -1) for n in found.tolist()], dtype=np.int64)  # -1: a class not counted
    return names, labels


def _zones_in(zones: VectorLayer, crs: CRS | None) -> VectorLayer:
    """The zones in ``crs`` (reprojected when theirs differs)."""
    if not len(zones):
        raise RsvisionError("the zones file holds no zones")
    if zones.crs is None or crs is None:
        if (zones.crs is None) != (crs is None):
            has = "the zones have a CRS but the scene has none" if crs is None else "the zones have no CRS"
            raise RsvisionError(f"cannot place the zones on the scene: {has}")
        return zones
    if zones.crs == crs:
        return zones
    transformer = pyproj.Transformer.from_crs(zones.crs.to_wkt(), crs.to_wkt(), always_xy=True)
    moved = shapely.transform(zones.geometries, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))
    return VectorLayer(moved, zones.columns, crs)


def _in_zones(centres: np.ndarray, zones: np.ndarray) -> np.ndarray:
    """``(2, M)`` pairs (object, zone) of each centre with each zone holding it, boundary included."""
    if not len(centres):
        return np.zeros((2, 0), np.int64)
    return shapely.STRtree(zones).query(centres, predicate="intersects")


def _in_cells(centres: np.ndarray, cells: VectorLayer, bounds, size_m: float, crs) -> np.ndarray:
    """``(2, M)`` pairs (object, cell) by the grid's arithmetic: each centre in one half-open cell."""
    size = _cell_size(size_m, crs)
    x0, y0, nx, ny = _grid_frame(bounds, size)
    x, y = shapely.get_x(centres), shapely.get_y(centres)
    col, row_up = np.floor((x - x0) / size), np.floor((y - y0) / size)
    inside = (col >= 0) & (col < nx) & (row_up >= 0) & (row_up < ny)
    cell = ((ny - 1 - row_up) * nx + col)[inside].astype(np.int64)
    return np.stack([np.flatnonzero(inside), cell])


def _bounds(boxes: VectorLayer) -> tuple[float, float, float, float]:
    if not len(boxes):
        raise RsvisionError("no objects, so no extent for the grid: give the extent")
    return tuple(float(v) for v in shapely.total_bounds(boxes.geometries))


def _tally(cells: VectorLayer, crs, names: list[str], labels: np.ndarray, hits: np.ndarray) -> VectorLayer:
    """Counts and densities per cell and class, beside the cells' own columns."""
    counts = np.zeros((len(cells), len(names)), np.int64)
    obj, cell = hits
    counted = labels[obj] >= 0
    np.add.at(counts, (cell[counted], labels[obj][counted]), 1)
    area = polygon_areas(cells.geometries, crs)
    total = counts.sum(axis=1)
    columns = {_free(k, names): v for k, v in cells.columns.items()}
    columns |= {"area": area, "count": total, "density_ha": _per_hectare(total, area, crs)}
    for i, name in enumerate(names):
        columns[f"count_{name}"] = counts[:, i]
        columns[f"density_ha_{name}"] = _per_hectare(counts[:, i], area, crs)
    return VectorLayer(cells.geometries, columns, crs)


def _per_hectare(counts: np.ndarray, area: np.ndarray, crs) -> np.ndarray:
    """Objects per hectare; NaN without a georeference (areas in pixels) or for a zone without area."""
    if crs is None:
        return np.full(len(counts), np.nan)
    hectares = area / M2_PER_HA
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(hectares > 0, counts / hectares, np.nan)


def _free(name: str, classes: list[str]) -> str:
    """A zone column's name, prefixed ``zone_`` where it would clash with a column of counts."""
    ours = {"area", "count", "density_ha"} | {f"{p}_{c}" for c in classes for p in ("count", "density_ha")}
    return f"zone_{name}" if name in ours else name
