"""Progress bar (tiles, MPix/s, ETA) and the summary line of a run, on stderr with rich."""

from __future__ import annotations

import resource
import sys
import time

from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from rsvision.core.progress import plural, progress_bar


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (``getrusage``; kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


class _RateColumn(ProgressColumn):
    """Scene megapixels per second since this session started (resumed tiles not counted)."""

    def __init__(self, pixels_per_tile: float):
        super().__init__()
        self.pixels_per_tile = pixels_per_tile

    def render(self, task) -> Text:
        done = task.completed - task.fields.get("resumed_at", 0)
        elapsed = task.elapsed or 0.0
        rate = done * self.pixels_per_tile / elapsed / 1e6 if elapsed > 0 else 0.0
        return Text(f"{rate:.2f} MPix/s", style="progress.data.speed")


class RunProgress:
    """Counts tiles; draws a bar on a terminal unless ``quiet``; :meth:`summary` gives the closing line (the
    caller prints it: the library itself never prints)."""

    def __init__(self, total: int, scene_pixels: int, label: str, quiet: bool = False, done: int = 0):
        self.total, self.done, self.start_done = total, done, done
        self.pixels_per_tile = scene_pixels / max(total, 1)
        self.quiet = quiet
        self.t0 = time.perf_counter()
        self._progress = progress_bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("tiles"),
            _RateColumn(self.pixels_per_tile),
            TimeRemainingColumn(),
            enabled=not quiet,
        )
        self._task = self._progress.add_task(label, total=total, completed=done, resumed_at=done)

    def __enter__(self) -> RunProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._progress.update(self._task, completed=self.done)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.t0

    def mpix_per_s(self) -> float:
        return (self.done - self.start_done) * self.pixels_per_tile / max(self.seconds, 1e-9) / 1e6

    def summary(self, output: str | None, skipped: int) -> str:
        resumed = f", resumed at tile {self.start_done}" if self.start_done else ""
        return (
            f"{plural(self.done, 'tile')} ({skipped} nodata{resumed}) in {self.seconds:.1f} s,"
            f" {self.mpix_per_s():.2f} MPix/s, peak memory {peak_rss_mb():.0f} MB" + (f" -> {output}" if output else "")
        )
