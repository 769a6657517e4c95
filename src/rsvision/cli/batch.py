"""`rsvision batch TASK INPUTS... -o OUTDIR [--workers N | --scheduler tcp://HOST:8786] [-m MODEL] [--index ndvi]`."""

from __future__ import annotations

from pathlib import Path

import typer

from rsvision.cli.app import QUIET, app, say, set_quiet
from rsvision.errors import InputNotFoundError, RsvisionError

TASKS = ("segment", "classify", "detect", "spectral")


@app.command("batch")
def batch_command(
    task: str = typer.Argument(..., help="segment, classify, detect or spectral."),
    inputs: list[str] = typer.Argument(..., help="Scenes: files, folders, glob patterns, .txt lists of paths."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for one output per scene and catalogue.parquet."),
    workers: int = typer.Option(2, "--workers", min=1, help="Local worker processes (one thread each)."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="A Dask scheduler address instead of local ones."),
    model: str | None = typer.Option(None, "-m", "--model", help="The task's model (default: its built-in one)."),
    index: str = typer.Option("ndvi", "--index", help="spectral: comma-separated index names."),
    score: float = typer.Option(0.3, "--score", help="detect: keep boxes scoring this or more."),
    quiet: bool = QUIET,
) -> None:
    """Run one task over many scenes on Dask distributed; rerun to finish what a killed job left."""
    set_quiet(quiet)
    if task not in TASKS:
        raise RsvisionError(f"batch runs {', '.join(TASKS)}; not {task!r}")
    if not output.is_dir():
        raise InputNotFoundError(f"output folder {output} does not exist (make it first)")
    from rsvision.workflows.batch import expand_inputs, run_batch  # deferred: torch and dask take seconds

    scenes = expand_inputs(inputs)
    options = {"model": model, "score": score, "indices": [s.strip() for s in index.split(",") if s.strip()]}
    result = run_batch(
        task,
        scenes,
        output,
        workers=workers,
        scheduler=scheduler,
        options=options,
        progress=not quiet,
        on_start=lambda link: say(f"Dask dashboard: {link}") if link else None,
    )
    say(result.summary)
    if result.failed:
        for row in result.rows:
            if row["status"] == "failed":
                say(f"failed: {row['scene']}: {row['error']}")
