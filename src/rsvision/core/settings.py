"""Scoped settings: each changes process-wide state only inside a ``with`` block and restores it after, so a
library call never leaves the caller's torch threads or GDAL's block cache changed."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import rasterio.env

from rsvision.errors import RsvisionError

DEVICES = ("auto", "cpu", "cuda")


def check_device(name: str) -> str:
    """A ``--device`` name, checked without torch (whether CUDA is there is asked when a model loads)."""
    if name not in DEVICES:
        raise RsvisionError(f"--device must be auto, cpu or cuda, got {name!r}")
    return name


def available_cpus() -> int:
    """CPUs this process may run on (its affinity on Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def torch_threads(threads: int | None, inference: bool = False) -> Iterator[None]:
    """torch's intra-op threads set to ``threads`` inside the block (None: left as they are), and with
    ``inference`` torch's inference mode. Only when torch is in use: code that runs a torch model has imported it
    by then, and numpy-only work does not pay seconds for importing it."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    previous = torch.get_num_threads()
    if threads and threads != previous:
        torch.set_num_threads(threads)
    try:
        with torch.inference_mode() if inference else contextlib.nullcontext():
            yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


class _BlockCache:
    """GDAL's block cache limit, set while runs read and set back after the last one. Runs on several threads at
    once (``run_many``) each need their own share: the limit is the sum of what the runs in progress asked for,
    counted under a lock."""

    def __init__(self):
        self.lock, self.users, self.before, self.total = threading.Lock(), 0, 0, 0

    def enter(self, nbytes: int) -> None:
        with self.lock:
            if self.users == 0:
                self.before = rasterio.env.get_gdal_config("GDAL_CACHEMAX")  # bytes: GDALGetCacheMax64
            self.users += 1
            self.total += nbytes
            rasterio.env.set_gdal_config("GDAL_CACHEMAX", self.total)  # GDALSetCacheMax64: drops blocks past it

    def exit(self, nbytes: int) -> None:
        with self.lock:
            self.users -= 1
            self.total -= nbytes
            rasterio.env.set_gdal_config("GDAL_CACHEMAX", self.total if self.users else self.before)


_block_cache = _BlockCache()


def _cache_set_by_user() -> bool:
    """Whether the user chose the cache size: the GDAL_CACHEMAX environment variable, or a ``rasterio.Env`` with
    it around the run."""
    if "GDAL_CACHEMAX" in os.environ:
        return True
    return rasterio.env.hasenv() and any(k.upper() == "GDAL_CACHEMAX" for k in rasterio.env.getenv())


def memory_bytes() -> int:
    """This machine's physical memory in bytes (0 where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


@contextlib.contextmanager
def bounded_block_cache(mb: int = 64) -> Iterator[None]:
    """GDAL's block cache at most ``mb`` MB inside the block, then back to what it was; a size the user set wins.
    Blocks entered at once on several threads add up.

    The engine sizes ``mb`` from the scene's width and block size (what a tile row and the next share); a fixed
    limit would either thrash on a wide scene or let memory grow with the scene. The limit is GDAL's one
    process-wide setting (``GDALSetCacheMax64``, which rasterio calls for ``GDAL_CACHEMAX``), so it governs the
    reader threads too, and any other GDAL reads of the process while a run lasts. A config option would not do:
    GDAL reads ``GDAL_CACHEMAX`` once, when the cache is first used, and ``rasterio.Env`` sets it back only as the
    outermost environment of its thread.
    """
    if _cache_set_by_user():
        yield
        return
    nbytes = int(mb * 2**20)
    _block_cache.enter(nbytes)
    try:
        yield
    finally:
        _block_cache.exit(nbytes)


@functools.cache
def _libgdal() -> ctypes.CDLL | None:
    """The GDAL library rasterio loaded, for the calls rasterio does not wrap; None where it cannot be found. Its
    wheel bundles one, and pyogrio's another with a cache of its own: the one under rasterio's folder is ours."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:  # not Linux
        return None
    loaded = {line.split()[-1] for line in maps.splitlines() if "libgdal" in line.rsplit("/", 1)[-1]}
    paths = sorted(loaded, key=lambda path: "rasterio" not in path)  # rasterio's first, else a system GDAL
    if not paths or any("pyogrio" in path for path in paths[:1]):
        return None
    lib = ctypes.CDLL(paths[0])
    for name in ("GDALGetCacheUsed64", "GDALGetCacheMax64"):
        getattr(lib, name).restype = ctypes.c_int64
    return lib


def block_cache_bytes() -> tuple[int, int] | None:
    """GDAL's block cache: ``(bytes in use, limit)``, or None where the library cannot be reached."""
    lib = _libgdal()
    return None if lib is None else (int(lib.GDALGetCacheUsed64()), int(lib.GDALGetCacheMax64()))


# glibc's mallopt parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's ceiling on 64-bit systems


@functools.cache
def roomy_heap() -> bool:
    """Undo, in this process, a ``MALLOC_TRIM_THRESHOLD_`` set in its environment (Dask's nannies set 65,536 for
    their workers): a fixed trim threshold also freezes glibc's mmap threshold at 128 KB, so every strip and tile
    buffer is mapped afresh and page-faulted in, and a spectral-index run took 1.94 s instead of 1.36 s. Large
    blocks are then kept for reuse (the engine hands free pages back itself every few seconds). Whether it did."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return False  # glibc's own dynamic thresholds are better still: leave them be
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
        and libc.mallopt(_M_TRIM_THRESHOLD, 2 * _MMAP_THRESHOLD_MAX)
    )
