"""Progress bars on stderr that draw only on a terminal: piped or logged output gets no bar and no blank
lines, only the summary lines the commands print."""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress, ProgressColumn


def stderr_console() -> Console:
    return Console(stderr=True)


def progress_bar(*columns: str | ProgressColumn, enabled: bool = True, console: Console | None = None) -> Progress:
    """A transient rich ``Progress`` on stderr, disabled unless ``enabled`` and stderr is a terminal."""
    console = console or stderr_console()
    return Progress(*columns, console=console, disable=not enabled or not console.is_terminal, transient=True)


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 band``, ``2 bands``: a count with its noun in the right number."""
    return f"{n:,} {noun if n == 1 else nouns or noun + 's'}"
