"""`rsvision batch TASK INPUTS... -o OUTDIR [--workers N | --scheduler tcp://HOST:8786] [-m MODEL] [--index ndvi]
[--stac URL --collection C --bbox W,S,E,N --datetime A/B --max-items N --assets B04,B03,B02,B08]`."""

from __future__ import annotations

from pathlib import Path

import typer

from rsvision.cli.app import QUIET, app, say, set_quiet
from rsvision.errors import InputNotFoundError, RsvisionError

TASKS = ("segment", "classify", "detect", "spectral", "change", "index")


@app.command("batch")
def batch_command(
    task: str = typer.Argument(
        ..., help="segment, classify, detect, spectral, change or index (every scene's tiles into OUTDIR/index)."
    ),
    inputs: list[str] = typer.Argument(
        None, help="Scenes: files, folders, glob patterns, .txt lists of paths; for change, CSVs of before,after."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for one output per scene and catalogue.parquet."),
    workers: int = typer.Option(2, "--workers", min=1, help="Local worker processes (one thread each)."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="A Dask scheduler address instead of local ones."),
    model: str | None = typer.Option(None, "-m", "--model", help="The task's model (default: its built-in one)."),
    method: str | None = typer.Option(None, "--method", help="change: cva, irmad or pcakmeans instead of a model."),
    index: str = typer.Option("ndvi", "--index", help="spectral: comma-separated index names."),
    score: float = typer.Option(0.3, "--score", help="detect: keep boxes scoring this or more."),
    block_pixels: int = typer.Option(
        100_000_000, "--block-pixels", help="Scenes larger than this are split into blocks over every worker."
    ),
    stac: str | None = typer.Option(None, "--stac", help="A STAC API URL (or a static catalog.json) to search."),
    collection: str | None = typer.Option(None, "--collection", help="STAC: the collection to search."),
    bbox: str | None = typer.Option(
        None, "--bbox", help="STAC: W,S,E,N in degrees (west > east crosses the antimeridian)."
    ),
    datetime: str | None = typer.Option(None, "--datetime", help="STAC: A/B (either side .. for open)."),
    max_items: int | None = typer.Option(None, "--max-items", help="STAC: at most this many items."),
    assets: str | None = typer.Option(None, "--assets", help="STAC: the band assets to stack, e.g. B04,B03,B02,B08."),
    quiet: bool = QUIET,
) -> None:
    """Run one task over many scenes on Dask distributed; rerun to finish what a killed job left."""
    set_quiet(quiet)
    if task not in TASKS:
        raise RsvisionError(f"batch runs {', '.join(TASKS)}; not {task!r}")
    if not output.is_dir():
        raise InputNotFoundError(f"output folder {output} does not exist (make it first)")
    if not inputs and stac is None:
        raise RsvisionError("give scenes (files, folders, patterns, lists) or --stac URL to search")
    if task == "change" and stac is not None:
        raise RsvisionError("batch change takes pairs from a CSV (before,after), not a STAC search")
    from rsvision.workflows import batch  # deferred: torch and dask take seconds

    scenes, pairs = list(inputs or []), []
    if stac is not None:
        found = batch.stac_scenes(output, stac, collection, bbox, datetime=datetime, max_items=max_items)
        say(f"STAC: {len(found)} items saved in {output / batch.STAC_FOLDER}")
        scenes += [str(p) for p in found]
    if task == "change":
        pairs = [pair for listing in scenes for pair in batch.read_pairs(listing)]
    options = {"model": model, "method": method, "score": score, "assets": assets}
    options["indices"] = [s.strip() for s in index.split(",") if s.strip()]
    result = batch.run_batch(
        task,
        scenes if task != "change" else (),
        output,
        pairs=pairs,
        workers=workers,
        scheduler=scheduler,
        options=options,
        block_pixels=block_pixels,
        progress=not quiet,
        on_start=lambda link: say(f"Dask dashboard: {link}") if link else None,
    )
    say(result.summary)
    for row in result.rows:
        if row["status"] == "failed":
            say(f"failed: {row['scene']}: {row['error']}")
