"""`rsvision classify FOLDER -o OUT.csv` (one class per image) and `rsvision classify SCENE -o OUT.tif
[--vector OUT.gpkg]` (one class per tile of a scene)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from rsvision.cli import app


def _bands(text: str | None) -> list[str] | None:
    return [b.strip() for b in text.split(",") if b.strip()] if text else None


@app.command("classify")
def classify_command(
    source: Path = typer.Argument(
        ..., metavar="FOLDER_OR_SCENE", help="A folder of images (searched recursively) -> CSV; or a scene: a raster file (a large image) or a "
        "folder of band files -> tile class map. A single image file with -o OUT.csv is classified whole."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="OUT.csv for images, OUT.tif (class-map COG) for a scene."),
    model: Optional[str] = typer.Option(
        None, "-m", "--model", help="A name of `rsvision models`, a NAME.safetensors file, or timm:NAME:PATH."
    ),
    vector: Optional[Path] = typer.Option(
        None, "--vector",
        help="Scenes: also write the tiles as polygons with class and score (.gpkg, .geojson, .parquet).",
    ),
    preview: Optional[Path] = typer.Option(
        None, "--preview", help="Scenes: also draw the class map over the scene, with a legend (PNG)."
    ),
    tta: bool = typer.Option(False, "--tta", help="Average the 8 flips and quarter turns of each image or tile."),
    batch: int = typer.Option(32, "--batch", min=1, help="Images (or tiles) per batch."),
    tile: Optional[int] = typer.Option(
        None, "--tile", min=2, help="Scenes: tile size in pixels (default: from the model's input size and GSD)."
    ),
    bands: Optional[str] = typer.Option(
        None, "--bands", help="Names of the input's bands in order, comma-separated (e.g. red,green,blue,nir)."
    ),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="torch CPU threads (default: all available)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Classify each image of a folder, or each tile of a scene, with a scene classifier (AID by default).

    Images the model cannot take are reported one per line and skipped; the exit code is 0 when at least one
    image was classified, 2 when none was.
    """
    from rsvision.errors import InputNotFoundError, OutputError
    from rsvision.io.writers import check_writable
    from rsvision.models.classifier import load_classifier
    from rsvision.tasks.classification import classify_folder, classify_scene, is_image_folder

    if not source.exists():
        raise InputNotFoundError(f"no such file or folder: {source}")
    suffix = output.suffix.lower()
    whole_images = (source.is_dir() and is_image_folder(source)) or (source.is_file() and suffix == ".csv")
    if whole_images and suffix != ".csv":
        raise OutputError(f"cannot write {output}: images are classified into a CSV (-o OUT.csv)")
    if whole_images and (vector is not None or preview is not None):
        raise OutputError("--vector and --preview apply to scenes; images of a folder go to the CSV only")
    if not whole_images and suffix not in (".tif", ".tiff"):
        raise OutputError(f"cannot write {output}: a scene's tile classes go to a class-map GeoTIFF (-o OUT.tif)")
    if preview is not None:
        check_writable(preview)
    err = Console(stderr=True)
    if threads:
        import torch

        torch.set_num_threads(threads)
    classifier = load_classifier(model, bands=_bands(bands) if whole_images else None)
    if whole_images:
        result = classify_folder(source, classifier, output, batch_size=batch, tta=tta, progress=not quiet)
        for image, reason in result.failures:  # reasons name the file; say which one when one does not
            line = reason if Path(image).name in reason else f"{image}: {reason}"
            err.print(f"skipped: {line}", highlight=False, markup=False, soft_wrap=True)
        total = result.classified + len(result.failures)
        where = f" -> {output}" if result.classified else " (no CSV written)"
        err.print(f"classified {result.classified} of {total} images, {len(result.failures)} failed{where}",
                  highlight=False, markup=False, soft_wrap=True)
        if not result.classified:
            sys.exit(2)
        return
    result = classify_scene(source, classifier, output, vector=vector, tile=tile, batch=batch, tta=tta,
                            bands=_bands(bands), threads=threads, quiet=quiet)
    shown = ", ".join(f"{name} {n}" for name, n in list(result.counts.items())[:8])
    more = f", ... ({len(result.counts)} classes)" if len(result.counts) > 8 else ""
    if preview is not None:
        from rsvision.bench.plots import class_map_preview

        class_map_preview(source, result.class_map, preview)
    written = [result.class_map, result.vector, preview]
    outputs = ", ".join(str(p) for p in written if p is not None)
    err.print(f"{result.tiles - result.skipped} tiles of {result.tile_size} px classified ({result.skipped} nodata): "
              f"{shown}{more} -> {outputs}", highlight=False, markup=False, soft_wrap=True)
