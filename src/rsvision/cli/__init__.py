"""The `rsvision` command. Business logic lives in the library; these modules parse and print."""

from __future__ import annotations

import sys
import warnings

import typer
from rich.console import Console

from rsvision.errors import NotGeoreferencedWarning, RsvisionError

app = typer.Typer(
    name="rsvision", help="Remote-sensing imagery to answers, at any size.", no_args_is_help=True,
    add_completion=False, pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Remote-sensing imagery to answers, at any size: georeferenced in, georeferenced out."""


def _show_warning(message, category, filename, lineno, file=None, line=None):
    err_console.print(f"[yellow]warning:[/yellow] {message}", highlight=False, markup=True, soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command; an RsvisionError prints one line and exits with its code (2)."""
    from rsvision.cli import info  # noqa: F401  (registers commands)
    from rsvision.cli import eval as _eval  # noqa: F401
    from rsvision.cli import classify  # noqa: F401
    from rsvision.cli import models  # noqa: F401
    from rsvision.cli import train  # noqa: F401

    with warnings.catch_warnings():  # restores the caller's warning display when the command ends
        warnings.showwarning = _show_warning
        warnings.simplefilter("default", NotGeoreferencedWarning)
        try:
            app(args=argv)
        except RsvisionError as err:
            err_console.print(f"error: {err}", highlight=False, markup=False, soft_wrap=True)
            sys.exit(err.exit_code)
