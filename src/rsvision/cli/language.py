"""`rsvision caption INPUT [--json]`, `rsvision ask INPUT "question" [--json]` and `rsvision ground INPUT "phrase"
[--json] [-o OUT.gpkg]`: imagery answered in words."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rsvision.cli.app import DEVICE, QUIET, app, report, say, set_quiet
from rsvision.cli.search import THREADS
from rsvision.core.settings import check_device, torch_threads
from rsvision.errors import InputNotFoundError, RsvisionError


def _check_input(path: Path) -> None:
    """An image, a raster or a folder of band files (as ``open_scene`` reads them) must exist."""
    if not path.exists():
        raise InputNotFoundError(f"no such image or scene: {path}")


@app.command("caption")
def caption_command(
    input: Path = typer.Argument(..., help="A photo, a chip, a scene of any size or a folder of band files."),
    model: str | None = typer.Option(None, "-m", "--model", help="A captioner; default: the built-in one."),
    region: int = typer.Option(512, "--region", min=32, help="Scenes: side of the regions captioned one by one (px)."),
    as_json: bool = typer.Option(False, "--json", help="Print the caption (and each region's) as JSON on stdout."),
    device: str = DEVICE,
    threads: int | None = THREADS,
    quiet: bool = QUIET,
) -> None:
    """Describe an image in a sentence; a large scene region by region, and as a whole."""
    set_quiet(quiet)
    check_device(device)
    _check_input(input)
    from rsvision.models.device import pick_device  # deferred: torch takes seconds to import
    from rsvision.tasks.captioning import load_captioner
    from rsvision.workflows.caption import caption_input

    with torch_threads(threads):
        captioner = load_captioner(model, "caption", pick_device(device))
        result = caption_input(input, captioner, region=region, progress=not quiet)
    if as_json:
        print(json.dumps(result.as_json()))
    else:
        for r in result.regions:
            col, row, width, height = r.window
            print(f"{col},{row},{width},{height}\t{r.caption}")
        print(result.caption)
    regions = f" in {len(result.regions)} regions" if result.regions else ""
    say(f"captioned {input.name}{regions} ({result.model})")


@app.command("ask")
def ask_command(
    input: Path = typer.Argument(..., help="A photo, a chip, a scene of any size or a folder of band files."),
    question: str = typer.Argument(..., help='The question, e.g. "is there water?", "how many trees are there?".'),
    before: Path | None = typer.Option(None, "--before", help="The earlier date, for change questions."),
    as_json: bool = typer.Option(False, "--json", help="Print {question, type, answer, evidence} as JSON on stdout."),
    device: str = DEVICE,
    threads: int | None = THREADS,
    quiet: bool = QUIET,
) -> None:
    """Answer a question about an image from the toolkit's own models, with the evidence behind the answer.
    Exit code 0 also for "cannot answer" (the reason is printed); 2 for bad input."""
    set_quiet(quiet)
    check_device(device)
    _check_input(input)
    if before is not None:
        _check_input(before)
    from rsvision.models.device import pick_device  # deferred: torch takes seconds to import
    from rsvision.workflows.ask import ask

    with torch_threads(threads):
        result = ask(input, question, before=before, device=pick_device(device))
    if as_json:
        print(json.dumps(result.as_json()))
    else:
        print(result.answer)
        for e in result.evidence:
            say(f"  {e.model}: {e.fact} = {json.dumps(e.value)}")
    if result.reason:
        report(result.reason)


@app.command("ground")
def ground_command(
    input: Path = typer.Argument(..., help="A photo, a chip, a scene of any size or a folder of band files."),
    phrase: str = typer.Argument(..., help='What to find, e.g. "the largest tree", "the water on the left".'),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the box's polygon (.gpkg, .geojson)."),
    as_json: bool = typer.Option(False, "--json", help="Print {phrase, box, score, polygon} as JSON on stdout."),
    device: str = DEVICE,
    threads: int | None = THREADS,
    quiet: bool = QUIET,
) -> None:
    """Find the one object a phrase refers to: its box in pixels and its polygon in map coordinates.
    Exit code 0 also when nothing matches (the reason is printed); 2 for bad input."""
    set_quiet(quiet)
    check_device(device)
    _check_input(input)
    if not phrase.strip():
        raise RsvisionError("the phrase is empty: say what to find, e.g. 'the largest tree'")
    from rsvision.core.files import check_writable

    if output is not None:
        check_writable(output)
    from rsvision.models.device import pick_device  # deferred: torch takes seconds to import
    from rsvision.workflows.ground import ground

    with torch_threads(threads):
        result = ground(input, phrase, output, device=pick_device(device))
    if as_json:
        print(json.dumps(result.as_json()))
    elif result.box is not None:
        print(" ".join(f"{v:g}" for v in result.box) + f"\t{result.score}\t{result.source}")
    if result.reason:
        report(result.reason)
    else:
        say(f"found by {result.source}" + (f" -> {output}" if output else ""))
