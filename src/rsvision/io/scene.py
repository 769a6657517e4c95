"""`open_scene()` and `Scene`: one raster, or a stack of band files, on one pixel grid."""

from __future__ import annotations

import copy
import math
import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.errors import NotGeoreferencedWarning as _RioNotGeoreferenced
from rasterio.errors import RasterioError
from rasterio.transform import array_bounds
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from rsvision.core.sensors import (
    SENSORS,
    Band,
    band_from_filename,
    get_sensor,
    guess_sensor,
)
from rsvision.errors import (
    BandCountError,
    BandNotFoundError,
    GridMismatchError,
    InputNotFoundError,
    NoBandFilesError,
    NotGeoreferencedWarning,
    RsvisionError,
    ScalingError,
    UnreadableRasterError,
)
from rsvision.io.gcps import gcp_grid, gcp_warped_vrt, has_gcps_only
from rsvision.io.metadata import envi_header_error, name_bands, read_file_bands
from rsvision.io.products import Product, find_product
from rsvision.io.scaling import Scaling, check_scale, factors_for, to_db, to_reflectance

RASTER_SUFFIXES = {".tif", ".tiff", ".jp2", ".vrt", ".img", ".png", ".jpg", ".jpeg"}


@dataclass(frozen=True)
class Grid:
    """A pixel grid: CRS (None without georeference), affine transform and size."""

    crs: CRS | None
    transform: Affine
    width: int
    height: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in the grid's CRS."""
        return tuple(array_bounds(self.height, self.width, self.transform))[:4]  # type: ignore[return-value]

    @property
    def res(self) -> tuple[float, float]:
        return abs(self.transform.a), abs(self.transform.e)

    @classmethod
    def of(cls, dataset) -> Grid:
        """The grid of an open rasterio dataset."""
        return cls(dataset.crs, dataset.transform, dataset.width, dataset.height)


@dataclass(frozen=True)
class _Source:
    """Where one band of a scene comes from: band ``index`` (1-based) of ``path``."""

    path: str
    index: int
    warp: bool  # True: read through a WarpedVRT onto the scene grid
    resampling: Resampling | None = None  # this band's own (nearest for classes); None: the scene's
    shift: tuple[float, float] | None = None  # (dx, dy) scene pixels: read from there (co-registration)


def _resampling(value: str | Resampling) -> Resampling:
    if isinstance(value, Resampling):
        return value
    try:
        return Resampling[value]
    except KeyError:
        raise RsvisionError(
            f"unknown resampling {value!r}; use one of nearest, bilinear, cubic, average, mode"
        ) from None


def _open(path: str):
    if os.path.isfile(path) and os.path.getsize(path) == 0:  # GDAL's message would not say the file is empty
        raise UnreadableRasterError(
            f"cannot read {path} as a raster: the file is empty (0 bytes); copy or download it again"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", _RioNotGeoreferenced)
            return rasterio.open(path)
    except RasterioError as err:
        raise UnreadableRasterError(
            f"cannot read {path} as a raster ({str(err).splitlines()[0]}); check it is a complete GeoTIFF, JPEG or PNG"
        ) from None


def _inside(window: Window, grid: Grid) -> bool:
    return (
        window.col_off >= 0
        and window.row_off >= 0
        and window.col_off + window.width <= grid.width
        and window.row_off + window.height <= grid.height
    )


def _clip(window: Window, grid: Grid, h: int, w: int) -> tuple[Window, tuple[int, int, int, int]] | None:
    """The part of ``window`` inside ``grid``, and the output rows and columns ``(y0, y1, x0, x1)`` it lands on
    when the window is read into ``(h, w)`` pixels (offsets scaled and rounded, so a resampled read stays on the
    window's output grid); None when no output pixel holds scene data."""
    if window.width <= 0 or window.height <= 0:
        return None
    c0, r0 = max(window.col_off, 0), max(window.row_off, 0)
    c1, r1 = min(window.col_off + window.width, grid.width), min(window.row_off + window.height, grid.height)
    if c1 <= c0 or r1 <= r0:
        return None
    sx, sy = w / window.width, h / window.height
    x0, x1 = round((c0 - window.col_off) * sx), round((c1 - window.col_off) * sx)
    y0, y1 = round((r0 - window.row_off) * sy), round((r1 - window.row_off) * sy)
    if x1 <= x0 or y1 <= y0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0), (y0, y1, x0, x1)


def _fill_value(nodata: float | None, dtype: np.dtype) -> float:
    """What pixels outside the scene hold in an array of ``dtype``: the scene's nodata, 0 without one; clamped
    to an integer dtype's range as GDAL converts in-scene nodata (NaN, which integers cannot hold, becomes 0)."""
    if nodata is None or (np.isnan(nodata) and dtype.kind not in "fc"):
        return 0
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return min(max(nodata, info.min), info.max)
    return nodata


class Scene:
    """A raster scene on one grid. ``read()`` returns (C, H, W) masked arrays; nodata is masked.

    Build it with :func:`open_scene` or :func:`rsvision.io.align`. File handles are opened lazily, one set per
    thread (GDAL datasets must not be shared between threads), so a scene can be read from a thread pool.
    """

    def __init__(
        self,
        path: str,
        bands: Sequence[Band],
        sources: Sequence[_Source],
        grid: Grid,
        dtype: str,
        nodata: float | None,
        sensor: str | None,
        resampling: Resampling = Resampling.bilinear,
        overviews: Sequence[int] = (),
        scaling: Scaling | None = None,
        scale: str | None = None,
    ):
        self.path = path
        self.bands = list(bands)
        self._sources = list(sources)
        self.grid = grid
        self.dtype = dtype
        self.nodata = nodata
        self.sensor = sensor
        self.resampling = resampling
        self.overviews = list(overviews)
        self.scaling = scaling  # the product's rule to reflectance, from its metadata (None: none known)
        self.scale = scale  # what read() gives by default: raw values (None), "reflectance" or "db"
        self._local = threading.local()
        self._opened: list = []
        self._lock = threading.Lock()

    # grid properties
    crs = property(lambda self: self.grid.crs)
    transform = property(lambda self: self.grid.transform)
    width = property(lambda self: self.grid.width)
    height = property(lambda self: self.grid.height)
    bounds = property(lambda self: self.grid.bounds)
    res = property(lambda self: self.grid.res)
    count = property(lambda self: len(self.bands))
    band_names = property(lambda self: [b.name for b in self.bands])

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.count, self.height, self.width

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None

    def __repr__(self) -> str:
        size = f"{self.count}x{self.height}x{self.width} {self.dtype}"
        return f"Scene({self.path!r}, {size}, sensor={self.sensor}, crs={self.crs})"

    def band_index(self, band: str | int) -> int:
        """0-based position of a band given by name or position."""
        if isinstance(band, (int, np.integer)):
            if not -self.count <= band < self.count:
                raise BandNotFoundError(
                    f"scene {self.path} has {self.count} bands; band position {band} is out of range"
                )
            return int(band) % self.count
        for i, b in enumerate(self.bands):
            if b.name == band:
                return i
        raise BandNotFoundError(f"scene {self.path} has no band {band!r}; it has: {', '.join(self.band_names)}")

    def _dataset(self, source: _Source):
        """This thread's open handle for a source file (a WarpedVRT onto the grid when it must be warped), with
        per band whether it is all valid (no nodata, mask or alpha), so reads can skip the mask."""
        handles = getattr(self._local, "handles", None)
        if handles is None:
            handles = self._local.handles = {}
        key = (source.path, source.warp, source.resampling, source.shift)
        ds = handles.get(key)
        if ds is None:
            ds = _open(source.path)
            opened = [ds]
            if source.warp:
                ds = self._warp(source, ds)
                opened.append(ds)
            all_valid = [MaskFlags.all_valid in flags for flags in ds.mask_flag_enums]
            handles[key] = ds = (ds, all_valid)
            with self._lock:
                self._opened.extend(opened)
        return ds

    def _warp(self, source: _Source, ds):
        """``ds`` read onto the scene grid; through its GCPs when it has no geotransform (Sentinel-1 GRD)."""
        g, rs = self.grid, self.resampling if source.resampling is None else source.resampling
        # a shifted source is sampled (dx, dy) pixels away and its pixels kept on the scene grid
        transform = g.transform @ Affine.translation(*source.shift) if source.shift else g.transform
        if has_gcps_only(ds):
            return _open(gcp_warped_vrt(source.path, ds, g.crs, transform, g.width, g.height, rs))
        options = dict(crs=g.crs, transform=transform, width=g.width, height=g.height, resampling=rs)
        nodata = ds.nodata if ds.nodata is not None else self.nodata  # a product's fill DN: its files declare none
        if nodata is not None:
            options["src_nodata"] = options["nodata"] = nodata
        else:
            options["add_alpha"] = True
        return WarpedVRT(ds, **options)

    def read(
        self,
        window: Window | None = None,
        bands: Sequence[str | int] | None = None,
        out_shape: tuple[int, int] | None = None,
        resampling: str | Resampling | None = None,
        out: np.ndarray | None = None,
        scale: str | None = None,
    ) -> np.ma.MaskedArray:
        """Read ``bands`` (names or 0-based positions; all by default) in ``window`` (the whole scene by default),
        optionally resampled to ``out_shape`` (H, W). Returns a (C, H, W) masked array: True where nodata.

        A window may reach past the scene's edges (edge tiles, negative offsets): pixels outside the scene hold the
        scene's nodata (0 without one) and are masked; a window wholly outside returns an all-masked array.

        ``out``: a (C, H, W) array to read into, of any dtype (GDAL converts as it reads, with no extra copy): a
        caller that reads many windows reuses one buffer instead of touching new memory for each.

        ``scale``: ``"raw"`` (the stored values; the default unless the scene is a :meth:`scaled` view),
        ``"reflectance"`` (the product's rule from its metadata, :attr:`scaling`) or ``"db"`` (10 * log10, for
        backscatter); both give float32 with masked pixels NaN."""
        mode = check_scale(scale if scale is not None else self.scale)
        if mode != "raw":
            return self._read_scaled(mode, window, bands, out_shape, resampling, out)
        window = window or Window(0, 0, self.width, self.height)
        positions = [self.band_index(b) for b in bands] if bands is not None else list(range(self.count))
        h, w = out_shape or (int(window.height), int(window.width))
        rs = _resampling(resampling) if resampling is not None else self.resampling
        if out is not None and out.shape != (len(positions), h, w):
            raise ValueError(f"out has shape {out.shape}; this read needs {(len(positions), h, w)}")
        data = out if out is not None else np.empty((len(positions), h, w), dtype=self.dtype)
        if not _inside(window, self.grid):
            return self._read_boundless(window, positions, data, rs)
        return self._read_inside(window, positions, data, rs)

    def _read_scaled(
        self,
        mode: str,
        window: Window | None,
        bands: Sequence[str | int] | None,
        out_shape: tuple[int, int] | None,
        resampling: str | Resampling | None,
        out: np.ndarray | None,
    ) -> np.ma.MaskedArray:
        positions = [self.band_index(b) for b in bands] if bands is not None else list(range(self.count))
        factors = (
            factors_for(self.scaling, [self.bands[p].name for p in positions], self.path)
            if mode == "reflectance"
            else None
        )
        if out is not None and out.dtype.kind != "f":
            raise ValueError(f"a {mode} read needs a float out array, not {out.dtype}")
        window = window or Window(0, 0, self.width, self.height)
        if out is None:
            h, w = out_shape or (int(window.height), int(window.width))
            out = np.empty((len(positions), h, w), np.float32)
        raw = self.read(window, positions, out_shape, resampling, out, scale="raw")
        mask = np.ma.getmaskarray(raw).copy()
        if factors is None:
            return to_db(out, mask)
        return to_reflectance(out, mask, factors, self.scaling.fill)

    def scaled(self, scale: str) -> Scene:
        """A view of this scene whose reads give ``scale`` values (``"reflectance"``, ``"db"``) as float32, NaN
        where no data: what a reader that knows nothing of scaling (the engine) is handed."""
        mode = check_scale(scale)
        if mode == "raw":
            raise ScalingError("scaled() takes 'reflectance' or 'db'; read(scale='raw') gives the stored values")
        if mode == "reflectance":
            factors_for(self.scaling, self.band_names, self.path)  # refuse now, not at the first tile
        return self._view(dtype="float32", nodata=float("nan"), scale=mode)

    def _view(self, **changes) -> Scene:
        """This scene with some attributes replaced, on handles of its own (a copy goes through
        ``__getstate__``)."""
        view = copy.copy(self)
        for name, value in changes.items():
            setattr(view, name, value)
        return view

    def _read_inside(self, window: Window, positions: list[int], data: np.ndarray, rs: Resampling) -> np.ma.MaskedArray:
        """Read a window that lies inside the scene into ``data`` (its shape sets the output size)."""
        h, w = data.shape[1:]
        mask = None
        # One read call per file: a single multi-band file is read in one go.
        groups: dict[tuple[str, bool, Resampling | None, tuple | None], list[tuple[int, int]]] = {}
        for out_i, pos in enumerate(positions):
            src = self._sources[pos]
            groups.setdefault((src.path, src.warp, src.resampling, src.shift), []).append((out_i, src.index))
        for (path, warp, own, shift), items in groups.items():
            ds, valid = self._dataset(_Source(path, 0, warp, own, shift))
            band_rs = rs if own is None else own  # nearest is 0: falsy
            indexes = [idx for _, idx in items]
            outs = [o for o, _ in items]
            needs_mask = not all(valid[i - 1] for i in indexes)
            contiguous = outs == list(range(outs[0], outs[0] + len(outs)))
            try:
                if contiguous and not needs_mask:  # read straight into the result, no copy
                    ds.read(indexes, window=window, out=data[outs[0] : outs[0] + len(outs)], resampling=band_rs)
                    continue
                block = ds.read(
                    indexes, window=window, out_shape=(len(indexes), h, w), resampling=band_rs, masked=needs_mask
                )
            except RasterioError as err:
                raise UnreadableRasterError(
                    f"cannot read {path} ({str(err).splitlines()[0]}); the file may be truncated or corrupt"
                ) from None
            data[outs] = np.ma.getdata(block)
            if needs_mask:
                if mask is None:
                    mask = np.zeros(data.shape, dtype=bool)
                mask[outs] = np.ma.getmaskarray(block)
        return np.ma.MaskedArray(data, mask=np.ma.nomask if mask is None else mask, copy=False)

    def _read_boundless(
        self, window: Window, positions: list[int], data: np.ndarray, rs: Resampling
    ) -> np.ma.MaskedArray:
        """Read a window that reaches past the scene: only its intersection with the scene grid is read, into its
        place in ``data``; the rest is filled with nodata (0 without one) and masked. rasterio's boundless read
        would build a VRT per call, far slower than this for edge tiles."""
        fill = _fill_value(self.nodata, data.dtype)
        mask = np.ones(data.shape, dtype=bool)
        clipped = _clip(window, self.grid, data.shape[1], data.shape[2])
        if clipped is None:
            data[...] = fill
            return np.ma.MaskedArray(data, mask=mask, copy=False)
        inner, (y0, y1, x0, x1) = clipped
        data[:, :y0] = data[:, y1:] = fill
        data[:, y0:y1, :x0] = data[:, y0:y1, x1:] = fill
        part = self._read_inside(inner, positions, data[:, y0:y1, x0:x1], rs)
        mask[:, y0:y1, x0:x1] = np.ma.getmaskarray(part)
        return np.ma.MaskedArray(data, mask=mask, copy=False)

    def block_cache_bytes(self, rows: int, bands: Sequence[str | int] | None = None) -> int:
        """Bytes of GDAL's block cache that hold every block crossing ``rows`` consecutive rows of the scene, full
        width, in every file that ``bands`` (all by default) come from: what a reader scanning windows of ``rows``
        rows left to right needs cached so the next row of windows decodes no block twice. A file read through a
        warp counts at its own resolution."""
        positions = [self.band_index(b) for b in bands] if bands is not None else range(self.count)
        per_file: dict[str, list[int]] = {}
        for pos in positions:
            per_file.setdefault(self._sources[pos].path, []).append(self._sources[pos].index)
        total = 0
        for path, indexes in per_file.items():
            ds = self._dataset(_Source(path, 0, False))[0]
            file_rows = rows * self.res[1] / ds.res[1] if self.georeferenced and ds.crs is not None else rows
            for index in indexes:
                block_h, block_w = ds.block_shapes[index - 1]
                crossing = min(-(-ds.height // block_h), math.ceil((file_rows - 1) / block_h) + 1)
                per_row = -(-ds.width // block_w) * block_w * block_h * np.dtype(ds.dtypes[index - 1]).itemsize
                total += crossing * per_row
        return total

    def close(self) -> None:
        with self._lock:
            for ds in reversed(self._opened):
                ds.close()
            self._opened.clear()
        self._local = threading.local()

    def __enter__(self) -> Scene:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:  # picklable for Dask workers: handles are reopened lazily
        state = self.__dict__.copy()
        for key in ("_local", "_opened", "_lock"):
            state.pop(key)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local, self._opened, self._lock = threading.local(), [], threading.Lock()

    def select_bands(self, bands: Sequence[str | int]) -> Scene:
        """The same scene with only ``bands`` (names or 0-based positions), in that order: two dates whose bands
        were matched across sensors read as one band list."""
        positions = [self.band_index(b) for b in bands]
        return self._view(bands=[self.bands[p] for p in positions], _sources=[self._sources[p] for p in positions])

    def with_grid(self, grid: Grid, resampling: str | Resampling | None = None) -> Scene:
        """The same bands, read through a warp onto another grid (used by :func:`rsvision.io.align`)."""
        sources = [replace(s, warp=True) for s in self._sources]
        rs = _resampling(resampling) if resampling is not None else self.resampling
        return self._view(_sources=sources, grid=grid, resampling=rs, overviews=[])

    def shifted(self, dx: float, dy: float) -> Scene:
        """The same grid, each pixel read from ``(dx, dy)`` pixels away (resampled by the scene's resampling):
        a second date moved onto the first by :func:`rsvision.io.coregister.coregister`."""
        if self.crs is None:
            raise GridMismatchError(f"cannot shift {self.path}: it has no georeference (CRS and transform)")
        sources = []
        for s in self._sources:
            already = s.shift or (0.0, 0.0)
            sources.append(replace(s, warp=True, shift=(already[0] + dx, already[1] + dy)))
        return self._view(_sources=sources, overviews=[])


def _warn_no_georeference(path: str) -> None:
    warnings.warn(
        f"{path} has no georeference: processing it in pixel coordinates (identity transform, y down)",
        NotGeoreferencedWarning,
        stacklevel=3,
    )


def _bands_for(
    names: Sequence[str],
    sensor_name: str | None,
    gsd: float | None,
    origin: str | None = None,
    wavelengths: Sequence[float | None] = (),
) -> list[Band]:
    """Band records for ``names``: the sensor's catalogue entry where it has one, the file's ``wavelengths`` (nm)
    where given, ``gsd`` (the pixel size) where the catalogue has none; ``origin`` says where the names came from."""
    sensor = SENSORS.get(sensor_name) if sensor_name else None
    out = []
    for i, name in enumerate(names):
        try:
            b = sensor.band(name) if sensor else Band(name)
        except KeyError:
            b = Band(name, sensor=sensor.name)
        if i < len(wavelengths) and wavelengths[i] is not None:
            b = replace(b, wavelength_nm=wavelengths[i])
        out.append(replace(b, gsd_m=b.gsd_m if b.gsd_m is not None else gsd, origin=origin))
    return out


def _pixel_size_m(grid: Grid) -> float | None:
    if grid.crs is None or not grid.crs.is_projected:
        return None
    return float(grid.res[0] * grid.crs.linear_units_factor[1])


def _open_file(path: str, sensor: str | None, band_names: Sequence[str] | None) -> Scene:
    if Path(path).suffix.lower() == ".hdr":
        raise envi_header_error(path)
    ds = _open(path)
    with ds:
        grid = Grid.of(ds)
        colours = ds.colorinterp
        indexes = [i + 1 for i, c in enumerate(colours) if c != ColorInterp.alpha] or [1]
        dtypes = {ds.dtypes[i - 1] for i in indexes}
        dtype = str(np.result_type(*dtypes))
        found = read_file_bands(ds, indexes, path)  # wavelengths, descriptions, sensor the file declares
        overviews = ds.overviews(1)
        nodata = ds.nodata
    if grid.crs is None:
        _warn_no_georeference(path)
    count = len(indexes)
    colour_names = tuple(colours[i - 1].name for i in indexes)
    guess = None if sensor else guess_sensor(count, dtype, Path(path).name, found.descriptions, colour_names)
    if sensor:
        sensor_obj, sensor_from = get_sensor(sensor), "user"
    elif found.sensor:
        sensor_obj, sensor_from = SENSORS[found.sensor], "file"
    else:
        sensor_obj, sensor_from = guess, "guess"
    naming = name_bands(path, found, sensor_obj, sensor_from, band_names, guess)
    bands = _bands_for(naming.names, naming.sensor, _pixel_size_m(grid), naming.origin, naming.wavelengths)
    sources = [_Source(path, i, False) for i in indexes]
    return Scene(path, bands, sources, grid, dtype, nodata, naming.sensor, Resampling.bilinear, overviews)


def split_band_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """The raster files directly in ``folder``, sorted: ``(named, unnamed)``, those whose name declares a band
    (``..._B02.tif``) and the others. A folder is stacked into one scene from its named files only."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)
    named = [f for f in files if band_from_filename(f.stem) is not None]
    return named, [f for f in files if f not in named]


def _band_files(folder: Path) -> list[Path]:
    """The raster files of a folder that holds one scene's band files: each file's name must declare its band
    (``..._B02.tif``), so a folder of photos is not stacked into a scene of one band per photo."""
    files, unnamed = split_band_files(folder)
    if not files and not unnamed:
        if (folder / "imgs_1").is_dir() and (folder / "imgs_2").is_dir():
            raise NoBandFilesError(
                f"{folder} is an OSCD city folder, not one scene; open {folder / 'imgs_1'} (before) or"
                f" {folder / 'imgs_2'} (after)"
            )
        raise NoBandFilesError(
            f"{folder} holds no raster band files; point at a folder of single-band files such as ..._B02.tif"
        )
    if not files:
        raise NoBandFilesError(
            f"{folder} is a folder of {len(unnamed)} images, not band files of one scene; `rsvision classify {folder}"
            " -o OUT.csv` classifies such folders one image at a time; open one image, or name band files like"
            " ..._B02.tif"
        )
    if unnamed:  # e.g. a Sentinel-2 IMG_DATA folder's TCI.jp2 beside its band files
        warnings.warn(
            f"{folder}: {len(unnamed)} raster(s) whose names declare no band (such as {unnamed[0].name})"
            " are left out of the stack",
            UserWarning,
            stacklevel=4,
        )
    return files


def _shared_nodata(values: Sequence[float | None]) -> float | None:
    """The nodata value every band file has, else None. NaN counts as one value (a set of NaNs read from several
    files holds each of them, NaN != NaN), so a stack of NaN-nodata files keeps NaN as its nodata."""
    keys = {"nan" if v is not None and np.isnan(v) else v for v in values}
    return values[0] if len(keys) == 1 else None


def _stack_grid(ds) -> tuple[Grid, bool]:
    """A band file's grid, and whether it is warped whatever the stack's grid: a file georeferenced by GCPs only
    (Sentinel-1 GRD) is read through them, on a UTM grid that covers it."""
    if has_gcps_only(ds):
        return Grid(*gcp_grid(ds)), True
    return Grid.of(ds), False


def _open_stack(
    label: str,
    files: Sequence[str | Path],
    sensor: str | None,
    grid: str | Grid | None,
    resampling: Resampling,
    names: Sequence[str] | None = None,
) -> Scene:
    """Single-band (or multi-band) files stacked on one grid: the finest file's, a named band's, or a Grid.
    ``names``: the files' band names, in this order (a product's layout names them), else read from file names.
    A file given as a string is opened as given: a GDAL path such as ``/vsicurl/https://...`` (STAC assets) would
    lose its double slash in a Path."""
    declared = [band_from_filename(Path(f).stem) for f in files]
    known = all(declared) and len({d[0] for d in declared}) == 1  # type: ignore[index]
    sensor_name = get_sensor(sensor).name if sensor else (declared[0][0] if known else None)  # type: ignore[index]
    if names is not None:
        names_files = list(zip(names, files))
    elif known:
        order = SENSORS[sensor_name].band_names if sensor_name in SENSORS else []
        rank = {n: i for i, n in enumerate(order)}
        paired = sorted(zip(declared, files), key=lambda df: rank.get(df[0][1], len(rank)))  # type: ignore[index]
        names_files = [(d[1], f) for d, f in paired]  # type: ignore[index]
    else:
        names_files = [(Path(f).stem, f) for f in files]

    entries = []  # (band name, path, 1-based index, grid, dtype, nodata, warp whatever the target)
    for name, f in names_files:
        ds = _open(str(f))
        with ds:
            for i in range(1, ds.count + 1):
                band_name = name if ds.count == 1 else f"{name}_{i}"
                entries.append((band_name, str(f), i, *_stack_grid(ds), ds.dtypes[i - 1], ds.nodata))

    grids = [e[3] for e in entries]
    georef = [g.crs is not None for g in grids]
    if not all(georef):
        sizes = {(g.width, g.height) for g in grids}
        if len(sizes) > 1:
            raise GridMismatchError(
                f"band files in {label} have different sizes {sorted(sizes)} and no georeference to put them on one"
                " grid; resample them to one size first or use georeferenced files"
            )
        _warn_no_georeference(label)
    if isinstance(grid, Grid):
        target = grid
    elif isinstance(grid, str):
        match = [e for e in entries if e[0] == grid]
        if not match:
            raise BandNotFoundError(
                f"grid band {grid!r} is not among the bands of {label}: {', '.join(e[0] for e in entries)}"
            )
        target = match[0][3]
    else:
        target = min(grids, key=lambda g: (g.res[0] * g.res[1], -g.width))
    names = [e[0] for e in entries]
    bands = _bands_for(names, sensor_name, _pixel_size_m(target), "file" if known else None)
    sources = [_Source(path, i, g != target or gcps) for _, path, i, g, gcps, _, _ in entries]
    dtype = str(np.result_type(*{e[5] for e in entries}))
    nodata = _shared_nodata([e[6] for e in entries])
    return Scene(label, bands, sources, target, dtype, nodata, sensor_name, resampling, [])


def _open_product(product: Product, sensor: str | None, grid: str | Grid | None, rs: Resampling) -> Scene:
    files = [Path(f) for f in product.files]
    scene = _open_stack(product.label, files, sensor or product.sensor, grid, rs, product.names)
    scene._sources = [  # class bands (Sentinel-2's SCL) reach the grid by nearest neighbour: never blended
        replace(s, resampling=Resampling.nearest) if b.name in product.categorical else s
        for s, b in zip(scene._sources, scene.bands)
    ]
    scene.scaling = product.scaling
    if scene.nodata is None and product.scaling is not None:  # warps then never blend the fill DN into data
        scene.nodata = product.scaling.fill
    return scene


def _stac_module():
    """:mod:`rsvision.io.stac`, imported on first use: it imports this module (its items are stacked by
    :func:`_open_stack`), so it cannot be imported at the top of this one."""
    from rsvision.io import stac

    return stac


def open_scene(
    path: str | PathLike | Sequence[str | PathLike],
    *,
    sensor: str | None = None,
    band_names: Sequence[str] | None = None,
    grid: str | Grid | None = None,
    resampling: str | Resampling = "bilinear",
) -> Scene:
    """Open a raster file, a folder of band files, a list of band files, or a product (a Sentinel-2 or Sentinel-1
    ``.SAFE``, a Landsat Collection 2 scene, or their ``.zip`` / ``.tar``, see :mod:`rsvision.io.products`; its
    reflectance rule becomes :attr:`Scene.scaling`) or a STAC item's ``.json`` (its band assets, see
    :func:`rsvision.io.stac.open_stac_item`) as one :class:`Scene`.

    ``sensor`` overrides the sensor the file declares or is guessed (a key of
    :data:`rsvision.core.sensors.SENSORS`: ``sentinel-2``, ``landsat-8-9``, ``landsat-7``, ``planetscope-8`` ...);
    ``band_names`` names a single file's bands. For band stacks, ``grid`` picks the grid (a band name such as
    ``"B02"`` or a :class:`Grid`; the finest band's by default) and ``resampling`` how other bands reach it
    (``bilinear`` by default, ``nearest`` for labels).
    """
    rs = _resampling(resampling)
    if isinstance(path, (str, PathLike)):
        p = Path(path)
        if not p.exists():
            raise InputNotFoundError(f"no such file or folder: {p}")
        if p.suffix.lower() == ".json" and p.is_file() and (stac := _stac_module()).is_stac_item(p):
            scene = stac.open_stac_item(p, sensor=sensor, grid=grid, resampling=rs)
        elif (product := find_product(p)) is not None:  # a .SAFE, a Landsat scene, or their .zip / .tar
            scene = _open_product(product, sensor, grid, rs)
        elif p.is_dir():
            scene = _open_stack(str(p), _band_files(p), sensor, grid, rs)
        else:
            scene = _open_file(str(p), sensor, band_names)
            scene.resampling = rs
    else:
        files = [Path(f) for f in path]
        if not files:
            raise NoBandFilesError("an empty list of band files was given; name at least one file")
        for f in files:
            if not f.exists():
                raise InputNotFoundError(f"no such file: {f}")
        scene = _open_stack(str(files[0].parent), files, sensor, grid, rs)
    if band_names is not None and scene.band_names != list(band_names):  # a stack's bands renamed
        if len(band_names) != scene.count:
            raise BandCountError(f"{scene.path} has {scene.count} bands but {len(band_names)} band names were given")
        scene.bands = _bands_for(list(band_names), scene.sensor, _pixel_size_m(scene.grid), "user")
    return scene
