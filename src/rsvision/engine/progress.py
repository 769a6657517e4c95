"""Progress bar (tiles, MPix/s, ETA) and the summary line of a run, on stderr with rich."""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from collections.abc import Iterator

from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from rsvision.core.progress import plural, progress_bar
from rsvision.core.settings import block_cache_bytes


def peak_rss_mb() -> float:
    """This process's own peak resident memory so far, in MB: Linux's ``VmHWM``, elsewhere ``getrusage``.

    Linux's ``ru_maxrss`` also keeps the peak of the process this one was started from (exec carries it over), so
    a command started by a large Python process (a benchmark, a test) would report its parent's peak as its own.
    """
    with contextlib.suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
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
        return Text(f"{rate:.3g} MPix/s", style="progress.data.speed")  # 3 figures: slow runs too


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
            f" {self.mpix_per_s():.3g} MPix/s, peak memory {peak_rss_mb():.0f} MB" + (f" -> {output}" if output else "")
        )


class Timeline:
    """Where a run's time went: seconds per phase on the run's own thread (waiting for reads, predicting, merging
    tiles, writing strips, checkpoints, finishing the outputs), the seconds the reader threads spent reading, and
    the most of GDAL's block cache in use at the end of a tile row. Timing a phase costs about a microsecond."""

    PHASES = ("read_wait", "predict", "merge", "write", "checkpoint", "finish")

    def __init__(self):
        self.seconds = dict.fromkeys(self.PHASES, 0.0)
        self.read_threads_s = 0.0
        self.checkpoints = 0
        self.cache_peak_bytes = self.cache_limit_bytes = 0

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t

    def sample_cache(self) -> None:
        cache = block_cache_bytes()
        if cache is not None:
            self.cache_peak_bytes = max(self.cache_peak_bytes, cache[0])
            self.cache_limit_bytes = cache[1]

    def as_dict(self) -> dict[str, float]:
        """Seconds per phase (``*_s``), the reader threads' seconds, the block cache's peak and limit in MB."""
        return {
            **{f"{k}_s": round(v, 3) for k, v in self.seconds.items()},
            "read_threads_s": round(self.read_threads_s, 3),
            "checkpoints": self.checkpoints,
            "block_cache_peak_mb": round(self.cache_peak_bytes / 2**20, 1),
            "block_cache_limit_mb": round(self.cache_limit_bytes / 2**20, 1),
        }
