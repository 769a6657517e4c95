"""`rsvision change BEFORE AFTER -o OUT.tif [-m MODEL | --method cva|irmad|pcakmeans] [--probabilities P.tif]
[--vector OUT.gpkg] [--preview OUT.png] [--bands B02,B03] [--normalise histogram|irmad] [--coregister] [--tta]`."""

from __future__ import annotations

from pathlib import Path

import typer

from rsvision.cli.app import DEVICE, QUIET, app, say, set_quiet
from rsvision.core.progress import plural
from rsvision.core.settings import torch_threads
from rsvision.errors import InputNotFoundError, RsvisionError
from rsvision.io.writers import check_scene_outputs

METHODS = ("cva", "irmad", "pcakmeans")
NORMALISATIONS = ("none", "histogram", "irmad")


@app.command("change")
def change_command(
    before: Path = typer.Argument(..., help="The first date: a raster file or a folder of band files."),
    after: Path = typer.Argument(..., help="The second date (any CRS, resolution or extent overlapping the first)."),
    output: Path = typer.Option(..., "-o", "--output", help="OUT.tif: the binary change COG (1 = change)."),
    method: str | None = typer.Option(
        None, "--method", help="cva, irmad or pcakmeans: unsupervised, no training, instead of a learned model."
    ),
    model: str | None = typer.Option(
        None,
        "-m",
        "--model",
        help="A learned change model (default: the built-in OSCD model, 13 Sentinel-2 bands, or its RGB one).",
    ),
    probabilities: Path | None = typer.Option(
        None, "--probabilities", help="Also write the change score in percent (uint8 COG; 50 = the threshold)."
    ),
    vector: Path | None = typer.Option(
        None, "--vector", help="Also write change polygons with area and mean score (.gpkg, .geojson, .parquet)."
    ),
    preview: Path | None = typer.Option(None, "--preview", help="Also draw before | after | change (PNG)."),
    bands: str | None = typer.Option(
        None, "--bands", help="Compare only these bands of the first date, comma-separated (e.g. B02,B03,B04,B08)."
    ),
    normalise: str = typer.Option(
        "none", "--normalise", help="Relative radiometric normalisation of the second date: none, histogram, irmad."
    ),
    coregister: bool | None = typer.Option(
        None,
        "--coregister/--no-coregister",
        help="Move the second date onto the first by the sub-pixel shift its pixels show (default: as the model was"
        " trained; off for --method).",
    ),
    tta: bool = typer.Option(
        False, "--tta", help="A model's change probability averaged over each tile pair's flips and quarter turns (x8)."
    ),
    tile: int = typer.Option(512, "--tile", min=32, help="Tile size in pixels."),
    batch: int = typer.Option(4, "--batch", min=1, help="Tiles per batch."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads (default: all available)."),
    device: str = DEVICE,
    quiet: bool = QUIET,
) -> None:
    """Detect change between two dates of any sensors, paired by georeference and band."""
    set_quiet(quiet)
    if model is not None and method is not None:
        raise RsvisionError("give -m MODEL (learned) or --method (unsupervised), not both")
    if method is not None and method not in METHODS:
        raise RsvisionError(f"unknown --method {method!r}; use one of {', '.join(METHODS)}")
    if tta and method is not None:
        raise RsvisionError("--tta applies to a learned change model, not to --method")
    if normalise not in NORMALISATIONS:
        raise RsvisionError(f"unknown --normalise {normalise!r}; use one of {', '.join(NORMALISATIONS)}")
    for scene in (before, after):
        if not scene.exists():
            raise InputNotFoundError(f"no such file or folder: {scene}")
    check_scene_outputs(output, vector, preview, kind="change-map")
    if probabilities is not None:
        check_scene_outputs(probabilities, kind="probabilities")
    # deferred: the workflow imports torch (seconds), and the checks above answer a mistake without it
    from rsvision.io import open_scene
    from rsvision.models.change import default_change_model
    from rsvision.models.device import pick_device
    from rsvision.models.resolve import resolve_model
    from rsvision.models.weights import Task
    from rsvision.workflows.change import change_scenes

    with torch_threads(threads):
        first = open_scene(before)
        default = default_change_model(first.band_names, first.dtype, first.sensor)
        spec = model if model is not None or method is not None else default
        loaded = resolve_model(spec, Task.CHANGE, "change") if spec else None
        result = change_scenes(
            before,
            after,
            output,
            model=loaded,
            method=method or "cva",
            probabilities=probabilities,
            vector=vector,
            preview=preview,
            bands=[b.strip() for b in bands.split(",")] if bands else None,
            normalise=None if normalise == "none" else normalise,
            coregister=coregister,
            tta=tta,
            tile=tile,
            batch=batch,
            device=pick_device(device),
            threads=threads,
            quiet=quiet,
        )
    if model is None and method is None and loaded is None:
        say("note: no built-in change model takes these images (13 Sentinel-2 bands, or 8-bit RGB): cva was used")
    say(f"note: {result.note}")
    share = 100 * result.changed / max(result.pixels, 1)
    written = [result.change_map, result.probabilities, result.vector, result.preview]
    polygons = f", {plural(result.polygons, 'polygon')}" if result.vector else ""
    say(f"change {share:.2f}% of {result.pixels} pixels{polygons} -> {', '.join(str(p) for p in written if p)}")
    say(result.summary)
