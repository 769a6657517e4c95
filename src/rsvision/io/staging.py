"""A raster staged in parts: what a resumable writer has written between two checkpoints is one file.

A checkpoint must put the rows written so far on disk. Closing the staging GeoTIFF and reopening it in update mode
did that, but GDAL then wrote every later block about six times slower than into a file it creates (a
65,536-pixel-wide class map: 3 strips of 448 rows took 1.9 s to write and close in update mode, 0.3 s into a new
file, zstd level 1 and two threads either way), and without ``SPARSE_OK`` the first close also wrote every block
not yet written. So a checkpoint closes the current part and the next rows go to a new one: part ``k`` is a
sparse GeoTIFF of the whole grid holding rows ``[start_k, start_k+1)``, named by its first row; at the end a VRT
stitches the parts for the COG step. A resumed run drops the parts from its checkpoint's row on and starts a new
part there.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning

from rsvision.core.files import remove_partial

_VRT_TYPES = {
    "uint8": "Byte",
    "int8": "Int8",
    "uint16": "UInt16",
    "int16": "Int16",
    "uint32": "UInt32",
    "int32": "Int32",
    "float32": "Float32",
    "float64": "Float64",
}


def part_path(staging: Path, start: int, level1: bool = False) -> Path:
    """The file of the part starting at scene row ``start`` (part 0 is the staging file itself and its ``.ovr``,
    where GDAL looks for the first overview of a file with one part)."""
    if start == 0:
        return staging.with_name(staging.name + ".ovr") if level1 else staging
    return staging.with_name(f"{staging.name}.rows-{start:09d}{'.l1' if level1 else ''}.tif")


def part_starts(staging: Path) -> list[int]:
    """First rows of the parts on disk, in order (0 when the staging file exists)."""
    pattern = re.compile(re.escape(staging.name) + r"\.rows-(\d{9})\.tif$")
    starts = [
        int(m.group(1)) for p in staging.parent.glob(f"{staging.name}.rows-*.tif") if (m := pattern.match(p.name))
    ]
    return ([0] if staging.exists() else []) + sorted(starts)


def drop_parts(staging: Path, from_row: int) -> None:
    """Remove the parts starting at ``from_row`` or later (both levels)."""
    for start in part_starts(staging):
        if start >= from_row:
            for level1 in (False, True):
                remove_partial(part_path(staging, start, level1))


def remove_all(staging: Path) -> None:
    """Remove every part and the stitching VRTs."""
    drop_parts(staging, 0)
    for vrt in (stitched_path(staging), stitched_path(staging, level1=True)):
        remove_partial(vrt)


def stitched_path(staging: Path, level1: bool = False) -> Path:
    return staging.with_name(f"{staging.name}{'.l1' if level1 else ''}.vrt")


def _level1_start(start: int) -> int:
    """The first row of the half-size level that copies a row at or after ``start`` (row ``i`` copies ``2i + 1``)."""
    return max(0, -(-(start - 1) // 2))


def stitch(staging: Path, width: int, height: int, count: int, dtype: str, level1: bool = False) -> Path:
    """A VRT of the parts (each contributing its rows) on the grid of the first part, with its georeference,
    nodata, descriptions, colour table and tags (copied through rasterio). ``level1``: the parts' first
    overviews, on the half-size grid."""
    starts = part_starts(staging)
    rows = [_level1_start(s) for s in starts] if level1 else list(starts)
    ends = [*rows[1:], height]
    bands = []
    for band in range(1, count + 1):
        sources = "".join(
            f'<SimpleSource><SourceFilename relativeToVRT="0">{part_path(staging, s, level1)}</SourceFilename>'
            f"<SourceBand>{band}</SourceBand>"
            f'<SrcRect xOff="0" yOff="{r}" xSize="{width}" ySize="{e - r}"/>'
            f'<DstRect xOff="0" yOff="{r}" xSize="{width}" ySize="{e - r}"/></SimpleSource>'
            for s, r, e in zip(starts, rows, ends)
            if e > r
        )
        bands.append(
            f'<VRTRasterBand dataType="{_VRT_TYPES[np.dtype(dtype).name]}" band="{band}">{sources}</VRTRasterBand>'
        )
    path = stitched_path(staging, level1)
    path.write_text(f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">{"".join(bands)}</VRTDataset>')
    with warnings.catch_warnings():  # the VRT has no georeference until it is copied from the first part
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(part_path(staging, 0, level1)) as first, rasterio.open(path, "r+") as vrt:
            _copy_metadata(first, vrt)
    return path


def _copy_metadata(src, dst) -> None:
    if src.crs is not None:  # a scene without a georeference stays without one (GDAL refuses a None CRS)
        dst.crs = src.crs
    if src.crs is not None or src.transform != Affine.identity():  # pixel space: GDAL's default already
        dst.transform = src.transform
    if src.nodata is not None:
        dst.nodata = src.nodata
    for i, description in enumerate(src.descriptions, start=1):
        if description:
            dst.set_band_description(i, description)
    with contextlib.suppress(ValueError):  # no colour table
        dst.write_colormap(1, src.colormap(1))
    if src.tags():
        dst.update_tags(**src.tags())
