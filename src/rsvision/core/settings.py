"""Scoped settings: each changes process-wide state only inside a ``with`` block and restores it after, so a
library call never leaves the caller's torch threads or GDAL's block cache changed."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

import rasterio.env


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
    """GDAL's block cache limit, lowered while runs read and set back after the last one: runs on several threads
    at once (``run_many``) share one setting, counted under a lock."""

    def __init__(self):
        self.lock, self.users, self.before = threading.Lock(), 0, 0

    def enter(self, nbytes: int) -> None:
        with self.lock:
            if self.users == 0:
                self.before = rasterio.env.get_gdal_config("GDAL_CACHEMAX")  # bytes: GDALGetCacheMax64
                rasterio.env.set_gdal_config("GDAL_CACHEMAX", nbytes)  # GDALSetCacheMax64: drops blocks past it
            self.users += 1

    def exit(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0:
                rasterio.env.set_gdal_config("GDAL_CACHEMAX", self.before)


_block_cache = _BlockCache()


def _cache_set_by_user() -> bool:
    """Whether the user chose the cache size: the GDAL_CACHEMAX environment variable, or a ``rasterio.Env`` with
    it around the run."""
    if "GDAL_CACHEMAX" in os.environ:
        return True
    return rasterio.env.hasenv() and any(k.upper() == "GDAL_CACHEMAX" for k in rasterio.env.getenv())


@contextlib.contextmanager
def bounded_block_cache(mb: int = 64) -> Iterator[None]:
    """GDAL's block cache at most ``mb`` MB inside the block, then back to what it was; a size the user set wins.

    64 MB keeps the blocks that neighbouring tiles of a row share (two tiles of 13-band uint16 in 512-pixel blocks);
    a cache that kept the blocks of a whole tile row for the next row would grow with the scene's width. The limit
    is GDAL's one process-wide setting (``GDALSetCacheMax64``, which rasterio calls for ``GDAL_CACHEMAX``), so it
    governs the reader threads too, and any other GDAL reads of the process while a run lasts. A config option
    would not do: GDAL reads ``GDAL_CACHEMAX`` once, when the cache is first used, and ``rasterio.Env`` sets it
    back only as the outermost environment of its thread.
    """
    if _cache_set_by_user():
        yield
        return
    _block_cache.enter(mb * 2**20)
    try:
        yield
    finally:
        _block_cache.exit()
