"""`rsvision segment SCENE [-m MODEL] -o OUT.tif [--vector OUT.gpkg] [--min-area A] [--probabilities P.tif]
[--preview OUT.png]`."""

from __future__ import annotations

from pathlib import Path

import typer

from rsvision.cli.app import DEVICE, QUIET, SCALES, app, parse_scales, say, set_quiet
from rsvision.core.progress import plural
from rsvision.core.settings import check_device, torch_threads
from rsvision.errors import InputNotFoundError
from rsvision.io.writers import check_scene_outputs
from rsvision.tasks.clouds import S2CLOUDLESS


@app.command("segment")
def segment_command(
    scene: Path = typer.Argument(..., help="A raster file (any size) or a folder of band files."),
    output: Path = typer.Option(..., "-o", "--output", help="OUT.tif: the class-map COG (colour table, names)."),
    model: str | None = typer.Option(
        None,
        "-m",
        "--model",
        help="A segmentation model of `rsvision models`, a NAME.safetensors file, or s2cloudless (Sentinel-2 "
        "cloud and shadow masks).",
    ),
    vector: Path | None = typer.Option(
        None, "--vector", help="Also write polygons with class and area (.gpkg, .geojson, .parquet)."
    ),
    min_area: float | None = typer.Option(
        None,
        "--min-area",
        help="Merge regions smaller than this (m^2; pixels without a georeference) into a neighbour.",
    ),
    probabilities: Path | None = typer.Option(
        None, "--probabilities", help="Also write per-class probabilities in percent (uint8 COG, one band a class)."
    ),
    preview: Path | None = typer.Option(None, "--preview", help="Also draw the class map over the scene (PNG)."),
    tile: int | None = typer.Option(None, "--tile", min=32, help="Tile size in pixels (default: the model's)."),
    overlap: int = typer.Option(64, "--overlap", min=0, help="Overlap of neighbouring tiles in pixels."),
    batch: int = typer.Option(4, "--batch", min=1, help="Tiles per batch."),
    bands: str | None = typer.Option(
        None, "--bands", help="Names of the scene's bands in order, comma-separated (e.g. red,green,blue,nir)."
    ),
    tta: bool = typer.Option(
        False, "--tta", help="Average each tile's flips and quarter turns (8 times the work; see the model's card)."
    ),
    scales: str | None = SCALES,
    device: str = DEVICE,
    threads: int | None = typer.Option(None, "--threads", min=1, help="torch CPU threads (default: all available)."),
    quiet: bool = QUIET,
) -> None:
    """Segment a scene of any size into land-cover classes (the built-in Dubai land-cover model by default)."""
    set_quiet(quiet)
    check_device(device)
    if not scene.exists():
        raise InputNotFoundError(f"no such file or folder: {scene}")
    check_scene_outputs(output, vector, preview)
    if probabilities is not None:
        check_scene_outputs(probabilities, kind="probabilities")
    # deferred: torch takes seconds to import, and the checks above answer a mistake without it
    from rsvision.models.device import pick_device
    from rsvision.models.resolve import resolve_model
    from rsvision.models.segmentation import segmenter_spec
    from rsvision.models.weights import Task
    from rsvision.workflows.segment import segment_scene

    with torch_threads(threads):
        clouds = model is not None and model.lower() == S2CLOUDLESS
        loaded = S2CLOUDLESS if clouds else resolve_model(segmenter_spec(model), Task.SEGMENTATION, "segment")
        result = segment_scene(
            scene,
            loaded,
            output,
            vector=vector,
            min_area=min_area,
            probabilities=probabilities,
            preview=preview,
            tile=tile,
            overlap=overlap,
            batch=batch,
            bands=[b.strip() for b in bands.split(",")] if bands else None,
            threads=threads,
            device=pick_device(device),
            tta=tta,
            scales=parse_scales(scales),
            quiet=quiet,
        )
    if result.note:
        say(f"note: {result.note}")
    total = sum(result.counts.values()) or 1
    shares = ", ".join(f"{name} {100 * n / total:.1f}%" for name, n in list(result.counts.items())[:6])
    written = [result.class_map, result.probabilities, result.vector, result.preview]
    polygons = f", {plural(result.polygons, 'polygon')}" if result.vector else ""
    say(f"{shares}{polygons} -> {', '.join(str(p) for p in written if p is not None)}")
    say(result.summary)
