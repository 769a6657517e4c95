"""The `rsvision` command. Business logic lives in the library; these modules parse and print.

Commands check their arguments and inputs before they import torch (about 3 s), so a mistake is answered at
once. Every command takes ``-q/--quiet``: no progress bars, warnings or summary lines, only results, the inputs that
were skipped, and errors.
"""

from __future__ import annotations

import sys
import warnings

import typer
from rich.console import Console

from rsvision import __version__
from rsvision.errors import NotGeoreferencedWarning, RsvisionError

app = typer.Typer(
    name="rsvision", help="Remote-sensing imagery to answers, at any size.", no_args_is_help=True,
    add_completion=False, pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)
_state = {"quiet": False}

QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars, warnings or summary lines.")


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


def _show_warning(message, category, filename, lineno, file=None, line=None):
    if not _state["quiet"]:
        err_console.print(f"[yellow]warning:[/yellow] {message}", highlight=False, markup=True, soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command; an RsvisionError prints one line and exits with its code (2)."""
    from rsvision.cli import classify, info, models, train  # noqa: F401  (register the commands)
    from rsvision.cli import eval as _eval  # noqa: F401

    _state["quiet"] = False
    with warnings.catch_warnings():  # restores the caller's warning display when the command ends
        warnings.showwarning = _show_warning
        warnings.simplefilter("once", NotGeoreferencedWarning)  # once per scene, however often it is opened
        try:
            app(args=argv)
        except RsvisionError as err:
            err_console.print(f"error: {err}", highlight=False, markup=False, soft_wrap=True)
            sys.exit(err.exit_code)
