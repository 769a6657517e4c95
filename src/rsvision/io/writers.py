"""Writers: Cloud-Optimised GeoTIFF rasters and GeoPackage / GeoJSON / GeoParquet vectors.

Every writer writes beside the output under a temporary name and renames at the end, so a killed job never
leaves a half-written file under the final name and an existing output survives until the new one is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio.raw
import pyproj
import rasterio
import rasterio.shutil
import shapely
from rasterio._err import CPLE_BaseError
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.windows import Window

from rsvision.core.files import (
    atomic_output,
    check_writable,
    remove_partial,
    temp_path_for,
)
from rsvision.errors import OutputError
from rsvision.io import staging
from rsvision.io.scene import Grid

# What a failed GDAL call raises through rasterio: its own errors, or GDAL's error classes (a copy that reads a block
# which a full disk kept from being written, say)
GDAL_ERRORS = (RasterioError, CPLE_BaseError)

# The staging file's block rows, all outputs of a writer together, hold at most this many bytes: strips of any
# height leave one part-filled block row in GDAL's cache until the next strip fills it, so on a wide output the
# blocks are made shorter (down to 64 rows) rather than the cache larger (a 512-row block row of a 65,536-pixel-wide
# 6-class float map is 800 MB). Taller blocks write faster (0.6 ms less per 512-pixel tile on a 65,536-pixel-wide
# class map with 336 rows than with 64); the COG step re-tiles anyway.
STAGING_ROW_BYTES = 32 * 2**20
MIN_STAGING_ROWS = 64


class RasterWriter:
    """Write a raster window by window, then publish it as a Cloud-Optimised GeoTIFF.

    Windows go into a tiled GeoTIFF under a temporary name; :meth:`close` converts it to a COG (tiled, compressed,
    with overviews, nodata and georeference kept) and renames it onto ``path``. On error nothing reaches ``path``.
    A resumable job names its own ``staging`` file, calls :meth:`flush` at its checkpoints and, after a crash,
    continues with ``open(resume=True)``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        grid: Grid,
        count: int,
        dtype: str,
        nodata: float | None = None,
        *,
        blocksize: int = 512,
        compress: str = "deflate",
        overview_resampling: str = "nearest",
        descriptions: Sequence[str] | None = None,
        colormap: Mapping[int, tuple[int, ...]] | None = None,
        tags: Mapping[str, str] | None = None,
        staging: str | os.PathLike | None = None,
    ):
        self.path = check_writable(path)
        self.grid, self.count, self.dtype, self.nodata = grid, count, np.dtype(dtype).name, nodata
        self.compress, self.overview_resampling = compress, overview_resampling
        self.descriptions, self.colormap, self.tags = descriptions, colormap, dict(tags or {})
        self.blocksize = blocksize
        self._tmp = Path(staging) if staging is not None else temp_path_for(self.path, "stage")
        self._ds = self._ovr = None
        self._start = 0  # first row of the part being written (io.staging: a checkpoint starts a new part)
        self.rows_written = 0  # rows [0, rows_written) are written
        self._start_at_first_write = False  # a block of a larger job: its part starts at the first row written

    def _profile(self, width: int, height: int) -> dict:
        profile = dict(
            driver="GTiff",
            width=width,
            height=height,
            count=self.count,
            dtype=self.dtype,
            crs=self.grid.crs,
            transform=self.grid.transform,
            nodata=self.nodata,
            compress="zstd",
            zstd_level=1,
            BIGTIFF="IF_SAFER",
            NUM_THREADS=gdal_threads(),  # temporary: compress fast (level 9 is 7x slower)
            SPARSE_OK=True,  # a part holds some rows of the grid: blocks never written stay off the disk
        )
        if width >= 16 and height >= 16:
            profile.update(
                tiled=True, blockxsize=self._block(width), blockysize=min(self._block(height), self._staging_block_rows)
            )
        return profile

    def _row_bytes(self) -> int:
        """Bytes of one row of blocks, one pixel high, across the staging file and its first overview."""
        level1 = self._level1_shape()
        widths = [self.grid.width] + ([level1[0]] if level1 else [])
        block_w = self._block(self.grid.width)
        return sum(-(-w // block_w) * block_w for w in widths) * self.count * np.dtype(self.dtype).itemsize

    @property
    def _staging_block_rows(self) -> int:
        """The staging files' block height: the blocksize, or less on a wide output (a multiple of 16)."""
        fit = 16 * (STAGING_ROW_BYTES // self._row_bytes() // 16)
        return max(MIN_STAGING_ROWS, min(self.blocksize, fit))

    def block_cache_bytes(self) -> int:
        """GDAL block cache the staging files need so no block is written out part-filled and read back: two
        block rows of each (a strip written in may end inside one block row and begin the next)."""
        return 2 * self._staging_block_rows * self._row_bytes()

    def _cog_block(self) -> int:
        side = min(self.grid.width, self.grid.height)
        return self._block(side) if side >= 16 else 16

    def _overview_factors(self) -> list[int]:
        """The overview levels the COG gets: halving until a level fits in one block (as GDAL's COG driver does)."""
        factors, w, h = [], self.grid.width, self.grid.height
        while w > self._cog_block() or h > self._cog_block():
            w, h = -(-w // 2), -(-h // 2)
            factors.append(2 ** (len(factors) + 1))
        return factors

    def _level1_shape(self) -> tuple[int, int] | None:
        """(width, height) of the first overview when it is built as windows are written: nearest resampling
        only, where every overview pixel copies one written pixel."""
        if self.overview_resampling.lower() != "nearest" or not self._overview_factors():
            return None
        return -(-self.grid.width // 2), -(-self.grid.height // 2)

    def _codec_options(self) -> dict:
        """Level 1: on a class map DEFLATE's default level costs 3x the time for about 4% smaller files. The
        predictor helps continuous imagery, not categories (a colour-mapped class map)."""
        codec = self.compress.lower()
        options: dict = {"level": 1} if codec in ("deflate", "zstd") else {}
        if codec in ("deflate", "zstd", "lzw") and not self.colormap:
            options["predictor"] = "YES"
        return options

    def _block(self, n: int) -> int:
        return max(16, min(self.blocksize, 16 * (n // 16)))

    def open(self, resume: bool = False) -> RasterWriter:
        """Create the staging file, or with ``resume=True`` take up what a stopped job left (same grid; then
        :meth:`resume_at` says from which row it writes again)."""
        if resume:
            try:  # what a kill left must at least open (the parts after it were closed before the checkpoint)
                with rasterio.open(self._tmp):
                    pass
            except (*GDAL_ERRORS, TypeError) as err:  # TypeError: rasterio's word for a file of no raster format
                raise OutputError(f"cannot write {self.path}: staging file {self._tmp} unusable ({err})") from None
            return self
        staging.remove_all(self._tmp)
        self._start = self.rows_written = 0
        self._open_part()
        return self

    @property
    def staging_file(self) -> Path:
        """The staging file (its parts are named after it: :mod:`rsvision.io.staging`)."""
        return self._tmp

    def open_block(self) -> RasterWriter:
        """Write one block of rows of a larger job (:mod:`rsvision.engine.blocks`): one part, starting at the first
        row written, which the job merges with the other blocks' parts and publishes once."""
        staging.remove_all(self._tmp)
        self._start_at_first_write = True
        return self

    def _open_part(self) -> None:
        """Create the part starting at row ``_start`` (and its first overview)."""
        level1 = self._level1_shape()
        try:
            self._ds = rasterio.open(
                staging.part_path(self._tmp, self._start), "w", **self._profile(self.grid.width, self.grid.height)
            )
            self._write_metadata(self._ds)  # before any pixels: GTiff fixes the photometric tag on first write
            if level1:
                self._ovr = rasterio.open(
                    staging.part_path(self._tmp, self._start, True), "w", **self._profile(*level1)
                )
        except GDAL_ERRORS as err:
            raise OutputError(f"cannot write {self.path}: {err}") from None

    def resume_at(self, rows: int) -> None:
        """Continue a stopped job whose rows ``[0, rows)`` were flushed: parts from ``rows`` on are dropped and the
        next window written starts a new part there."""
        self.suspend()
        staging.drop_parts(self._tmp, rows)
        self._start = self.rows_written = rows

    def _write_metadata(self, ds) -> None:
        for i, d in enumerate(self.descriptions or [], start=1):
            ds.set_band_description(i, d)
        if self.colormap:
            ds.write_colormap(1, dict(self.colormap))
        if self.tags:
            ds.update_tags(**self.tags)

    def flush(self) -> None:
        """Put every window written so far on disk: the current part is closed, and the next window written goes
        to a new part (:mod:`rsvision.io.staging`)."""
        self.suspend()
        self._start = self.rows_written

    def suspend(self) -> None:
        """Close the staging file and keep it, so that a later ``open(resume=True)`` continues it."""
        open_files = [ds for ds in (self._ds, self._ovr) if ds is not None]
        self._ds = self._ovr = None
        try:
            for ds in open_files:
                ds.close()
        except GDAL_ERRORS as err:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {str(err).splitlines()[0]}") from None

    def write(self, array: np.ndarray, window: Window | None = None) -> None:
        """Write (C, h, w) or (h, w) pixels at ``window`` (the whole grid by default). After a :meth:`flush`,
        windows start at or below the rows flushed."""
        window = window or Window(0, 0, self.grid.width, self.grid.height)
        if self._start_at_first_write:
            self._start = self.rows_written = int(window.row_off)
            self._start_at_first_write = False
        if int(window.row_off) < self._start:
            raise OutputError(f"cannot write {self.path}: row {int(window.row_off)} is above the rows flushed")
        if self._ds is None:
            self._open_part()
        data = np.asarray(array)
        if data.ndim == 2:
            data = data[None]
        self.rows_written = max(self.rows_written, int(window.row_off + window.height))
        try:
            self._ds.write(data.astype(self.dtype, copy=False), window=window)
            if self._ovr is not None:
                self._write_level1(data, window)
        except GDAL_ERRORS as err:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {str(err).splitlines()[0]}") from None

    def _write_level1(self, data: np.ndarray, window: Window) -> None:
        """Copy the window's share of the first overview: overview pixel ``i`` is written pixel ``2i + 1`` (GDAL's
        nearest), so the COG step reads the overviews instead of computing them, and the engine's strips feed
        them as they are written."""
        rows = _nearest_half(self.grid.height, int(window.row_off), int(window.height))
        cols = _nearest_half(self.grid.width, int(window.col_off), int(window.width))
        if rows is None or cols is None:
            return
        (i0, src_rows), (j0, src_cols) = rows, cols
        part = data[:, src_rows][:, :, src_cols].astype(self.dtype, copy=False)
        self._ovr.write(part, window=Window(j0, i0, part.shape[2], part.shape[1]))

    def close(self) -> Path:
        """Finish: convert to a COG and rename it onto the output path."""
        if self._ds is None and not staging.part_starts(self._tmp):
            self._open_part()
        final_tmp = temp_path_for(self.path)
        try:
            self.suspend()
            source = self._stitched()
            rasterio.shutil.copy(
                source,
                final_tmp,
                driver="COG",
                compress=self.compress.upper(),
                blocksize=self._cog_block(),
                overview_resampling=self.overview_resampling.upper(),
                BIGTIFF="IF_SAFER",
                NUM_THREADS=gdal_threads(),
                **self._codec_options(),
            )
            os.replace(final_tmp, self.path)
        except (*GDAL_ERRORS, OSError) as err:
            remove_partial(final_tmp)
            self.abort()
            raise OutputError(f"cannot write {self.path}: {str(err).splitlines()[0]}") from None
        staging.remove_all(self._tmp)
        return self.path

    def _stitched(self) -> Path:
        """The staged raster with its first overview as ``<file>.ovr`` and the smaller levels built from it: the
        staging file itself when it is one part, else a VRT of the parts (the first overview copied from theirs)."""
        factors = self._overview_factors()
        level1 = self._level1_shape()
        source, ovr = self._tmp, staging.part_path(self._tmp, 0, level1=True)
        if len(staging.part_starts(self._tmp)) > 1:
            source = staging.stitch(self._tmp, self.grid.width, self.grid.height, self.count, self.dtype)
            ovr = source.with_name(source.name + ".ovr")
            if level1:
                parts = staging.stitch(self._tmp, *level1, self.count, self.dtype, level1=True)
                profile = {k: v for k, v in self._profile(*level1).items() if k not in ("crs", "transform", "nodata")}
                profile.pop("driver")
                rasterio.shutil.copy(parts, ovr, driver="GTiff", **profile)
        if ovr.exists() and len(factors) > 1:  # the smaller levels, from the first: a quarter the work
            with rasterio.open(ovr, "r+") as levels:
                levels.build_overviews([f // 2 for f in factors[1:]], Resampling.nearest)
        return source

    def abort(self) -> None:
        """Drop everything written so far; the output path is left as it was."""
        for ds in (self._ds, self._ovr):
            if ds is not None:
                with contextlib.suppress(Exception):
                    ds.close()
        self._ds = self._ovr = None
        staging.remove_all(self._tmp)

    def __enter__(self) -> RasterWriter:
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def gdal_threads() -> str:
    """The threads GDAL compresses with: ``GDAL_NUM_THREADS`` when set (a Dask worker of one thread sets 1), else all
    CPUs."""
    return os.environ.get("GDAL_NUM_THREADS", "ALL_CPUS")


def _nearest_half(full: int, start: int, length: int) -> tuple[int, slice | np.ndarray] | None:
    """For a span ``[start, start + length)`` of an axis of ``full`` pixels: the first index of the half-size level's
    pixels that copy from it, and their source offsets within the span (pixel ``i`` copies ``min(2i + 1, full - 1)``),
    as a slice (a view, no copy) unless the last pixel of an odd axis is among them."""
    level = np.arange(-(-full // 2))
    source = np.minimum(2 * level + 1, full - 1)
    inside = np.flatnonzero((source >= start) & (source < start + length))
    if len(inside) == 0:
        return None
    offsets = source[inside] - start
    if len(offsets) == 1 or (np.diff(offsets) == 2).all():
        return int(inside[0]), slice(int(offsets[0]), int(offsets[-1]) + 1, 2)
    return int(inside[0]), offsets


def write_cog(
    path: str | os.PathLike,
    array: np.ndarray,
    grid: Grid,
    nodata: float | None = None,
    **options,
) -> Path:
    """Write a whole (C, H, W) or (H, W) array as a Cloud-Optimised GeoTIFF. Masked pixels become ``nodata``."""
    data = array
    if np.ma.isMaskedArray(array):
        if nodata is None and np.ma.getmask(array) is not np.ma.nomask and array.mask.any():
            raise OutputError(f"cannot write {path}: the array has masked pixels but no nodata value was given")
        data = array.filled(nodata) if nodata is not None else array.data
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    writer = RasterWriter(path, grid, data.shape[0], data.dtype.name, nodata, **options)
    with writer:
        writer.write(data)
    return writer.path


# Vectors ---------------------------------------------------------------------------------------------------------

_DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".parquet": "Parquet", ".geoparquet": "Parquet"}


def vector_driver(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in _DRIVERS:
        raise OutputError(f"cannot write {path}: unknown vector format {suffix!r}; use .gpkg, .geojson or .parquet")
    return _DRIVERS[suffix]


def check_scene_outputs(
    raster: str | os.PathLike,
    vector: str | os.PathLike | None = None,
    picture: str | os.PathLike | None = None,
    kind: str = "class-map",
) -> Path:
    """The raster path of a scene job (``kind`` GeoTIFF), after checking it and the optional vector and picture
    outputs can be written, before any work: a GeoTIFF suffix, a known vector format, existing writable folders."""
    raster = Path(raster)
    if raster.suffix.lower() not in (".tif", ".tiff"):
        raise OutputError(f"cannot write {raster}: a scene's result goes to a {kind} GeoTIFF (-o OUT.tif)")
    check_writable(raster)
    if vector is not None:
        vector_driver(check_writable(vector))
    if picture is not None:
        check_writable(picture)
    return raster


def write_vectors(
    path: str | os.PathLike,
    geometries: Sequence,
    columns: Mapping[str, Sequence] | None = None,
    crs: CRS | str | None = None,
    layer: str | None = None,
) -> Path:
    """Write shapely geometries with attribute columns: GeoPackage, GeoJSON (pyogrio) or GeoParquet (pyarrow)."""
    final = check_writable(path)
    driver = vector_driver(final)
    geoms = np.asarray(list(geometries), dtype=object)
    cols = {k: np.asarray(v) for k, v in (columns or {}).items()}
    for name, values in cols.items():
        if len(values) != len(geoms):
            raise ValueError(f"column {name!r} has {len(values)} values for {len(geoms)} geometries")
    crs_obj = CRS.from_user_input(crs) if crs is not None else None
    wkb = shapely.to_wkb(geoms) if len(geoms) else np.array([], dtype=object)
    types = sorted({g.geom_type for g in geoms}) if len(geoms) else []
    with atomic_output(final) as tmp:
        if driver == "Parquet":
            _write_geoparquet(tmp, geoms, wkb, types, cols, crs_obj)
        else:
            geometry_type = types[0] if len(types) == 1 else "Unknown"
            with warnings.catch_warnings():  # pixel-space layers were already warned about when their scene opened
                warnings.filterwarnings("ignore", message="'crs' was not provided")
                pyogrio.raw.write(
                    str(tmp),
                    wkb,
                    [cols[k] for k in cols],
                    list(cols),
                    driver=driver,
                    layer=layer or final.stem,
                    geometry_type=geometry_type,
                    crs=crs_obj.to_wkt() if crs_obj else None,
                    promote_to_multi=False,
                )
    return final


def _write_geoparquet(tmp: Path, geoms, wkb, types, cols, crs: CRS | None) -> None:
    bounds = shapely.total_bounds(geoms).tolist() if len(geoms) else []
    column_meta = {"encoding": "WKB", "geometry_types": types}
    if bounds and all(np.isfinite(bounds)):
        column_meta["bbox"] = bounds
    # GeoParquet 1.1: crs is PROJJSON; absent means OGC:CRS84, so a pixel-space layer says null explicitly.
    column_meta["crs"] = pyproj.CRS.from_wkt(crs.to_wkt()).to_json_dict() if crs is not None else None
    geo = {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": column_meta}}
    table = pa.table(
        {**{k: pa.array(v.tolist()) for k, v in cols.items()}, "geometry": pa.array(list(wkb), pa.binary())}
    )
    table = table.replace_schema_metadata({b"geo": json.dumps(geo).encode()})
    pq.write_table(table, tmp)
