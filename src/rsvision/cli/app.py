"""The Typer application every command registers on, and what all commands share: ``-q/--quiet``, the lines
they print on stderr, ``--version``, and how warnings are shown."""

from __future__ import annotations

import typer
from rich.console import Console

from rsvision import __version__
from rsvision.errors import RsvisionError

app = typer.Typer(
    name="rsvision",
    help="Remote-sensing imagery to answers, at any size.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)
_state = {"quiet": False}

QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars, warnings or summary lines.")
DEVICE = typer.Option("auto", "--device", help="auto (CUDA when torch sees a GPU), cpu or cuda.")
SCALES = typer.Option(
    None, "--scales", help="Segmentation: also run each tile resampled by these factors and average (0.75,1,1.25)."
)


def parse_scales(text: str | None) -> tuple[float, ...] | None:
    """``--scales 0.75,1,1.25`` as factors (None when not given); a clear error for anything else."""
    if text is None:
        return None
    try:
        return tuple(float(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise RsvisionError(f"--scales {text!r}: give factors separated by commas, such as 0.75,1,1.25") from None


def set_quiet(quiet: bool) -> None:
    """Called first by every command with its ``-q`` flag."""
    _state["quiet"] = quiet


def say(line: str) -> None:
    """A summary or status line on stderr, unless ``-q``."""
    if not _state["quiet"]:
        err_console.print(line, highlight=False, markup=False, soft_wrap=True)


def report(line: str) -> None:
    """A line on stderr that ``-q`` keeps: an input that was skipped, an outcome that is a failure."""
    err_console.print(line, highlight=False, markup=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        print(f"rsvision {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Remote-sensing imagery to answers, at any size: georeferenced in, georeferenced out."""


def show_warning(message, category, filename, lineno, file=None, line=None):
    if not _state["quiet"]:
        err_console.print(f"[yellow]warning:[/yellow] {message}", highlight=False, markup=True, soft_wrap=True)
