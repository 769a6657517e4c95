"""`rsvision detect SCENE [-m MODEL] [--score 0.3] [--classes "a, b"] -o OUT.gpkg
[--format gpkg|geojson|geoparquet|dota|coco] [--preview OUT.png]`."""

from __future__ import annotations

from pathlib import Path

import typer

from rsvision.cli.app import DEVICE, QUIET, app, say, set_quiet
from rsvision.core.settings import check_device, torch_threads
from rsvision.errors import InputNotFoundError, RsvisionError

MODEL_HELP = "A detection model of `rsvision models` or a NAME.safetensors file (default: the built-in tree detector)."
SCORE_HELP = "Keep boxes scoring this or more."
BANDS_HELP = "Names of the scene's bands in order, comma-separated (e.g. red,green,blue)."


def split_names(text: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; None stays None."""
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def check_score(score: float) -> None:
    if not 0 <= score <= 1:
        raise RsvisionError(f"--score must be between 0 and 1, got {score}")


@app.command("detect")
def detect_command(
    scene: Path = typer.Argument(..., help="A raster file (any size) or a folder of band files."),
    output: Path = typer.Option(
        ..., "-o", "--output", help="OUT.gpkg / .geojson / .parquet (polygons), .txt (DOTA labelTxt), .json (COCO)."
    ),
    model: str | None = typer.Option(None, "-m", "--model", help=MODEL_HELP),
    score: float = typer.Option(0.3, "--score", help=SCORE_HELP),
    classes: str | None = typer.Option(
        None,
        "--classes",
        help='Keep only these classes, e.g. "plane, ship"; without -m, classes the built-in detector does not know '
        "are found open-vocabulary: windows labelled by the dual encoder.",
    ),
    format: str | None = typer.Option(
        None,
        "--format",
        help="gpkg, geojson, geoparquet, dota (a .txt labelTxt, or Task1_<class>.txt files in an existing folder) "
        "or coco; guessed from -o by default.",
    ),
    preview: Path | None = typer.Option(None, "--preview", help="Also draw the boxes over the scene (PNG)."),
    tile: int | None = typer.Option(None, "--tile", min=32, help="Tile size in pixels (default: the model's)."),
    overlap: int = typer.Option(64, "--overlap", min=0, help="Overlap of neighbouring tiles in pixels."),
    batch: int = typer.Option(4, "--batch", min=1, help="Tiles per batch."),
    bands: str | None = typer.Option(None, "--bands", help=BANDS_HELP),
    device: str = DEVICE,
    threads: int | None = typer.Option(None, "--threads", min=1, help="torch CPU threads (default: all available)."),
    quiet: bool = QUIET,
) -> None:
    """Detect objects (horizontal or oriented boxes) in a scene of any size, as polygons in the scene's CRS."""
    set_quiet(quiet)
    check_device(device)
    check_score(score)
    if not scene.exists():
        raise InputNotFoundError(f"no such file or folder: {scene}")
    # deferred: torch takes seconds to import, and the checks above answer a mistake without it
    from rsvision.io import open_scene
    from rsvision.models.device import pick_device
    from rsvision.workflows import detect

    detect.check_detect_outputs(output, format, preview)
    opened = open_scene(scene)
    names = split_names(classes)
    open_vocabulary = detect.is_open_vocabulary(model, names)
    with torch_threads(threads):
        if open_vocabulary:
            predictor = detect.open_vocabulary_detector(opened, names, score=score, device=pick_device(device))
            note = "open vocabulary: windows labelled by the dual encoder"
            names = None  # the predictor's classes are the named ones
        else:
            predictor, note = detect.load_detector(
                model, opened, bands=split_names(bands), score=score, tile=tile, device=pick_device(device)
            )
        result = detect.detect_scene(
            opened,
            predictor,
            output,
            format=format,
            preview=preview,
            score=score,
            classes=names,
            tile=tile,
            overlap=overlap,
            batch=batch,
            threads=threads,
            quiet=quiet,
        )
    if note:
        say(f"note: {note}")
    written = ", ".join(str(p) for p in (result.output, result.preview) if p is not None)
    say(f"{result.describe()} -> {written}")
    say(result.summary)
