"""The `rsvision` command. Business logic lives in the library; these modules parse and print.

Commands check their arguments and inputs before they import torch (about 3 s), so a mistake is answered at
once. Every command takes ``-q/--quiet``: no progress bars, warnings or summary lines, only results, the inputs that
were skipped, and errors.
"""

from __future__ import annotations

import sys
import warnings

from rsvision.cli import (  # noqa: F401  (each registers its command on app)
    batch,
    change,
    classify,
    count,
    detect,
    eval,
    info,
    language,
    models,
    search,
    segment,
    spectral,
    train,
)
from rsvision.cli.app import app, err_console, set_quiet, show_warning
from rsvision.errors import AnnotationWarning, NotGeoreferencedWarning, RsvisionError


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command; an RsvisionError prints one line and exits with its code (2)."""
    set_quiet(False)
    with warnings.catch_warnings():  # restores the caller's warning display when the command ends
        warnings.showwarning = show_warning
        warnings.simplefilter("once", NotGeoreferencedWarning)  # once per scene, however often it is opened
        warnings.simplefilter("once", AnnotationWarning)  # once per file, however often a study reads it
        try:
            app(args=argv)
        except RsvisionError as err:
            err_console.print(f"error: {err}", highlight=False, markup=False, soft_wrap=True)
            sys.exit(err.exit_code)
