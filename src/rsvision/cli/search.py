"""`rsvision index INPUT... -o INDEX` and `rsvision search (INDEX | SCENE) ("text" | --image EX.jpg) [-k 10]
[-o HITS.gpkg] [--json]`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rsvision.cli.app import DEVICE, QUIET, app, say, set_quiet
from rsvision.core.settings import check_device, torch_threads
from rsvision.errors import InputNotFoundError, RsvisionError

MODEL_HELP = "A dual encoder (NAME.safetensors, a built-in name or openclip:ARCH:PATH); default: the built-in one."
THREADS = typer.Option(None, "--threads", min=1, help="torch CPU threads (default: all available).")


def parse_sizes(text: str) -> list[int]:
    """``"256,1024"`` -> ``[256, 1024]``, refused in one line unless every size is a whole number of 32 or more."""
    try:
        sizes = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        raise RsvisionError(f"--tile-sizes takes whole numbers separated by commas, got {text!r}") from None
    if not sizes or sizes[0] < 32:
        raise RsvisionError(f"--tile-sizes must name sizes of 32 pixels or more, got {text!r}")
    return sizes


def _embedder(model: str | None, device: str, needed_by: str):
    from rsvision.models.device import pick_device
    from rsvision.models.embedder import load_embedder

    return load_embedder(model, needed_by=needed_by, device=pick_device(device))


@app.command("index")
def index_command(
    inputs: list[Path] = typer.Argument(..., help="Image files, image folders (recursively) and scenes to tile."),
    output: Path = typer.Option(..., "-o", "--output", help="The index folder (created, or grown when it exists)."),
    model: str | None = typer.Option(None, "-m", "--model", help=MODEL_HELP),
    tile_sizes: str = typer.Option("256,1024", "--tile-sizes", help="Scene tile sizes in pixels, comma-separated."),
    overlap: float = typer.Option(0.25, "--overlap", min=0.0, max=0.75, help="Share of a tile its neighbours overlap."),
    device: str = DEVICE,
    threads: int | None = THREADS,
    quiet: bool = QUIET,
) -> None:
    """Embed images and scene tiles into a search index; rerun to add inputs or resume a killed run."""
    set_quiet(quiet)
    check_device(device)
    sizes = parse_sizes(tile_sizes)
    for path in inputs:
        if not path.exists():
            raise InputNotFoundError(f"no such file or folder: {path}")
    from rsvision.workflows.search import build_index  # deferred: torch takes seconds to import

    with torch_threads(threads):
        result = build_index(
            inputs, _embedder(model, device, "index"), output, tile_sizes=sizes, overlap=overlap, progress=not quiet
        )
    for source, reason in result.failures:
        say(f"skipped {source}: {reason}")
    say(result.summary)


@app.command("search")
def search_command(
    target: Path = typer.Argument(..., help="An index folder (rsvision index), or a scene to search directly."),
    text: str | None = typer.Argument(None, help="What to look for, in words."),
    image: Path | None = typer.Option(None, "--image", help="Search by example: an image like what you want."),
    k: int = typer.Option(10, "-k", min=1, help="Number of hits."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write hit footprints (.gpkg, .geojson)."),
    as_json: bool = typer.Option(False, "--json", help="Print the hits as JSON on stdout."),
    model: str | None = typer.Option(None, "-m", "--model", help=MODEL_HELP),
    coarse: int = typer.Option(1024, "--coarse", min=32, help="Scene search: first-pass tile size in pixels."),
    fine: int = typer.Option(256, "--fine", min=32, help="Scene search: second-pass tile size in pixels."),
    device: str = DEVICE,
    threads: int | None = THREADS,
    quiet: bool = QUIET,
) -> None:
    """Rank an index's entries (or a scene's regions) against a sentence or an example image."""
    set_quiet(quiet)
    check_device(device)
    if (text is None) == (image is None):
        raise RsvisionError('give a text query ("a bridge over a river") or --image EXAMPLE, not both')
    if not target.exists():
        raise InputNotFoundError(f"no such index folder or scene: {target}")
    if image is not None and not image.is_file():
        raise InputNotFoundError(f"no such image: {image}")
    from rsvision.core.files import check_writable
    from rsvision.workflows import search

    if output is not None:
        check_writable(output)
    with torch_threads(threads):
        embedder = _embedder(model, device, "search")
        query = search.embed_query(embedder, text, image)
        if target.is_dir():
            hits = search.search_index(target, embedder, query, k)
        else:
            hits = search.search_scene(target, embedder, query, k, coarse=coarse, fine=fine).hits
    if output is not None:
        search.write_hits(output, hits)
    if as_json:
        print(json.dumps({"query": text if text is not None else str(image), "hits": [h.as_json() for h in hits]}))
    else:
        for hit in hits:
            col, row, width, height = hit.entry.window
            print(
                f"{hit.rank}\t{hit.score:.4f}\t{hit.entry.source}\t{hit.entry.tile_size}\t{col},{row},{width},{height}"
            )
    say(f"{len(hits)} hits" + (f" -> {output}" if output else ""))
