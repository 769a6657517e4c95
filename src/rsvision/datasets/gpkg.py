"""Boxes to GeoPackage (or GeoJSON / GeoParquet): one polygon per box with class, label and score columns.

Coordinates are pixels unless ``transform`` (an affine pixel -> map transform, e.g. a scene's) is given;
``crs`` is written as given. Writing goes through :func:`rsvision.io.write_vectors`, which writes to a
temporary file beside the output and renames it at the end.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import shapely
from rasterio.transform import Affine

from rsvision.errors import AnnotationError
from rsvision.geometry.detections import Detections
from rsvision.io import write_vectors


def write_boxes(
    path: str | os.PathLike,
    detections: Detections | Mapping[str, Detections],
    classes: Sequence[str],
    crs=None,
    transform=None,
    layer: str | None = None,
) -> Path:
    """Write detections (one image, or ``{image id: Detections}`` adding an ``image`` column) as polygons."""
    items = {"": detections} if isinstance(detections, Detections) else dict(detections)
    polys, labels, scores, images = [], [], [], []
    for key, dets in items.items():
        polys.append(dets.as_polygons())
        labels.append(dets.labels)
        scores.append(dets.scores)
        images += [key] * len(dets)
    corners = np.concatenate(polys) if polys else np.zeros((0, 8))
    labels_arr = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    bad = (labels_arr < 0) | (labels_arr >= len(classes))
    if bad.any():
        raise AnnotationError(f"class index {int(labels_arr[bad][0])} is outside the {len(classes)} classes")
    if transform is not None:
        t = transform if isinstance(transform, Affine) else Affine(*tuple(transform)[:6])
        x, y = corners[:, 0::2], corners[:, 1::2]
        corners = np.empty_like(corners)
        corners[:, 0::2] = t.a * x + t.b * y + t.c
        corners[:, 1::2] = t.d * x + t.e * y + t.f
    rings = corners.reshape(-1, 4, 2)
    geoms = shapely.polygons(np.concatenate([rings, rings[:, :1]], axis=1)) if len(rings) else []
    columns: dict = {
        "class": np.array([classes[i] for i in labels_arr], dtype=object),
        "label": labels_arr.astype(np.int64),
        "score": (np.concatenate(scores) if scores else np.zeros(0)).astype(np.float64),
    }
    if not isinstance(detections, Detections):
        columns = {"image": np.array(images, dtype=object), **columns}
    return write_vectors(path, list(geoms), columns, crs=crs, layer=layer)
