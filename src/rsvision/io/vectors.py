"""A vector layer in memory (shapely geometries, attribute columns, CRS) and its reader.

GeoPackage and GeoJSON are read with pyogrio, GeoParquet with pyarrow (pyogrio's GDAL wheel has no Parquet
driver), mirroring :func:`rsvision.io.write_vectors`. A geopandas ``GeoDataFrame`` converts both ways when geopandas
is installed; rsvision itself does not need it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pyogrio
import pyogrio.raw
import pyproj
import shapely
from rasterio.crs import CRS

from rsvision.errors import InputNotFoundError, RsvisionError
from rsvision.io.writers import vector_driver, write_vectors


class VectorReadError(RsvisionError):
    """A vector file exists but cannot be read as a layer of geometries."""


@dataclass
class VectorLayer:
    """Geometries with one value per geometry in each column, in ``crs`` (None: pixel coordinates)."""

    geometries: np.ndarray  # (N,) object array of shapely geometries
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    crs: CRS | None = None

    def __post_init__(self) -> None:
        self.geometries = np.asarray(list(self.geometries), dtype=object)
        self.columns = {k: np.asarray(v) for k, v in self.columns.items()}
        for name, values in self.columns.items():
            if len(values) != len(self.geometries):
                raise ValueError(f"column {name!r} has {len(values)} values for {len(self.geometries)} geometries")
        self.crs = as_crs(self.crs)

    def __len__(self) -> int:
        return len(self.geometries)

    def write(self, path: str | os.PathLike, layer: str | None = None) -> Path:
        """Written as GeoPackage, GeoJSON or GeoParquet by the suffix of ``path``, atomically."""
        return write_vectors(path, self.geometries, self.columns, crs=self.crs, layer=layer)

    def to_geopandas(self) -> Any:
        """A ``geopandas.GeoDataFrame`` (geopandas must be installed)."""
        import geopandas  # deferred: an optional dependency, for notebooks

        crs = self.crs.to_wkt() if self.crs is not None else None
        return geopandas.GeoDataFrame(dict(self.columns), geometry=list(self.geometries), crs=crs)

    @classmethod
    def from_geopandas(cls, frame: Any) -> VectorLayer:
        """A layer holding a ``GeoDataFrame``'s geometries, other columns and CRS."""
        name = frame.geometry.name
        columns = {str(c): frame[c].to_numpy() for c in frame.columns if c != name}
        crs = frame.crs.to_wkt() if frame.crs is not None else None
        return cls(np.asarray(frame.geometry.to_numpy(), dtype=object), columns, crs)


def as_crs(crs: Any) -> CRS | None:
    """``crs`` (rasterio or pyproj CRS, WKT, ``EPSG:n``) as a rasterio CRS; None stays None."""
    if crs is None or isinstance(crs, CRS):
        return crs
    if isinstance(crs, pyproj.CRS):
        return CRS.from_wkt(crs.to_wkt())
    return CRS.from_user_input(crs)


def as_layer(value: Any) -> VectorLayer:
    """A :class:`VectorLayer`, a GeoDataFrame (duck-typed: ``geometry`` and ``crs``) or a vector file's path."""
    if isinstance(value, VectorLayer):
        return value
    if isinstance(value, (str, os.PathLike)):
        return read_vectors(value)
    if hasattr(value, "geometry") and hasattr(value, "crs"):
        return VectorLayer.from_geopandas(value)
    raise TypeError(f"expected a VectorLayer, a GeoDataFrame or a vector file path, got {type(value).__name__}")


def read_vectors(path: str | os.PathLike, layer: str | int | None = None) -> VectorLayer:
    """The geometries, attribute columns and CRS of a GeoPackage, GeoJSON or GeoParquet file."""
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"no such file: {path}")
    driver = vector_driver(path)
    try:
        if driver == "Parquet":
            return _read_geoparquet(path)
        meta, _, wkb, values = pyogrio.raw.read(str(path), layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError, ValueError) as err:
        raise VectorReadError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
    geoms = shapely.from_wkb(wkb) if wkb is not None else np.zeros(0, dtype=object)
    columns = {str(name): np.asarray(v) for name, v in zip(meta["fields"], values)}
    return VectorLayer(geoms, columns, meta.get("crs"))


def _read_geoparquet(path: Path) -> VectorLayer:
    table = pq.read_table(path)
    geo = json.loads((table.schema.metadata or {}).get(b"geo", b"{}"))
    primary = geo.get("primary_column", "geometry")
    if primary not in table.column_names:
        raise VectorReadError(f"cannot read {path}: no geometry column {primary!r} (not GeoParquet?)")
    column: Mapping = geo.get("columns", {}).get(primary, {})
    # GeoParquet: an absent crs means OGC:CRS84; an explicit null means none (our pixel-space layers)
    crs_json = column.get("crs", "OGC:CRS84") if "crs" in column else "OGC:CRS84"
    crs = pyproj.CRS.from_json_dict(crs_json) if isinstance(crs_json, dict) else crs_json
    geoms = shapely.from_wkb(np.asarray(table.column(primary).to_pylist(), dtype=object))
    columns = {
        name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names if name != primary
    }
    return VectorLayer(geoms, columns, crs)
