"""Land-cover segmentation of a scene of any size: the class-map COG (colour table, class names), optionally the
per-class probabilities in percent, polygons with class and area, and a picture, in one pass of the engine.

Specks under ``min_area`` are merged into their largest neighbour on the class map itself (GDAL's sieve, window by
window), so the polygons and the raster say the same thing. Polygons come from GDAL's polygonize reading the
class map from disk row by row (:mod:`rsvision.workflows.polygons`, shared with change detection); areas are square
metres on a projected grid, geodesic square metres on a geographic one, and pixels without a georeference.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
import rasterio
import rasterio.features
from rasterio.errors import NotGeoreferencedWarning as RioNotGeoreferencedWarning
from rasterio.windows import Window

from rsvision.bench.plots import class_map_preview
from rsvision.engine import Probabilities, RunResult, run
from rsvision.errors import RsvisionError
from rsvision.io import Grid, RasterWriter, Scene, open_scene, write_vectors
from rsvision.io.writers import check_scene_outputs
from rsvision.models.resolve import LoadedModel
from rsvision.tasks.classification import scene_gsd, select_bands, tile_size_for
from rsvision.tasks.clouds import S2CLOUDLESS, CloudMasker
from rsvision.tasks.segmentation import Segmenter
from rsvision.workflows.polygons import class_polygons, polygon_areas

SIEVE_ROWS = 2048  # rows sieved at once, with a margin above and below


@dataclass
class SegmentResult:
    """What :func:`segment_scene` wrote, the pixels of each class, and the engine's summary line."""

    class_map: Path
    probabilities: Path | None
    vector: Path | None
    preview: Path | None
    counts: dict[str, int]
    polygons: int
    summary: str
    note: str = ""


def segment_scene(
    scene: Scene | str | os.PathLike,
    model: LoadedModel | str,
    output: str | os.PathLike,
    *,
    vector: str | os.PathLike | None = None,
    min_area: float | None = None,
    probabilities: str | os.PathLike | None = None,
    preview: str | os.PathLike | None = None,
    tile: int | None = None,
    overlap: int = 64,
    batch: int = 4,
    bands: Sequence[str] | None = None,
    threads: int | None = None,
    device: str = "cpu",
    tta: bool = False,
    scales: Sequence[float] | None = None,
    quiet: bool = False,
    runner: Callable[..., RunResult] | None = None,
) -> SegmentResult:
    """Segment ``scene`` with ``model`` (a segmentation card and its network, or ``"s2cloudless"`` for cloud and
    shadow masks of Sentinel-2) into the class-map COG ``output``.

    ``vector``: polygons with ``class_id``, ``class`` and ``area`` (.gpkg, .geojson, .parquet); ``min_area``
    (square metres on a georeferenced grid, else pixels): smaller regions merge into their neighbour, in the
    class map and the polygons; ``probabilities``: a uint8 COG of per-class probabilities in percent;
    ``preview``: a PNG of the class map over the scene. Tiles are ``tile`` pixels (the card's size by default,
    scaled by GSD when both are known) overlapping by ``overlap``; a killed run resumes when called again.
    ``tta``: each tile's probabilities averaged over its flips and quarter turns (8 times the work); ``scales``:
    and over the tile resampled by these factors (multi-scale inference).

    ``runner``: the engine call (:func:`~rsvision.engine.run` by default; ``rsvision batch`` gives
    :func:`~rsvision.engine.blocks.run_on_blocks` for a huge scene).
    """
    output = check_scene_outputs(output, vector, preview, kind="class-map")
    if probabilities is not None:
        check_scene_outputs(probabilities, kind="probabilities")
    scene = open_scene(scene) if isinstance(scene, (str, os.PathLike)) else scene
    if isinstance(model, str) and scene.scaling is not None:
        scene = scene.scaled("reflectance")  # the product's own rule: baseline 04.00's offset included
    pixels = _pixels_of(scene, min_area)
    predictor, note = _predictor(scene, model, tile, bands, device, tta, scales)
    size = predictor.tile_size
    # the engine's map before sieving: a fixed name, so that a killed run finds its checkpoint again
    engine_map = output.with_name(f".{output.name}.unsieved.tif") if pixels else output
    destinations = [engine_map] + ([Probabilities(probabilities)] if probabilities is not None else [])
    result = (runner or run)(
        scene,
        predictor,
        destinations,
        tile=size,
        overlap=min(max(overlap, 2 * getattr(predictor, "margin", 0)), size // 2),
        batch=batch,
        threads=threads,
        quiet=quiet,
    )
    if pixels:
        with warnings.catch_warnings():  # an ungeoreferenced scene was warned of once already
            warnings.simplefilter("ignore", RioNotGeoreferencedWarning)
            _sieve(engine_map, output, pixels)
    polygons = 0
    if vector is not None:
        vector, polygons = _write_polygons(output, vector, predictor.class_names)
    if preview is not None:
        preview = class_map_preview(scene, output, preview)
    return SegmentResult(
        output,
        Path(probabilities) if probabilities is not None else None,
        Path(vector) if vector is not None else None,
        preview,
        class_counts(output),
        polygons,
        result.summary.replace(str(engine_map), str(output)),  # the unsieved name is ours, not the user's
        note,
    )


def _predictor(
    scene: Scene,
    model: LoadedModel | str,
    tile: int | None,
    bands: Sequence[str] | None,
    device: str,
    tta: bool = False,
    scales: Sequence[float] | None = None,
) -> tuple[Segmenter | CloudMasker, str]:
    """The dense predictor for ``model`` (a loaded segmentation card, or ``"s2cloudless"``) on ``scene``, and a
    note on how its bands were chosen."""
    if isinstance(model, str):
        if model.lower() != S2CLOUDLESS:
            raise RsvisionError(f"unknown segmentation model {model!r}")
        if tta or (scales and tuple(scales) != (1,)):
            raise RsvisionError("--tta and --scales apply to segmentation networks, not to s2cloudless")
        names = list(bands) if bands is not None else [b.name for b in scene.bands]
        if len(names) != scene.count:
            raise RsvisionError(f"{scene.path}: {len(names)} band names given for {scene.count} bands")
        integer = np.dtype(scene.dtype).kind in "ui"
        return CloudMasker(names, integer=integer, tile_size=tile or 512, path=str(scene.path)), ""
    weights = model.weights
    choice = select_bands(weights, scene.bands, bands, str(scene.path), scene.dtype, scene.sensor)
    size = int(tile) if tile else tile_size_for(weights, scene_gsd(scene))
    predictor = Segmenter(
        weights, model.module, choice, dtype=scene.dtype, tile_size=size, device=device, tta=tta, scales=scales
    )
    return predictor, choice.describe(weights)


def _pixels_of(scene: Scene, min_area: float | None) -> int:
    """``min_area`` in pixels (square metres on a projected grid; pixels without a georeference)."""
    if not min_area:
        return 0
    if min_area < 0:
        raise RsvisionError(f"--min-area must be positive, got {min_area}")
    gsd = scene_gsd(scene)
    if gsd is None and scene.crs is not None:  # a geographic grid: the pixel's area at the scene's centre
        lon, lat = (scene.bounds[0] + scene.bounds[2]) / 2, (scene.bounds[1] + scene.bounds[3]) / 2
        rx, ry = scene.res
        area = abs(
            pyproj.Geod(ellps="WGS84").polygon_area_perimeter(
                [lon, lon + rx, lon + rx, lon], [lat, lat, lat + ry, lat + ry]
            )[0]
        )
        return max(1, round(min_area / area))
    return max(1, round(min_area / (gsd * gsd if gsd else 1.0)))


def _sieve(source: Path, output: Path, pixels: int) -> None:
    """``output`` = ``source`` with regions under ``pixels`` merged into their largest neighbour (4-connected),
    window by window with a margin of up to 512 rows: exact for specks that fit in the margin. ``source`` is
    removed."""
    margin = min(512, pixels)
    with rasterio.open(source) as src:
        writer = RasterWriter(
            output,
            Grid.of(src),
            1,
            src.dtypes[0],
            src.nodata,
            descriptions=["class"],
            colormap=src.colormap(1),
            tags=src.tags(),
        )
        with writer:
            for row in range(0, src.height, SIEVE_ROWS):
                top, bottom = max(0, row - margin), min(src.height, row + SIEVE_ROWS + margin)
                block = src.read(1, window=Window(0, top, src.width, bottom - top))
                valid = block != src.nodata
                sieved = rasterio.features.sieve(block, pixels, mask=valid, connectivity=4)
                sieved[~valid] = block[~valid]
                keep = sieved[row - top : row - top + min(SIEVE_ROWS, src.height - row)]
                writer.write(keep, Window(0, row, src.width, keep.shape[0]))
    os.remove(source)


def _write_polygons(class_map: Path, vector: str | os.PathLike, classes: Sequence[str]) -> tuple[Path, int]:
    """One polygon per connected region of each class (GDAL's polygonize reading the file row by row)."""
    geoms, ids, crs = class_polygons(class_map)
    names = np.asarray(list(classes), dtype=object)[ids] if len(ids) else np.array([], dtype=object)
    columns = {"class_id": ids, "class": names.astype(str), "area": polygon_areas(geoms, crs)}
    return write_vectors(vector, geoms, columns, crs=crs), len(geoms)


def class_counts(class_map: Path) -> dict[str, int]:
    """Pixels of each class in a class-map COG (by its ``classes`` tag), most first, read block row by block row."""
    with rasterio.open(class_map) as ds:
        names = json.loads(ds.tags().get("classes", "[]"))
        counts = np.zeros(max(len(names), 1), np.int64)
        for _, window in ds.block_windows(1):
            ids = ds.read(1, window=window)
            ids = ids[ids != ds.nodata]
            counts += np.bincount(ids, minlength=len(counts))[: len(counts)]
    order = np.argsort(-counts, kind="stable")
    return {names[i]: int(counts[i]) for i in order if counts[i] and i < len(names)}
