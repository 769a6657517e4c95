"""`rsvision classify FOLDER -o OUT.csv` (one class per image) and `rsvision classify SCENE -o OUT.tif
[--vector OUT.gpkg] [--preview OUT.png]` (one class per tile of a scene); with `--zero-shot "a,b,c"` or
`--zero-shot-file CLASSES.txt`, by a dual encoder over those classes instead of a trained classifier."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from rsvision.cli.app import DEVICE, QUIET, app, report, say, set_quiet
from rsvision.core.files import check_writable
from rsvision.core.progress import plural
from rsvision.core.settings import check_device, torch_threads
from rsvision.datasets.base import IMAGE_SUFFIXES
from rsvision.datasets.folder import is_band_folder, list_folder_images
from rsvision.errors import InputNotFoundError, OutputError
from rsvision.io.writers import check_scene_outputs
from rsvision.tasks.zero_shot import zero_shot_classes


def _bands(text: str | None) -> list[str] | None:
    return [b.strip() for b in text.split(",") if b.strip()] if text else None


def _is_images(source: Path, output: Path) -> bool:
    """Whether ``source`` is classified image by image (a folder of images, or one image into a CSV) rather than
    tile by tile (a raster file, or a folder of one scene's band files)."""
    if source.is_file():
        return output.suffix.lower() == ".csv"
    if is_band_folder(source):
        return False
    scenes = sorted(d.name for d in source.iterdir() if d.is_dir() and is_band_folder(d))
    if scenes:
        raise InputNotFoundError(
            f"{source} holds the band folders of {plural(len(scenes), 'scene')} "
            f"({', '.join(scenes[:4])}); classify one of them, e.g. {source / scenes[0]}"
        )
    if not list_folder_images(source):
        raise InputNotFoundError(
            f"{source}: no images ({', '.join(IMAGE_SUFFIXES)}) in it or its subfolders, and "
            "no band files of a scene (..._B02.tif)"
        )
    return True


def _check_outputs(images: bool, output: Path, vector: Path | None, preview: Path | None, split: str | None) -> None:
    suffix = output.suffix.lower()
    if images and suffix != ".csv":
        raise OutputError(
            f"cannot write {output}: images of a folder are classified into a CSV (-o OUT.csv); "
            "a class-map GeoTIFF is made for a scene (a raster file or a folder of band files)"
        )
    if images and (vector is not None or preview is not None):
        raise OutputError("--vector and --preview apply to scenes; images of a folder go to the CSV only")
    if not images and split is not None:
        raise OutputError("--split and --split-file apply to folders of images, not to a scene")
    if images:
        check_writable(output)
    else:
        check_scene_outputs(output, vector, preview)


@app.command("classify")
def classify_command(
    source: Path = typer.Argument(
        ...,
        metavar="FOLDER_OR_SCENE",
        help="A folder of images (searched recursively) -> CSV; or a scene: a raster "
        "file (a large image) or a folder of band files -> tile class map. A single image file with -o OUT.csv is "
        "classified whole.",
    ),
    output: Path = typer.Option(..., "-o", "--output", help="OUT.csv for images, OUT.tif (class-map COG) for a scene."),
    model: str | None = typer.Option(
        None,
        "-m",
        "--model",
        help="A name of `rsvision models`, a NAME.safetensors file, or timm:NAME:PATH. With --zero-shot: a dual "
        "encoder (default: the built-in one), e.g. openclip:ViT-B-32:RemoteCLIP-ViT-B-32.pt.",
    ),
    zero_shot: str | None = typer.Option(
        None,
        "--zero-shot",
        help='Classify into these classes, comma-separated ("airport,forest,river"), by the image-text '
        "similarity of a dual encoder: no training needed.",
    ),
    zero_shot_file: Path | None = typer.Option(
        None, "--zero-shot-file", help="As --zero-shot, the classes one per line (blank lines and # comments skipped)."
    ),
    vector: Path | None = typer.Option(
        None,
        "--vector",
        help="Scenes: also write the tiles as polygons with class and score (.gpkg, .geojson, .parquet).",
    ),
    preview: Path | None = typer.Option(
        None, "--preview", help="Scenes: also draw the class map over the scene, with a legend (PNG)."
    ),
    split: str | None = typer.Option(
        None,
        "--split",
        help="Folders: classify only this split of the dataset (AID: rsicd-train, rsicd-test), "
        "as `rsvision eval --split` scores it.",
    ),
    split_file: Path | None = typer.Option(None, "--split-file", help="Folders: a file listing the images."),
    tta: bool = typer.Option(False, "--tta", help="Average the 8 flips and quarter turns of each image or tile."),
    batch: int = typer.Option(32, "--batch", min=1, help="Images (or tiles) per batch."),
    tile: int | None = typer.Option(
        None, "--tile", min=2, help="Scenes: tile size in pixels (default: from the model's input size and GSD)."
    ),
    bands: str | None = typer.Option(
        None, "--bands", help="Names of the input's bands in order, comma-separated (e.g. red,green,blue,nir)."
    ),
    threads: int | None = typer.Option(None, "--threads", min=1, help="torch CPU threads (default: all available)."),
    device: str = DEVICE,
    quiet: bool = QUIET,
) -> None:
    """Classify each image of a folder, or each tile of a scene, with a scene classifier (AID by default).

    With --zero-shot or --zero-shot-file, the classes are the names given, scored by a dual encoder (-m) as the
    cosine similarity of the image to each class's prompts ("an aerial photo of a {}." ...).

    Images the model cannot take are reported one per line and skipped; the exit code is 0 when at least one
    image was classified, 2 when none was.
    """
    set_quiet(quiet)
    check_device(device)
    if not source.exists():
        raise InputNotFoundError(f"no such file or folder: {source}")
    images = _is_images(source, output)
    if split_file is not None and not split_file.is_file():
        raise InputNotFoundError(f"no such split file: {split_file}")
    _check_outputs(images, output, vector, preview, split or (str(split_file) if split_file else None))
    classes = zero_shot_classes(zero_shot, zero_shot_file) if (zero_shot, zero_shot_file) != (None, None) else None
    # deferred: torch takes seconds to import, and the checks above answer a mistake without it
    from rsvision.bench import open_task_dataset
    from rsvision.models.device import pick_device
    from rsvision.workflows.classify import classify_folder, classify_scene

    with torch_threads(threads):
        classifier = _classifier(model, classes, _bands(bands) if images else None, pick_device(device))
        if images:
            inputs = (
                open_task_dataset("classification", source, None, split, split_file)
                if (split or split_file)
                else source
            )
            folder = classify_folder(inputs, classifier, output, batch_size=batch, tta=tta, progress=not quiet)
            _report_images(folder, output)
            return
        result = classify_scene(
            source,
            classifier,
            output,
            vector=vector,
            preview=preview,
            tile=tile,
            batch=batch,
            tta=tta,
            bands=_bands(bands),
            threads=threads,
            quiet=quiet,
        )
    if result.note:
        say(f"note: {result.note}")
    shown = ", ".join(f"{name} {n}" for name, n in list(result.counts.items())[:8])
    more = f", ... ({len(result.counts)} classes)" if len(result.counts) > 8 else ""
    outputs = ", ".join(str(p) for p in (result.class_map, result.vector, result.preview) if p is not None)
    done = result.tiles - result.skipped
    say(
        f"{plural(done, 'tile')} of {result.tile_size} px classified ({result.skipped} nodata): {shown}{more} "
        f"-> {outputs}"
    )


def _classifier(model: str | None, classes: list[str] | None, bands: list[str] | None, device: str):
    """The trained classifier ``-m`` names, or with ``classes`` the zero-shot one of the dual encoder it names."""
    from rsvision.models.classifier import load_classifier  # deferred: torch (see classify_command)
    from rsvision.models.embedder import load_embedder
    from rsvision.models.zero_shot import zero_shot_classifier

    if classes is None:
        return load_classifier(model, bands=bands, device=device)
    embedder = load_embedder(model, needed_by="classify --zero-shot", device=device)
    return zero_shot_classifier(embedder, classes, bands=bands)


def _report_images(result, output: Path) -> None:
    """The skipped images, one per line, and the summary of :func:`classify_folder`; exit 2 when none was
    classified."""
    for image, reason in result.failures:  # reasons name the file; say which one when one does not
        line = reason if Path(image).name in reason else f"{image}: {reason}"
        report(f"skipped: {line}")
    total = result.classified + len(result.failures)
    where = f" -> {output}" if result.classified else " (no CSV written)"
    (say if result.classified else report)(
        f"classified {result.classified} of {plural(total, 'image')}, {len(result.failures)} failed{where}"
    )
    if not result.classified:
        sys.exit(2)
