"""`rsvision count SCENE [-m MODEL] [--score 0.3] (--zones ZONES.gpkg | --grid METRES) -o COUNTS.gpkg`."""

from __future__ import annotations

from pathlib import Path

import typer

from rsvision.cli.app import DEVICE, QUIET, app, say, set_quiet
from rsvision.cli.detect import BANDS_HELP, MODEL_HELP, SCORE_HELP, check_score, split_names
from rsvision.core.progress import plural
from rsvision.core.settings import check_device, torch_threads
from rsvision.errors import InputNotFoundError, RsvisionError


@app.command("count")
def count_command(
    scene: Path = typer.Argument(..., help="A raster file (any size) or a folder of band files."),
    output: Path = typer.Option(
        ..., "-o", "--output", help="COUNTS.gpkg (or .geojson, .parquet): one row per zone or cell."
    ),
    zones: Path | None = typer.Option(
        None, "--zones", help="Count in these polygons (.gpkg, .geojson, .parquet; reprojected to the scene)."
    ),
    grid: float | None = typer.Option(None, "--grid", help="Count in square cells this many metres on a side."),
    model: str | None = typer.Option(None, "-m", "--model", help=MODEL_HELP),
    score: float = typer.Option(0.3, "--score", help=SCORE_HELP),
    tile: int | None = typer.Option(None, "--tile", min=32, help="Tile size in pixels (default: the model's)."),
    overlap: int = typer.Option(64, "--overlap", min=0, help="Overlap of neighbouring tiles in pixels."),
    batch: int = typer.Option(4, "--batch", min=1, help="Tiles per batch."),
    bands: str | None = typer.Option(None, "--bands", help=BANDS_HELP),
    device: str = DEVICE,
    threads: int | None = typer.Option(None, "--threads", min=1, help="torch CPU threads (default: all available)."),
    quiet: bool = QUIET,
) -> None:
    """Count objects per class in zones or grid cells, with densities per hectare (an object counts where the
    centre of its box lies)."""
    set_quiet(quiet)
    check_device(device)
    check_score(score)
    if (zones is None) == (grid is None):
        raise RsvisionError("give --zones ZONES.gpkg or --grid METRES (one of them)")
    for path in (scene, zones):
        if path is not None and not path.exists():
            raise InputNotFoundError(f"no such file or folder: {path}")
    # deferred: torch takes seconds to import, and the checks above answer a mistake without it
    from rsvision.io import open_scene
    from rsvision.io.vectors import read_vectors
    from rsvision.models.device import pick_device
    from rsvision.workflows import count, detect

    opened = open_scene(scene)
    layer = count.check_count_inputs(opened, output, read_vectors(zones) if zones is not None else None, grid)
    with torch_threads(threads):
        predictor, note = detect.load_detector(
            model, opened, bands=split_names(bands), score=score, tile=tile, device=pick_device(device)
        )
        result = count.count_scene(
            opened,
            predictor,
            output,
            zones=layer,
            grid=grid,
            score=score,
            tile=tile,
            overlap=overlap,
            batch=batch,
            threads=threads,
            quiet=quiet,
        )
    if note:
        say(f"note: {note}")
    where = plural(len(result.layer), "zone") if zones is not None else plural(len(result.layer), "cell")
    say(f"{plural(result.counted, 'object')} in {where} ({result.detections.describe()}) -> {result.output}")
    say(result.summary)
